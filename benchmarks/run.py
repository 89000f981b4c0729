"""Benchmark mlchain against its peers, whole-process, side by side in one run.

Usage (normally through ``nox -s bench``)::

    python benchmarks/run.py [--work DIR] [--runs 5] [--only NAME ...] [--results benchmarks/RESULTS.md]

For every artifact it runs each applicable tool ``--runs`` times after one warm-up run, and reports
the median wall time, the peak RSS of the process tree's main process (``wait4`` rusage) and the ratio
to mlchain. Peers that are not installed are reported as such. Where the machine lets us drop the page
cache (root with a writable ``/proc/sys/vm/drop_caches``), a cold-cache run is added.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import artifacts

ENV = {
    **os.environ,
    # Peers must not phone home from a benchmark.
    "MODELAUDIT_TELEMETRY_DISABLED": "1",
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "NO_COLOR": "1",
}


@dataclass
class Measurement:
    tool: str
    artifact: str
    median_s: float | None
    peak_rss_mib: float | None
    note: str = ""
    cold_s: float | None = None


def _bin(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def _run_once(cmd: list[str]) -> tuple[float, float, int]:
    """Wall time, peak RSS (MiB) and exit code of one whole-process run.

    Peak RSS comes from GNU time: a child forked from this (large, torch-importing) harness would
    otherwise report the harness's own pages in its rusage.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = ["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name, *cmd]
        start = time.perf_counter()
        proc = subprocess.run(
            wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, check=False
        )
        elapsed = time.perf_counter() - start
        text = Path(rss.name).read_text().strip().splitlines()
    peak = float(text[-1]) / 1024 if text and text[-1].isdigit() else float("nan")
    return elapsed, peak, proc.returncode


def _drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def measure(tool: str, artifact: str, cmd: list[str] | None, runs: int, cold: bool) -> Measurement:
    if cmd is None:
        return Measurement(tool, artifact, None, None, "not installed")
    warm = _run_once(cmd)[0]  # warm-up (and page cache)
    times, rss, codes = [], [], set()
    # A peer that takes more than 15 s per run is measured once: the ratio is what matters.
    for _ in range(1 if warm > 15 else runs):
        elapsed, peak, code = _run_once(cmd)
        times.append(elapsed)
        rss.append(peak)
        codes.add(code)
    cold_s = None
    if cold and _drop_caches():
        cold_s = _run_once(cmd)[0]
    return Measurement(
        tool,
        artifact,
        statistics.median(times),
        max(rss),
        f"exit {sorted(codes)}",
        cold_s,
    )


def commands(name: str, path: Path, work: Path) -> dict[str, list[str] | None]:
    mlchain = _bin("mlchain")
    scan = [mlchain, "scan", "-f", "json", "--fail-on", "never", str(path)] if mlchain else None
    picklescan = _bin("picklescan")
    modelscan = _bin("modelscan")
    modelaudit = _bin("modelaudit")
    cmds: dict[str, list[str] | None] = {"mlchain scan": scan}
    if name.startswith(("torch", "pickles")):
        cmds["picklescan"] = [picklescan, "-p", str(path)] if picklescan else None
    cmds["modelscan"] = [modelscan, "-p", str(path)] if modelscan else None
    cmds["modelaudit"] = [modelaudit, "scan", str(path)] if modelaudit else None
    if name in {"hf-folder-2GB", "pickles-5000"} and mlchain:
        cache = work / f"cache-{name}"
        cmds["mlchain scan --cache (warm)"] = [
            mlchain,
            "scan",
            "-f",
            "json",
            "--fail-on",
            "never",
            "--cache",
            str(cache),
            str(path),
        ]
        cmds["find -ls (listing limit)"] = ["find", str(path), "-ls"]
    if name == "hf-folder-2GB":
        files = sorted(str(p) for p in path.iterdir() if p.is_file())
        cmds["openssl dgst -sha256 (limit)"] = ["openssl", "dgst", "-sha256", *files]
        key = work / "bench-key.pem"
        if mlchain and _make_key(key):
            sig = work / "hf.sig"
            cmds["mlchain sign --key"] = [
                mlchain,
                "sign",
                "--key",
                str(key),
                "--signature",
                str(sig),
                str(path),
            ]
            cmds["mlchain verify --key"] = [
                mlchain,
                "verify",
                "--key",
                str(key.with_suffix(".pub")),
                "--signature",
                str(sig),
                str(path),
            ]
    return cmds


def _make_key(key: Path) -> bool:
    if key.exists():
        return True
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        return False
    private = ec.generate_private_key(ec.SECP256R1())
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.with_suffix(".pub").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return True


def startup(runs: int) -> list[Measurement]:
    mlchain = _bin("mlchain")
    out = []
    for args in (["--version"], ["--help"]):
        cmd = [mlchain, *args] if mlchain else None
        out.append(measure(f"mlchain {args[0]}", "(start-up)", cmd, runs, cold=False))
    return out


def render(results: list[Measurement], runs: int, cold: bool) -> str:
    lines = [
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}  ",
        f"Runs: median of {runs} after one warm-up (warm page cache)"
        + ("; cold = one run after dropping caches" if cold else "; cold cache: not possible here"),
        "",
        "| artifact | tool | median s | peak RSS MiB | x mlchain | cold s | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    base: dict[str, float] = {}
    for m in results:
        if m.tool == "mlchain scan" and m.median_s:
            base[m.artifact] = m.median_s
    for m in results:
        ratio = ""
        if m.median_s and m.artifact in base and m.tool != "mlchain scan":
            ratio = f"{m.median_s / base[m.artifact]:.1f}"
        lines.append(
            f"| {m.artifact} | {m.tool} | "
            + (f"{m.median_s:.3f}" if m.median_s is not None else "-")
            + " | "
            + (f"{m.peak_rss_mib:.0f}" if m.peak_rss_mib is not None else "-")
            + f" | {ratio} | "
            + (f"{m.cold_s:.3f}" if m.cold_s is not None else "")
            + f" | {m.note} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mlchain-bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(artifacts.GENERATORS))
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    cold = _drop_caches()
    paths = artifacts.generate(args.work, args.only)
    results = startup(args.runs)
    for name, path in paths.items():
        for tool, cmd in commands(name, path, args.work).items():
            print(f"{name}: {tool} ...", file=sys.stderr, flush=True)
            results.append(measure(tool, name, cmd, args.runs, cold))
    table = render(results, args.runs, cold)
    print(table)
    if args.results:
        args.results.write_text("# Benchmark results\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Local vs Ray executor on the same corpus: files/s, MB/s and the driver's peak RSS.

    python benchmarks/ray_scan.py [--copies 20] [--cpus 2] [--runs 2]

The corpus is ``fixtures/`` copied ``--copies`` times into a temporary folder (each copy under its
own name, so nothing is deduplicated). Each measurement runs in a fresh Python process, so the
peak RSS (``ru_maxrss``) is that one scan's driver alone; Ray's own daemons and workers are other
processes, reported separately (their summed RSS after the scan). Ray runs a private local cluster
of ``--cpus`` CPUs; "ray (start-up)" is ``ray.init`` plus the first scan (workers import mlchain),
"ray (warm)" a second scan in the same driver. Not part of the tests: run it by hand; the figures go
in docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODES = ("local-1", "local", "ray")
"""One process; the local process pool on every CPU (forced on, whatever its size thresholds); Ray."""


def _measure(mode: str, corpus: Path, cpus: int, runs: int) -> dict[str, object]:
    """Run in a child process: scan ``corpus`` with ``mode`` and report figures as JSON."""
    from mlchain.scan import scan_paths
    from mlchain.scan.base import ScanOptions

    figures: dict[str, object] = {"mode": mode}
    if mode == "ray":
        import ray

        started = time.perf_counter()
        ray.init(
            num_cpus=cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            _node_ip_address="127.0.0.1",
        )
        figures["init_s"] = time.perf_counter() - started
        options = ScanOptions(executor="ray", jobs=cpus)
    else:
        import mlchain.scan

        mlchain.scan.POOL_MIN_BYTES = 0  # the corpus is small: use the pool anyway
        options = ScanOptions(jobs=1 if mode == "local-1" else cpus)
    times = []
    report = None
    for _ in range(runs):
        started = time.perf_counter()
        report = scan_paths([corpus], options)
        times.append(time.perf_counter() - started)
    assert report is not None
    figures["times_s"] = times
    figures["files"] = len(report.results)
    figures["bytes"] = sum(r.size or 0 for r in report.results)
    figures["findings"] = len(report.findings)
    figures["driver_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if mode == "ray":
        figures["ray_processes_rss_mib"] = _children_rss_mib()
    return figures


def _children_rss_mib() -> float:
    """Summed current RSS of this process's descendants (Ray's GCS, raylet and workers)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0").strip())
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total = 0
    for pid in rss:
        ancestor = parents.get(pid, 0)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor, 0)
        if ancestor == me:
            total += rss[pid]
    return total / 1024


def _corpus(copies: int, into: Path) -> Path:
    corpus = into / "corpus"
    for i in range(copies):
        shutil.copytree(REPO / "fixtures", corpus / f"copy{i:03d}", symlinks=True)
    return corpus


def _cpus(mode: str, cpus: int) -> int:
    return 1 if mode == "local-1" else cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--measure", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure, args.corpus, args.cpus, args.runs)))
        return
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory(prefix="mlchain-ray-bench-") as tmp:
        corpus = _corpus(args.copies, Path(tmp))
        rows = []
        for mode in MODES:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--measure",
                    mode,
                    "--corpus",
                    str(corpus),
                    "--cpus",
                    str(args.cpus),
                    "--runs",
                    str(args.runs),
                ],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=tmp,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"corpus: fixtures/ x {args.copies}; {rows[0]['files']} files, "
        f"{rows[0]['bytes'] / 1e6:.1f} MB; {args.cpus} CPUs; best of {args.runs} runs\n"
    )
    print(
        "| executor | first run s | best run s | files/s | MB/s | driver peak RSS MiB | Ray processes RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        times = row["times_s"]
        best = min(times)
        first = times[0] + row.get("init_s", 0.0)
        extra = f"{row['ray_processes_rss_mib']:.0f}" if "ray_processes_rss_mib" in row else "-"
        label = {
            "local-1": "local, 1 process",
            "local": f"local, pool of {args.cpus} processes",
            "ray": f"ray, local cluster of {args.cpus} CPUs",
        }[row["mode"]]
        print(
            f"| {label} | {first:.2f} | {best:.2f} | {row['files'] / best:.0f} | "
            f"{row['bytes'] / 1e6 / best:.1f} | {row['driver_peak_rss_mib']:.0f} | {extra} |"
        )
    assert len({(r["files"], r["findings"]) for r in rows}) == 1, "executors disagree"
    print(
        "\nper-file cost (best run x CPUs used): "
        + ", ".join(
            f"{r['mode']} {min(r['times_s']) / r['files'] * 1e3 * _cpus(r['mode'], args.cpus):.2f}"
            " CPU-ms"
            for r in rows
        )
    )


if __name__ == "__main__":
    main()

"""The deploy gate's cost against one hashing pass of the model (mlchain issue #19, item 7).

Usage::

    python benchmarks/gate.py [--work DIR] [--runs 5] [--size BYTES] [--src SRC ...]

Builds the 2 GB (or ``--size`` bytes) Hugging Face-like folder of ``artifacts.py``, signs it
with a key, writes three signed attestations beside it (``<model>.mlchain/``: SLSA provenance,
CycloneDX ML-BOM, scan report) and a policy that requires all three, then times ``mlchain verify
--policy`` (the whole process: wall, user and system CPU, peak RSS) against ``openssl dgst
-sha256`` over the same files, the one-hashing-pass limit. ``--src`` runs the gate from other
source trees too (a ``git archive`` of an older commit) for before/after rows; the first is the
baseline tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import artifacts
from run import _make_key

ROOT = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int, int]:
    """Wall s, user s, sys s, peak RSS KiB and exit code of one run (GNU time)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        wrapped = ["/usr/bin/time", "-q", "-f", "%e %U %S %M", "-o", out.name, *cmd]
        proc = subprocess.run(wrapped, capture_output=True, env=env, check=False)
        wall, user, system, rss = Path(out.name).read_text().split()[-4:]
    return float(wall), float(user), float(system), int(rss), proc.returncode


def _measure(label: str, cmd: list[str], env: dict[str, str], runs: int) -> str:
    _timed(cmd, env)  # warm-up: page cache, .pyc
    rows = [_timed(cmd, env) for _ in range(runs)]
    wall = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[1] + r[2] for r in rows)
    rss = max(r[3] for r in rows) / 1024
    codes = sorted({r[4] for r in rows})
    print(
        f"{label}: wall {wall:.3f} s, cpu {cpu:.3f} s, rss {rss:.0f} MiB, exit {codes}",
        file=sys.stderr,
        flush=True,
    )
    return f"| {label} | {wall:.3f} | {cpu:.3f} | {rss:.0f} | exit {codes} |"


def _mlchain(src: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from mlchain._entry import main; sys.argv[0] = 'mlchain'; main()",
        str(src),
        *args,
    ]


def prepare(work: Path, size: int = 2_000_000_000) -> tuple[Path, Path]:
    folder = "gate-model" if size == 2_000_000_000 else f"gate-model-{size}"
    model = artifacts.hf_folder(work / folder, size)
    key = work / "gate-key.pem"
    _make_key(key)
    src = ROOT / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    if not (model / "model.sig").exists():
        subprocess.run(_mlchain(src, "sign", str(model), "--key", str(key)), env=env, check=True)
    beside = model.parent / f"{model.name}.mlchain"
    beside.mkdir(exist_ok=True)
    signed = ["--sign", "--key", str(key)]
    for name, args in {
        "provenance.json": ["provenance", str(model), "--no-git"],
        "sbom.json": ["sbom", str(model), "--attestation"],
        "scan.json": ["attest", str(model)],
    }.items():
        if not (beside / name).exists():
            subprocess.run(
                _mlchain(src, *args, *signed, "-o", str(beside / name)), env=env, check=True
            )
    policy = work / f"{folder}-policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: bench\n"
        "spec:\n  authorities:\n    - name: release\n      key:\n"
        f"        path: {key.with_suffix('.pub')}\n"
        "  attestations:\n"
        "    - type: provenance\n    - type: sbom\n    - type: scan\n"
        "  scan:\n    failOn: medium\n"
    )
    return model, policy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mlchain-bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--src", type=Path, nargs="*", default=[ROOT / "src"])
    parser.add_argument("--size", type=int, default=2_000_000_000, help="model bytes (2 GB)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model, policy = prepare(args.work, args.size)
    files = sorted(str(p) for p in model.iterdir() if p.is_file() and p.name != "model.sig")
    env = dict(os.environ)
    lines = [
        "| command | median wall s | median CPU s | peak RSS MiB | note |",
        "|---|---:|---:|---:|---|",
    ]
    lines.append(
        _measure(
            "openssl dgst -sha256 (one pass)",
            ["openssl", "dgst", "-sha256", *files],
            env,
            args.runs,
        )
    )
    for src in args.src:
        gate = _mlchain(src, "verify", str(model), "--policy", str(policy), "-f", "json")
        lines.append(_measure(f"mlchain verify --policy ({src})", gate, env, args.runs))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run every fuzz target for a fixed time and print a results table.

Usage (from the repository root, atheris installed)::

    python -m fuzz.run --seconds 60 [--jobs 2] [--only pickle zip] [--max-len 65536]

Each target runs as ``python -m fuzz.fuzz_<name>`` under libFuzzer with ``-max_total_time``,
``-rss_limit_mb=512`` and ``-timeout=10``; the seed corpus is rebuilt from the fixtures in a
temporary folder, and crash, timeout and out-of-memory inputs land in ``fuzz/crashes/<name>/``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))  # this checkout's mlchain, not an installed one

from fuzz import corpus  # noqa: E402
from fuzz.corpus import TARGETS  # noqa: E402

_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_COV = re.compile(r"cov: (\d+) ft: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass(slots=True)
class Result:
    """What one target's run reported."""

    target: str
    executions: int = 0
    exec_per_sec: int = 0
    coverage: int = 0
    features: int = 0
    crashes: list[str] | None = None
    returncode: int = 0


def run_target(target: str, seconds: int, max_len: int, work: Path, log_dir: Path) -> Result:
    """Fuzz one target for ``seconds`` and parse libFuzzer's final statistics."""
    module = importlib.import_module(f"fuzz.fuzz_{target}")
    seeds = corpus.build(module.SEEDS, work / target / "seeds")
    live = work / target / "corpus"
    live.mkdir(parents=True, exist_ok=True)
    crash_dir = HERE / "crashes" / target
    crash_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        f"fuzz.fuzz_{target}",
        f"-max_total_time={seconds}",
        "-rss_limit_mb=512",
        "-timeout=10",
        f"-max_len={max_len}",
        "-print_final_stats=1",
        f"-artifact_prefix={crash_dir}/",
        *_dictionary(module.SEEDS),
        str(live),
        str(seeds),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, errors="replace", check=False
    )
    log = proc.stdout + proc.stderr
    (log_dir / f"{target}.log").write_text(log)
    stats = {k: int(v) for k, v in _STAT.findall(log)}
    covs = _COV.findall(log)
    cov, ft = (int(covs[-1][0]), int(covs[-1][1])) if covs else (0, 0)
    return Result(
        target=target,
        executions=stats.get("number_of_executed_units", 0),
        exec_per_sec=stats.get("average_exec_per_sec", 0),
        coverage=cov,
        features=ft,
        crashes=_ARTIFACT.findall(log),
        returncode=proc.returncode,
    )


def _dictionary(seeds: str) -> list[str]:
    path = HERE / "dicts" / f"{seeds}.dict"
    return [f"-dict={path}"] if path.is_file() else []


def table(results: list[Result]) -> str:
    """A Markdown table of ``results``."""
    lines = [
        "| target | executions | exec/s | cov | features | crashes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        found = ", ".join(Path(c).name for c in r.crashes or []) or "0"
        lines.append(
            f"| {r.target} | {r.executions} | {r.exec_per_sec} | {r.coverage} | {r.features} "
            f"| {found} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 1 when any target crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="time per target")
    parser.add_argument("--jobs", type=int, default=2, help="targets run at once")
    parser.add_argument("--max-len", type=int, default=64 * 1024, help="largest input")
    parser.add_argument("--only", nargs="*", choices=TARGETS, help="targets to run")
    parser.add_argument("--logs", type=Path, default=None, help="folder for the raw logs")
    args = parser.parse_args(argv)
    targets = args.only or list(TARGETS)
    with tempfile.TemporaryDirectory(prefix="mlchain-fuzz-run-") as tmp:
        work = Path(tmp)
        log_dir = args.logs or work / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(
                pool.map(
                    lambda t: run_target(t, args.seconds, args.max_len, work, log_dir), targets
                )
            )
    print(table(results))
    return 1 if any(r.crashes for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up cost of one mlchain command: median wall and CPU time of whole-process runs.

Usage::

    python benchmarks/startup.py SRC RUNS ARGS...

``SRC`` is the source tree to run (``src`` of this checkout, or a ``git archive`` of an older
commit for a before/after row); one warm-up run (``.pyc`` files, page cache) is not counted. CPU
time (user + system of the child) is the figure to compare on a shared machine.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time


def main() -> int:
    src, runs, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    env = {**os.environ, "PYTHONPATH": src}
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mlchain", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(
        f"{src}: mlchain {' '.join(args)}: wall median {statistics.median(walls[1:]):.3f} s, "
        f"CPU median {statistics.median(cpus[1:]):.3f} s ({runs} runs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How many CPUs this process may really use: affinity *and* the cgroup CPU quota.

``os.cpu_count()`` reports the node's cores: in a 1-CPU Kubernetes pod on a 64-core node it says
64, and a pool that size thrashes. The usable count is the smallest of the CPU affinity mask and
the CFS quota of every cgroup on the way up (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``), rounded up, at least 1.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path


def usable_cpus(root: Path = Path("/")) -> int:
    """Return the CPUs this process may use (affinity and cgroup quota), at least 1.

    ``root`` is the file-system root to read ``proc`` and ``sys/fs/cgroup`` from (tests pass a
    fake tree).
    """
    if hasattr(os, "sched_getaffinity") and root == Path("/"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def cgroup_cpu_limit(root: Path = Path("/")) -> float | None:
    """The tightest CPU quota (in CPUs) over this process's cgroups, or ``None`` when unlimited."""
    limits: list[float] = []
    with contextlib.suppress(OSError, ValueError):
        lines = (root / "proc/self/cgroup").read_text(encoding="utf-8").splitlines()
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "":  # cgroup v2 unified hierarchy
                limits += _walk(root / "sys/fs/cgroup", path, _v2_limit)
            elif "cpu" in controllers.split(","):
                for mount in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
                    base = root / "sys/fs/cgroup" / mount
                    if base.is_dir():
                        limits += _walk(base, path, _v1_limit)
                        break
    return min(limits) if limits else None


def _walk(base: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """Read a limit at the cgroup and each of its ancestors (a parent's quota binds too)."""
    found: list[float] = []
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    for depth in range(len(parts), -1, -1):
        limit = read(base.joinpath(*parts[:depth]))
        if limit is not None:
            found.append(limit)
    return found


def _v2_limit(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max" or int(period) <= 0:
        return None
    return int(quota) / int(period)


def _v1_limit(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period

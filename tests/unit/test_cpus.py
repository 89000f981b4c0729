"""`--jobs 0` counts the CPUs the process may use, not the node's cores (issue #18 item 6)."""

from __future__ import annotations

from pathlib import Path

from mlchain.cpus import cgroup_cpu_limit, usable_cpus


def _tree(tmp_path: Path, cgroup: str, files: dict[str, str]) -> Path:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    for name, text in files.items():
        target = tmp_path / "sys/fs/cgroup" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tmp_path


def test_cgroup_v2_quota_of_one_cpu(tmp_path: Path) -> None:
    root = _tree(tmp_path, "0::/kubepods/pod1\n", {"kubepods/pod1/cpu.max": "100000 100000\n"})
    assert cgroup_cpu_limit(root) == 1.0
    assert usable_cpus(root) == 1


def test_cgroup_v2_fractional_quota_rounds_up(tmp_path: Path) -> None:
    root = _tree(tmp_path, "0::/a\n", {"a/cpu.max": "150000 100000\n"})
    assert usable_cpus(root) == min(2, usable_cpus(_tree(tmp_path / "n", "0::/\n", {})))


def test_cgroup_v2_parent_quota_binds(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        "0::/parent/child\n",
        {"parent/cpu.max": "50000 100000\n", "parent/child/cpu.max": "max 100000\n"},
    )
    assert cgroup_cpu_limit(root) == 0.5
    assert usable_cpus(root) == 1


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        "4:cpu,cpuacct:/docker/abc\n",
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "100000\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        },
    )
    assert usable_cpus(root) == 1


def test_no_quota_means_no_limit(tmp_path: Path) -> None:
    root = _tree(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert cgroup_cpu_limit(root) is None
    assert usable_cpus(root) >= 1


def test_this_machine_never_reports_more_than_affinity() -> None:
    import os

    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))

"""The Ray executor: the same report as the local one, batches by bytes, fails closed.

Ray starts once for this module (two CPUs, loopback only) and stops after it, so its daemons do not
linger through the rest of the suite; the tests then cost about a second each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from helpers import FIXTURES, REPO
from mlchain.output.json import report_to_dict
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanOptions
from mlchain.scan.executors import BATCH_BYTES, batches, run_ray
from mlchain.scan.walk import Entry


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            _node_ip_address="127.0.0.1",
        )
    yield ray
    if started:
        ray.shutdown()


def _entries(sizes: list[int]) -> list[Entry]:
    return [
        Entry(Path(f"/x/{i}"), PurePosixPath(str(i)), Path("/x"), size=s)
        for i, s in enumerate(sizes)
    ]


def test_batches_are_cut_by_bytes_and_by_count_in_order() -> None:
    entries = _entries([10, 10, 10, 100, 1, 1, 1, 1, 1])
    spans = list(batches(entries, max_bytes=25, max_files=3))
    assert [list(s) for s in spans] == [[0, 1], [2], [3], [4, 5, 6], [7, 8]]
    assert [i for s in spans for i in s] == list(range(len(entries)))


def test_batches_of_nothing_and_of_one_huge_file() -> None:
    assert list(batches([])) == []
    assert [list(s) for s in batches(_entries([BATCH_BYTES * 3]))] == [[0]]


@pytest.mark.slow  # the first Ray tasks start the workers (2-4 s); the second case takes 0.1 s
@pytest.mark.parametrize(
    "roots",
    [
        [FIXTURES],
        [FIXTURES / "pickle" / "benign", FIXTURES / "pickle" / "malicious"],
    ],
    ids=["fixtures", "benign+malicious"],
)
def test_ray_report_equals_local_report(
    ray_cluster: Any, roots: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr("mlchain.scan.executors.BATCH_FILES", 16)  # many batches, out of order
    local = scan_paths(roots, ScanOptions(jobs=1))
    distributed = scan_paths(roots, ScanOptions(jobs=1, executor="ray"))
    assert local.findings, "the corpus must have findings for the comparison to mean anything"
    assert json.dumps(report_to_dict(distributed)) == json.dumps(report_to_dict(local))


def test_cli_exit_code_and_json_match_local(ray_cluster: Any) -> None:
    from helpers import run_cli

    target = str(FIXTURES / "pickle" / "malicious")
    local = run_cli("scan", "-f", "json", "-j", "1", target)
    distributed = run_cli("scan", "-f", "json", "--executor", "ray", target)
    assert local.exit_code == distributed.exit_code == 1
    assert distributed.stdout == local.stdout


@pytest.mark.slow  # Ray replaces the killed worker (about 2 s)
def test_a_worker_crash_is_a_scanner_error_for_that_file_only(ray_cluster: Any) -> None:
    from mlchain.scan import scan_entry
    from mlchain.scan.walk import walk

    root = FIXTURES / "pickle" / "benign"
    entries = list(walk(root, []))
    victim = entries[1].rel

    def crashing(entry: Entry, options: ScanOptions) -> Any:
        if entry.rel == victim:
            os._exit(17)  # the worker process dies, as on a segfault or the OOM killer
        return scan_entry(entry, options)

    options = ScanOptions(executor="ray")
    results = run_ray(entries, options, None, scan=crashing)
    expected = [scan_entry(e, options) for e in entries]
    assert [r.location for r in results] == [e.location for e in expected]
    crashed = results[1]
    assert [f.rule_id for f in crashed.findings] == ["scanner-error"]
    assert crashed.skipped == "Ray worker failed"
    assert results[:1] + results[2:] == expected[:1] + expected[2:]


def test_interrupt_propagates_for_exit_130(ray_cluster: Any) -> None:
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan_paths([FIXTURES / "pickle"], ScanOptions(executor="ray"), progress=interrupt)


def test_missing_ray_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import run_cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = run_cli("scan", "--executor", "ray", str(FIXTURES / "pickle" / "benign"))
    assert result.exit_code == 2
    assert "mlchain[ray]" in result.stderr


def test_the_local_executor_never_imports_ray() -> None:
    code = (
        "import sys\nfrom mlchain.scan import scan_paths\nfrom pathlib import Path\n"
        f"scan_paths([Path({str(FIXTURES)!r})])\nprint('ray' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


def test_ray_with_the_content_cache_hashes_on_the_cluster(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from mlchain.scan import cache as cache_module

    local_hashes: list[str] = []
    real = cache_module.file_digest
    monkeypatch.setattr(
        cache_module, "file_digest", lambda e: local_hashes.append(str(e.rel)) or real(e)
    )
    shutil.copytree(FIXTURES / "pickle" / "malicious", tmp_path / "one")
    shutil.copytree(FIXTURES / "pickle" / "malicious", tmp_path / "two")
    import mlchain.scan

    scanned: list[int] = []
    run = mlchain.scan._run
    monkeypatch.setattr(
        mlchain.scan, "_run", lambda e, o, p: scanned.append(len(e)) or run(e, o, p)
    )
    options = ScanOptions(executor="ray", cache_dir=tmp_path / "cache")
    first = scan_paths([tmp_path / "one"], options)
    second = scan_paths([tmp_path / "two"], options)
    assert local_hashes == [], "the driver must not read the files: workers hash them"
    assert scanned == [len(first.results), 0], "the copy is served by content, not scanned"
    assert [r.findings for r in second.results] == [r.findings for r in first.results]
    assert all(r.sha256 for r in second.results)


def test_probe_accepts_a_listener_and_refuses_a_closed_port() -> None:
    import socket

    from mlchain.scan.executors import RayUnavailableError, probe

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        probe(f"127.0.0.1:{port}")
        probe(f"ray://127.0.0.1:{port}")
    with pytest.raises(RayUnavailableError, match=r"RAY_ADDRESS=127\.0\.0\.1:1"):
        probe("127.0.0.1:1")
    probe("auto")  # left to Ray


def test_unreachable_ray_address_exits_3_quickly() -> None:
    pytest.importorskip("ray")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "RAY_ADDRESS": "127.0.0.1:1"}
    out = subprocess.run(
        [sys.executable, "-m", "mlchain", "scan", "--executor", "ray", str(FIXTURES / "pickle")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 3, out.stderr
    assert "Cannot reach the Ray cluster" in out.stderr
    assert "Traceback" not in out.stderr

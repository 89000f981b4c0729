"""The scan's forked workers: every answer, in order, and a failure never passes as a result."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat, Confidence, Finding, Location, ScanResult, Severity
from mlchain.report import result_from_dict, result_to_dict
from mlchain.scan import forkpool

pytestmark = pytest.mark.skipif(not forkpool.available(), reason="no safe fork here")


class _Workers:
    """Which processes ran tasks: each worker writes its pid once (the suite has other children,
    so "no child left at all" is not what to check)."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "pids"
        self.noted = False  # each forked worker has its own copy

    def note(self) -> None:
        if not self.noted:
            self.noted = True
            with self.log.open("a") as out:
                out.write(f"{os.getpid()}\n")

    def assert_reaped(self) -> None:
        pids = {int(line) for line in self.log.read_text().split()}
        assert pids and os.getpid() not in pids
        for pid in pids:
            with pytest.raises(ChildProcessError):  # neither running nor a zombie of ours
                os.waitpid(pid, os.WNOHANG)


def test_every_answer_comes_back_in_task_order(tmp_path: Path) -> None:
    # More tasks than the task pipe holds (4 bytes each, 64 KiB pipe), so the parent must feed
    # it while answers come back; answers larger than the answer pipe too.
    workers = _Workers(tmp_path)

    def answer(task: int) -> bytes:
        return (str(task) * (task % 7 + 1)).encode() + (b"x" * 200_000 if task == 3 else b"")

    def work(task: int) -> bytes:
        workers.note()
        return answer(task)

    count = 40_000
    answers = list(forkpool.run(count, 2, work))
    assert answers == [answer(i) for i in range(count)]
    workers.assert_reaped()


def _open_pipes() -> set[str]:
    # This process's pipes, by inode: other tests' threads may open sockets and files meanwhile.
    pipes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            pipes.add(target)
    return pipes


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("outcome", ["answered", "abandoned", "failed"])
def test_no_descriptor_outlives_a_run(outcome: str) -> None:
    # A gate or a streamed scan runs many pools in one process: each must close every pipe.
    def work(task: int) -> bytes:
        if outcome == "failed" and task == 3:
            raise ValueError("no")
        return b"x"

    before = _open_pipes()
    answers = forkpool.run(50, 2, work)
    if outcome == "abandoned":
        next(answers)
        answers.close()
    elif outcome == "failed":
        with pytest.raises(forkpool.WorkerFailed):
            list(answers)
    else:
        assert len(list(answers)) == 50
    assert _open_pipes() <= before


def test_tasks_are_shared_between_workers() -> None:
    def work(task: int) -> bytes:
        time.sleep(0.003)  # long enough that one worker cannot take every task first
        return str(os.getpid()).encode()

    pids = set(forkpool.run(100, 2, work))
    assert len(pids) == 2 and str(os.getpid()).encode() not in pids


def test_a_task_that_raises_fails_the_run_with_its_text(tmp_path: Path) -> None:
    workers = _Workers(tmp_path)

    def work(task: int) -> bytes:
        workers.note()
        if task == 5:
            raise ValueError("bad task five")
        return b"ok"

    with pytest.raises(forkpool.WorkerFailed, match="ValueError: bad task five") as caught:
        list(forkpool.run(50, 2, work))
    assert "Traceback" in str(caught.value.__cause__)  # --verbose shows the worker's traceback
    assert caught.value.exit_code == 3
    workers.assert_reaped()


def test_a_worker_that_dies_fails_the_run_never_a_silent_gap(tmp_path: Path) -> None:
    # A worker killed mid-task (the OOM killer, say) took a task nobody answers: the run must
    # fail (exit 3), not hang and not report the files it held as scanned.
    workers = _Workers(tmp_path)

    def work(task: int) -> bytes:
        workers.note()
        if task == 7:
            os.kill(os.getpid(), signal.SIGKILL)
        return b"ok"

    with pytest.raises(forkpool.WorkerDied, match="killed by signal 9") as caught:
        list(forkpool.run(100, 2, work))
    assert "incomplete" in caught.value.diagnostics()
    workers.assert_reaped()


@pytest.mark.parametrize("dies", [False, True], ids=["answers", "a worker dies"])
def test_a_process_that_ignores_sigchld_still_runs_and_fails_closed(dies: bool) -> None:
    # SIGCHLD ignored (inherited from whatever started mlchain): children are reaped by the
    # system and waitpid finds none. The run must still finish, or still fail closed.
    def work(task: int) -> bytes:
        if dies and task == 7:
            os.kill(os.getpid(), signal.SIGKILL)
        return b"ok"

    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        if dies:
            with pytest.raises(forkpool.WorkerDied, match="ended before it finished"):
                list(forkpool.run(100, 2, work))
        else:
            assert list(forkpool.run(100, 2, work)) == [b"ok"] * 100
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_abandoning_the_run_kills_and_reaps_the_workers(tmp_path: Path) -> None:
    workers = _Workers(tmp_path)

    def work(task: int) -> bytes:
        workers.note()
        return b"x"

    answers = forkpool.run(10_000, 2, work)
    assert next(answers) == b"x"
    answers.close()  # the caller stopped (an error, Ctrl-C)
    workers.assert_reaped()


def test_workers_leave_without_the_parents_exit_handlers(tmp_path: Path) -> None:
    # A worker is a copy of the parent: leaving normally would run the parent's atexit handlers
    # (and flush its buffered output) once per worker. os._exit runs neither.
    import atexit

    marker = tmp_path / "ran"

    def handler() -> None:
        with marker.open("a") as out:
            out.write(f"{os.getpid()}\n")

    atexit.register(handler)
    try:
        assert list(forkpool.run(4, 2, lambda task: b"")) == [b""] * 4
    finally:
        atexit.unregister(handler)
    assert not marker.exists()


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",))
    | st.sampled_from(["\ud800", "\x1b", "\x00"]),
    max_size=30,
)
_LOCATION = st.builds(
    Location,
    st.sampled_from([PurePosixPath("a.pkl"), PurePosixPath("d/é b.pt")]),
    st.none() | _TEXT,
    st.none() | st.integers(min_value=0, max_value=2**63),
)


@settings(max_examples=200, deadline=None)
@given(
    location=_LOCATION,
    fmt=st.sampled_from(list(ArtifactFormat)),
    findings=st.lists(
        st.builds(
            Finding,
            _TEXT,
            st.sampled_from(list(Severity)),
            st.sampled_from(list(Confidence)),
            _TEXT,
            _LOCATION,
            st.none() | _TEXT,
        ),
        max_size=3,
    ),
    skipped=st.none() | _TEXT,
    size=st.none() | st.integers(min_value=0, max_value=2**63),
    sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_a_result_crosses_from_a_worker_unchanged(
    location: Location,
    fmt: ArtifactFormat,
    findings: list[Finding],
    skipped: str | None,
    size: int | None,
    sha256: str | None,
) -> None:
    # Workers answer in JSON (src/ loads no pickle): any result, odd text included, must come
    # back equal, or the pool would report something the serial scan did not.
    result = ScanResult(location, fmt, tuple(findings), skipped, size, sha256)
    wire = json.dumps([result_to_dict(result)]).encode()
    assert result_from_dict(json.loads(wire)[0]) == result

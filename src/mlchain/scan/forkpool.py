"""Forked workers for a scan: each runs tasks it takes from one pipe, results come back in order.

Why not ``concurrent.futures.ProcessPoolExecutor``: on a scan of 5,000 small files its import
(``multiprocessing``, ``socket``, ``tempfile``, threads), its two helper threads, which take turns
with the parent for the GIL, and pickling cost about 7 % of the run (issue #19; figures in
benchmarks/RESULTS.md). What a scan needs is much smaller, and it is all here:

* The workers are forked after the walk and inherit everything they need (the entries, the
  options): a task is one small integer.
* Tasks are 4-byte records in one pipe that every worker reads. A read of 4 bytes from a pipe is
  never split between readers, so whichever worker is free takes the next task: a worker stuck
  on one large file does not hold up the rest.
* Each worker answers on its own pipe: a length-prefixed message per task. A task's answer is
  bytes its caller encodes and decodes (the scan sends JSON): nothing crosses with ``pickle`` or
  ``marshal``, which ``src/`` never loads.
* Fail closed: a worker whose task raises sends the error's text and the parent raises
  :class:`WorkerFailed`; a worker that dies (killed, out of memory) makes the run fail with
  :class:`WorkerDied`. Either way the other workers are killed and reaped, and no result is made
  up.
* Workers ignore SIGINT (the parent handles Ctrl-C once) and leave with ``os._exit``: they never
  run the parent's ``atexit`` handlers or flush its buffered output. A worker whose parent is gone
  reads the end of the task pipe and exits.

Linux and other POSIX systems with a safe ``fork`` only; :func:`available` says which.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import sys
from collections.abc import Callable, Iterator

from mlchain.errors import MlchainError

_TASK = struct.Struct("<I")
_HEADER = struct.Struct("<QB")
"""Message length (task number and payload), then its kind; the task number follows."""
_ANSWER, _ERROR = 0, 1
_ATOMIC = 512 - 512 % _TASK.size
"""Bytes of task records per write: within POSIX's smallest PIPE_BUF (512), so never split."""


class WorkerDied(MlchainError):
    """A scan worker ended without answering for the task it took (exit code 3)."""

    hint = (
        "Nothing was reported for its files, so the scan is incomplete. If the system ran out "
        "of memory, give the scan more, or run it on one core with -j 1."
    )


class WorkerFailed(MlchainError):
    """A task raised in a worker (exit code 3); the worker's traceback is the ``__cause__``."""

    hint = "This is a bug in mlchain: please report it with the output of --verbose."


class _RemoteTraceback(Exception):
    """The worker's traceback, shown by ``--verbose`` as the cause of :class:`WorkerFailed`."""

    def __str__(self) -> str:
        return str(self.args[0])


def available() -> bool:
    """Whether workers can be forked here (macOS system libraries are not safe to fork)."""
    return hasattr(os, "fork") and sys.platform != "darwin"


def run(count: int, jobs: int, work: Callable[[int], bytes]) -> Iterator[bytes]:
    """Yield ``work(0)``, ..., ``work(count - 1)``, in that order, computed in ``jobs`` workers.

    ``work`` runs in forked children: it sees the parent's memory as it was at the fork.

    Raises:
        WorkerDied: if a worker ended without answering (the run is abandoned).
        WorkerFailed: if ``work`` raised in a worker.
    """
    tasks_r, tasks_w = os.pipe()
    workers: dict[int, int] = {}  # result pipe -> pid
    try:
        for _ in range(min(jobs, count)):
            answer_r, answer_w = os.pipe()
            try:
                pid = os.fork()
            except BaseException:  # no fork (process limit): nothing of this worker stays open
                os.close(answer_r)
                os.close(answer_w)
                raise
            if pid == 0:  # pragma: no cover (runs in the child; its effects are tested)
                _child(tasks_r, tasks_w, answer_r, answer_w, workers, work)
            os.close(answer_w)
            workers[answer_r] = pid
        os.close(tasks_r)
        tasks_r = -1
        yield from _collect(count, tasks_w, workers)
        os.close(tasks_w)  # the workers read the end of the tasks and leave
        tasks_w = -1
        while workers:
            fd, pid = workers.popitem()
            os.close(fd)
            _reap(pid)
    finally:
        for fd in (tasks_r, tasks_w, *workers):
            if fd >= 0:
                os.close(fd)
        for pid in workers.values():  # abandoned: a failure, Ctrl-C, or the caller stopped
            _kill(pid)


def _collect(count: int, tasks_w: int, workers: dict[int, int]) -> Iterator[bytes]:
    queue = b"".join(_TASK.pack(i) for i in range(count))
    os.set_blocking(tasks_w, False)
    poller = select.poll()  # not select(): a gate run may hold more than 1,024 descriptors
    for fd in workers:
        poller.register(fd, select.POLLIN)
    if queue:
        poller.register(tasks_w, select.POLLOUT)
    buffers = {fd: bytearray() for fd in workers}
    done: dict[int, bytes] = {}
    answered = 0
    following = 0  # the next result to yield
    while answered < count:
        for fd, _event in poller.poll():
            if fd == tasks_w:
                queue = _send(tasks_w, queue)
                if not queue:
                    poller.unregister(tasks_w)
                continue
            chunk = os.read(fd, 1 << 16)  # a pipe holds 64 KiB: asking for more only allocates
            if not chunk:
                poller.unregister(fd)
                os.close(fd)
                raise WorkerDied(_death(workers.pop(fd)))
            buffer = buffers[fd]
            buffer += chunk
            while len(buffer) >= _HEADER.size:
                size, kind = _HEADER.unpack_from(buffer)
                end = _HEADER.size + size
                if len(buffer) < end:
                    break
                (task,) = _TASK.unpack_from(buffer, _HEADER.size)
                payload = bytes(buffer[_HEADER.size + _TASK.size : end])
                del buffer[:end]
                if kind == _ERROR:
                    text = payload.decode("utf-8", "replace")
                    last = text.strip().rpartition("\n")[2]
                    raise WorkerFailed(f"A scan worker failed: {last}.") from _RemoteTraceback(text)
                done[task] = payload
                answered += 1
        while following in done:
            yield done.pop(following)
            following += 1


def _send(tasks_w: int, queue: bytes) -> bytes:
    # At most PIPE_BUF bytes of whole records per write: such a write is all or nothing, so the
    # pipe only ever holds whole records and a worker's 4-byte read always takes one.
    try:
        sent = os.write(tasks_w, queue[:_ATOMIC])
    except BlockingIOError:
        return queue
    except BrokenPipeError:  # every worker is gone: their ended answer pipes say how
        return b""
    return queue[sent:]


def _child(
    tasks_r: int,
    tasks_w: int,
    answer_r: int,
    answer_w: int,
    siblings: dict[int, int],
    work: Callable[[int], bytes],
) -> None:  # pragma: no cover (runs in the child; its effects are tested)
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for fd in (tasks_w, answer_r, *siblings):
            os.close(fd)
        while True:
            record = os.read(tasks_r, _TASK.size)  # whole records only (see _send): never split
            if not record:
                code = 0
                break
            if len(record) != _TASK.size:  # pragma: no cover (cannot happen; fail, never guess)
                break  # exit 1: the parent reports this worker as died
            (task,) = _TASK.unpack(record)
            try:
                message = _message(task, _ANSWER, work(task))
            except BaseException:  # its text goes to the parent, which raises WorkerFailed
                import traceback

                text = traceback.format_exc().encode("utf-8", "replace")
                _write_all(answer_w, _message(task, _ERROR, text))
                break
            _write_all(answer_w, message)
    finally:
        os._exit(code)


def _message(task: int, kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(_TASK.size + len(payload), kind) + _TASK.pack(task) + payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _death(pid: int) -> str:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # reaped by the system already (SIGCHLD ignored): cause unknown
        return "A scan worker ended before it finished its files."
    if os.WIFSIGNALED(status):
        how = f"was killed by signal {os.WTERMSIG(status)}"
    else:
        how = f"exited with status {os.waitstatus_to_exitcode(status)}"
    return f"A scan worker {how} before it finished its files."


def _reap(pid: int) -> None:
    # A process started with SIGCHLD ignored (the disposition survives exec) has its children
    # reaped by the system: waitpid then reports none, and there is nothing left to wait for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass

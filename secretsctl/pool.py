"""A bounded pool for per-file work: threads, or threads inside forked workers.

Guarantees (relied on by rotate/updatekeys/keys, see :mod:`secretsctl.batch`):

* One file's failure never stops the others; each file gets a
  :class:`FileResult` (``error`` holds the :class:`SecretsctlError`); an
  unexpected exception becomes a secret-free "internal error" result.
* At most ``workers`` files are in flight.  When ``stop`` is set (the CLI
  sets it on SIGINT) nothing new starts; the files in flight finish and
  :func:`run` returns with ``interrupted`` set and the files that never
  started listed.
* Results are reported in the calling thread (``on_done``) and returned in
  input order.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import SecretsctlError

__all__ = ["FileResult", "BatchOutcome", "default_workers", "run"]


@dataclass
class FileResult:
    """What happened to one file."""

    path: str
    ok: bool = True
    changed: bool = False
    error: SecretsctlError | None = None
    detail: Any = None  # KeyPlan, KeyStatus, output bytes …


@dataclass
class BatchOutcome:
    """All results (in input order) plus what an interruption left undone."""

    results: list[FileResult]
    interrupted: bool = False
    not_started: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[FileResult]:
        """The results with an error."""
        return [r for r in self.results if not r.ok]


def default_workers() -> int:
    """min(16, 8 × CPUs) files in flight.

    A file costs about 1 ms of CPU but two KMS round trips, and real KMS
    answers in 10-100 ms: with a relay adding 30 ms per request, 200 files
    took 2.15 s with 8 in flight and 1.29 s with 16; against moto on
    loopback (CPU-bound, no latency) 8 and 16 are equal.
    """
    return min(16, 8 * (os.cpu_count() or 1))


def _guarded(work: Callable[[str], FileResult], path: str, delay: float) -> FileResult:
    """Run one file's work; every failure becomes a result, never an exception."""
    if delay:
        time.sleep(delay)  # test hook: makes interruption tests deterministic
    try:
        return work(path)
    except SecretsctlError as exc:
        error = exc
        if exc.file and os.path.abspath(exc.file) != os.path.abspath(path):
            # e.g. a .sops.yaml problem: the summary must still lead with this file
            error = exc.with_message(f"{exc.file}: {exc.message}", file=None)
        return FileResult(path, ok=False, error=error.with_file(path))
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the other files
        return FileResult(path, ok=False, error=SecretsctlError(
            f"internal error ({type(exc).__name__})", file=path))


def run(paths: list[str], work: Callable[[str], FileResult], *, workers: int | None = None,
        stop: threading.Event | None = None,
        on_done: Callable[[FileResult, int, int], None] | None = None,
        delay: float = 0.0, processes: int = 1) -> BatchOutcome:
    """Run ``work`` on every path with at most ``workers`` in flight.

    ``on_done(result, done, total)`` is called in the calling thread after
    each file (the CLI's progress bar).  Setting ``stop`` prevents new
    files from starting; files in flight always finish.  ``processes`` > 1
    spreads the threads over forked worker processes (see :func:`_run_forked`).
    """
    # Never more threads than files: `-j 99999999999999999999` must not spin
    # creating threads (or submitting nothing) for minutes.
    n = max(1, min(workers or default_workers(), len(paths)))
    results: dict[str, FileResult] = {}

    def record(result: FileResult) -> None:
        results[result.path] = result
        if on_done is not None:
            on_done(result, len(results), len(paths))

    if processes > 1 and hasattr(os, "fork"):
        _run_forked(paths, work, n, processes, stop, record, delay)
    else:
        _run_threads(paths, work, n, stop, record, delay)
    ordered = [results[p] for p in paths if p in results]
    missing = [p for p in paths if p not in results]
    return BatchOutcome(ordered, interrupted=bool(missing), not_started=missing)


def _run_threads(paths: list[str], work: Callable[[str], FileResult], n: int,
                 stop: threading.Event | None, record: Callable[[FileResult], None],
                 delay: float) -> None:
    pending: set[Future] = set()
    queue = iter(paths)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="secretsctl") as pool:
        def submit_next() -> None:
            if stop is not None and stop.is_set():
                return
            path = next(queue, None)
            if path is not None:
                pending.add(pool.submit(_guarded, work, path, delay))

        for _ in range(n):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                pending.discard(fut)
                record(fut.result())
                submit_next()


# Results cross the process boundary as plain tuples: our exceptions carry
# keyword-only state that pickling would drop.
def _to_wire(r: FileResult) -> tuple:
    e = r.error
    err = None if e is None else (e.message, int(e.exit_code), e.file, e.tree_path, e.hint, e.multiline)
    return r.path, r.ok, r.changed, err, r.detail


def _from_wire(item: tuple) -> FileResult:
    path, ok, changed, err, detail = item
    error = None
    if err is not None:
        error = SecretsctlError(err[0], exit_code=err[1], file=err[2], tree_path=err[3], hint=err[4])
        error.multiline = err[5]
    return FileResult(path, ok, changed, error, detail)


def _run_forked(paths: list[str], work: Callable[[str], FileResult], n: int, processes: int,
                stop: threading.Event | None, record: Callable[[FileResult], None],
                delay: float) -> None:
    """Threads inside forked processes: KMS I/O overlaps *and* parsing/botocore use every CPU.

    The parse, the AES work and botocore's request handling hold the GIL, so
    one process cannot use a second core.  ``fork`` (not spawn) so workers
    start in a millisecond with the modules and the job already in memory;
    it happens before any thread or network client exists.

    Deliberately plain (no ``multiprocessing``: its import, task-queue locks
    and per-process feeder thread cost about 3% of a 200-file KMS rotate):
    worker ``k`` takes every ``processes``-th file, its threads share that
    slice, and each result goes back as a length-prefixed pickle on the
    worker's own pipe.  ``stop`` is mirrored into one shared byte that
    workers check before each file.  A worker that dies leaves its
    unreported files as not started, never half-written (writes are atomic).
    """
    import mmap
    threads = max(1, n // processes)
    halt = mmap.mmap(-1, 1)  # anonymous MAP_SHARED: the parent's write is seen by every worker
    halt[0] = int(stop is not None and stop.is_set())
    sys.stdout.flush()
    sys.stderr.flush()  # a child must not re-flush the parent's buffers
    readers: dict[int, Any] = {}
    try:
        for k in range(processes):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the worker; reported through the pipe
                os.close(r)
                for reader in readers.values():
                    reader.close()
                status = 1
                try:
                    _worker(paths[k::processes], work, threads, halt, w, delay)
                    status = 0
                finally:
                    os._exit(status)
            os.close(w)
            readers[pid] = os.fdopen(r, "rb", buffering=0)
        _collect(readers, stop, halt, record)
    finally:
        # Also on a second Ctrl-C: workers finish the file in hand (an atomic
        # write takes milliseconds) instead of being killed mid-write.
        halt[0] = 1
        for pid, reader in readers.items():
            os.waitpid(pid, 0)
            reader.close()


def _worker(paths: list[str], work: Callable[[str], FileResult], threads: int, halt: Any,
            out_fd: int, delay: float) -> None:
    """Run in a forked worker: ``threads`` threads share ``paths`` until ``halt`` is set."""
    import pickle
    import signal
    # Ctrl-C reaches the whole process group; only the parent decides, via ``halt``.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    queue = iter(paths)
    take, send = threading.Lock(), threading.Lock()

    def loop() -> None:
        while not halt[0]:
            with take:
                path = next(queue, None)
            if path is None:
                return
            data = pickle.dumps(_to_wire(_guarded(work, path, delay)))
            view = memoryview(len(data).to_bytes(4, "big") + data)
            with send:
                try:
                    while view:
                        view = view[os.write(out_fd, view):]
                except OSError:  # the parent is gone: nobody to report to, start nothing new
                    halt[0] = 1
                    return

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def _read_exact(reader: Any, size: int) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = reader.read(size - got)
        if not chunk:
            return None  # the worker is gone
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _collect(readers: dict[int, Any], stop: threading.Event | None, halt: Any,
             record: Callable[[FileResult], None]) -> None:
    """Record results as workers send them; mirror ``stop`` into ``halt``."""
    import pickle
    import selectors
    with selectors.DefaultSelector() as sel:
        for reader in readers.values():
            sel.register(reader, selectors.EVENT_READ)
        while sel.get_map():
            if stop is not None and stop.is_set():
                halt[0] = 1
            for key, _ in sel.select(timeout=0.1):
                header = _read_exact(key.fileobj, 4)
                body = None if header is None else _read_exact(key.fileobj, int.from_bytes(header, "big"))
                if body is None:
                    sel.unregister(key.fileobj)
                else:
                    record(_from_wire(pickle.loads(body)))

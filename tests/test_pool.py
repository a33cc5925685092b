"""secretsctl.pool: the bounded pool behind rotate/updatekeys/keys (threads, and threads in forked workers)."""
from __future__ import annotations

import os
import threading

import pytest

from secretsctl import pool
from secretsctl.errors import SecretsctlError


def _work(path: str) -> pool.FileResult:
    if path.endswith("bad"):
        raise SecretsctlError("cannot do it", tree_path='["x"]')
    return pool.FileResult(path, changed=True, detail={"pid": os.getpid()})


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_every_file_gets_one_result_in_input_order(processes):
    paths = [f"f{i:02d}" + ("bad" if i % 7 == 3 else "") for i in range(40)]
    seen: list[int] = []
    out = pool.run(paths, _work, workers=6, processes=processes,
                    on_done=lambda r, done, total: seen.append(done))
    assert [r.path for r in out.results] == paths
    assert seen == list(range(1, 41))
    assert not out.interrupted and not out.not_started
    bad = [r for r in out.results if not r.ok]
    assert [r.path for r in bad] == [p for p in paths if p.endswith("bad")]
    # the error survives the trip through the pipe: message, file, tree path, exit code
    msg = bad[0].error.user_message()
    assert bad[0].path in msg and '["x"]' in msg and "cannot do it" in msg
    assert bad[0].error.file == bad[0].path and bad[0].error.exit_code == 1
    pids = {r.detail["pid"] for r in out.results if r.ok}
    assert len(pids) == processes and (processes == 1) == (pids == {os.getpid()})


def test_a_worker_that_dies_leaves_its_files_not_started():
    def work(path: str) -> pool.FileResult:
        if path == "f05":
            os._exit(3)  # the worker vanishes (OOM kill, segfault …)
        return pool.FileResult(path)
    paths = [f"f{i:02d}" for i in range(12)]
    out = pool.run(paths, work, workers=2, processes=2)
    assert out.interrupted and "f05" in out.not_started
    assert set(out.not_started) | {r.path for r in out.results} == set(paths)
    assert all(r.ok for r in out.results)


def test_stop_before_start_starts_nothing():
    stop = threading.Event()
    stop.set()
    out = pool.run([f"f{i}" for i in range(10)], _work, workers=4, processes=2, stop=stop)
    assert out.results == [] and len(out.not_started) == 10


def test_a_huge_worker_count_is_capped_by_the_file_count():
    # Before the cap, -j 99999999999999999999 looped that many times (a hang, not
    # a slowdown); a thread lets the test fail instead of hanging the suite.
    box: list = []
    t = threading.Thread(target=lambda: box.append(
        pool.run(["a", "b"], lambda p: pool.FileResult(p), workers=10**20)), daemon=True)
    t.start()
    t.join(timeout=60)
    assert box and [r.path for r in box[0].results] == ["a", "b"]

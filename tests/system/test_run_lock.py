"""lstmgen.system.run_directory: one process per run directory, tested with real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstmgen.system.run_directory import RunLock, RunLockError, hold_run_lock

SOURCE = str(Path(__file__).resolve().parents[2] / "src")
HOLDER = """
import sys, time
from lstmgen.system.run_directory import RunLock, RunLockError
lock = RunLock(sys.argv[1])
try:
    lock.acquire()
except RunLockError as error:
    print("refused", error, flush=True)
    sys.exit(3)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _start(run: Path, seconds: float = 60.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(run), str(seconds)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": SOURCE})


def test_a_second_process_is_refused_with_the_holders_pid_until_the_holder_dies(tmp_path):
    run = tmp_path / "run"
    holder = _start(run)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockError, match=rf"{run} is in use by process {holder.pid} on {socket.gethostname()}"):
            RunLock(run).acquire()
        second = _start(run)
        assert second.wait(30) == 3 and f"in use by process {holder.pid}" in second.stdout.read()
        holder.send_signal(signal.SIGKILL)  # no cleanup at all: the kernel releases the lock
        holder.wait(30)
        with hold_run_lock(run) as lock:
            assert lock.held and (run / ".lock").read_text().split()[0] == str(os.getpid())
        assert (run / ".lock").read_text() == ""  # released: no pid of a finished process left behind
    finally:
        holder.kill()
        holder.wait(30)


def test_of_processes_starting_together_exactly_one_holds_the_lock(tmp_path):
    run = tmp_path / "run"
    processes = [_start(run, seconds=3.0) for _ in range(4)]
    answers = [process.stdout.readline().split()[0] for process in processes]
    for process in processes:
        process.wait(30)
    assert sorted(answers) == ["held", "refused", "refused", "refused"]
    assert sorted(process.returncode for process in processes) == [0, 3, 3, 3]


def test_the_lock_is_exclusive_within_a_process_too_and_released_on_error(tmp_path):
    run = tmp_path / "run"
    with hold_run_lock(run):
        with pytest.raises(RunLockError, match=f"in use by process {os.getpid()}"):
            with hold_run_lock(run):
                pass
    with pytest.raises(KeyError):
        with hold_run_lock(run):
            raise KeyError("the run failed")
    started = time.monotonic()
    with hold_run_lock(run):  # free again at once
        pass
    assert time.monotonic() - started < 1.0

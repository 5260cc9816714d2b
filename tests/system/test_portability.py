"""lstmgen where POSIX's fcntl does not exist (Windows): train, generate and serve a tiny model with ``fcntl``
made unimportable, and the run lock still refusing a second process, through the Windows code path
(``msvcrt.locking``), here played by a stand-in built on POSIX record locks."""

from __future__ import annotations

import subprocess
import sys

import httpx

from conftest import TINY_TEXT
from server_harness import ServeProcess

# Run before lstmgen is imported: no fcntl, and an msvcrt whose locking() has Windows' semantics for the calls
# lstmgen makes (LK_NBLCK fails with OSError when another process holds the byte; LK_UNLCK releases it).
SHIM = r"""
import os, sys, fcntl as posix
import asyncio, subprocess, tempfile  # the standard library's own probes for msvcrt must see the real platform
class msvcrt:
    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2
    @staticmethod
    def locking(descriptor, mode, count):
        offset = os.lseek(descriptor, 0, os.SEEK_CUR)
        if mode == msvcrt.LK_UNLCK:
            posix.lockf(descriptor, posix.LOCK_UN, count, offset, 0)
            return
        try:
            posix.lockf(descriptor, posix.LOCK_EX | posix.LOCK_NB, count, offset, 0)
        except OSError as error:
            raise PermissionError(13, "Permission denied") from error
sys.modules["fcntl"] = None
sys.modules["msvcrt"] = msvcrt
"""


def _lstmgen(*argv: str, code: str = "from lstmgen.cli import main; sys.exit(main(sys.argv[1:]))") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SHIM + code, *argv], capture_output=True, text=True, timeout=300)


def test_train_generate_and_serve_without_fcntl(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = tmp_path / "run"
    trained = _lstmgen("train", str(corpus), "--out", str(run), "--max-steps", "20", "--eval-interval", "10", "--hidden-size", "32",
                       "--embedding-size", "16", "--sample-length", "0", "--threads", "1", "--no-progress")
    assert trained.returncode == 0, trained.stderr
    resumed = _lstmgen("train", "--resume", str(run), "--max-steps", "30", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    generated = _lstmgen("generate", str(run), "--prompt", "the", "--length", "40", "--seed", "1")
    assert generated.returncode == 0 and generated.stdout.startswith("the") and len(generated.stdout) > 20, generated.stderr
    server = ServeProcess(run, tmp_path / "serve.log")
    server.command = [sys.executable, "-c", SHIM + "from lstmgen.cli import main; sys.exit(main(sys.argv[1:]))", *server.command[3:]]
    with server:
        answer = httpx.post(server.url + "/v1/completions", json={"prompt": "the", "max_tokens": 20, "seed": 3}, timeout=60)
        assert answer.status_code == 200 and answer.json()["choices"][0]["text"]


def test_the_run_lock_refuses_a_second_process_without_fcntl(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", SHIM + (
        "from lstmgen.system.run_directory import RunLock\n"
        "assert 'fcntl' not in sys.modules or sys.modules['fcntl'] is None\n"
        "with RunLock(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"), str(tmp_path / "run")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = _lstmgen(str(tmp_path / "run"), code=(
            "from lstmgen.system.run_directory import RunLock, RunLockError\n"
            "try:\n    RunLock(sys.argv[1]).acquire()\nexcept RunLockError as error:\n    print(error)\n"))
        assert f"is in use by process {holder.pid}" in second.stdout, second.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    again = _lstmgen(str(tmp_path / "run"), code=(
        "from lstmgen.system.run_directory import RunLock\nwith RunLock(sys.argv[1]):\n    print('free')\n"))
    assert again.stdout.strip() == "free", again.stderr  # released when its holder ended

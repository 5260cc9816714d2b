"""torchrun + DistributedDataParallel on the CPU (gloo, loopback): exact against one process, resumable across
world sizes, several "machines", and a dead rank ends the job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TINY_TEXT, labelled_records, write_json_lines
from lstmgen import load_checkpoint
from lstmgen.training.state import check_trainer_state

pytestmark = pytest.mark.slow

SETTINGS = ["--batch-size", "4", "--seq-length", "16", "--hidden-size", "32", "--embedding-size", "16", "--num-layers", "1",
            "--dropout", "0", "--grad-clip", "0.5", "--eval-interval", "12", "--threads", "1", "--no-progress",
            "--sample-length", "0", "--learning-rate", "0.02"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _environment() -> dict[str, str]:
    source = Path(__file__).resolve().parents[2] / "src"
    return {**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(command: list[str], *argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
    result = subprocess.run([*command, "-m", "lstmgen", "train", *argv], capture_output=True, text=True, timeout=timeout,
                            env=_environment())
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _two_processes(*argv: str) -> subprocess.CompletedProcess:
    return _train([*TORCHRUN, "--standalone", "--nproc-per-node", "2"], *argv)


def _one_process(*argv: str) -> subprocess.CompletedProcess:
    return _train([sys.executable], *argv)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run, prefer="last").model.state_dict()


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), (key, float((a[key] - b[key]).abs().max()))


def _best(run: Path) -> float:
    return load_checkpoint(run).extra["best_val"]["val_nats"]


def test_two_ranks_train_exactly_as_one_process(corpus, tmp_path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    _one_process(str(corpus), "--out", str(one), "--max-steps", "24", *SETTINGS)
    result = _two_processes(str(corpus), "--out", str(two), "--max-steps", "24", *SETTINGS)
    assert result.stdout.count("best validation") == 1  # only the first process speaks
    _assert_close(_weights(one), _weights(two))
    assert _best(two) == pytest.approx(_best(one), abs=1e-6)  # the sharded validation pass sums to the same figure
    state = load_checkpoint(two, state_check=check_trainer_state, prefer="last").trainer_state
    assert [tuple(s.shape) for s in state["recurrent_state"]] == [(1, 4, 32)] * 2  # every stream, gathered
    assert load_checkpoint(two).extra["world_size"] == 2


def test_two_ranks_train_a_labelled_corpus_exactly_as_one_process(tmp_path):
    """Labelled documents under torchrun: rank 0 prepares the labelled store, both ranks train on it, and the
    checkpoint carries the labels."""
    corpus = write_json_lines(tmp_path / "styles.jsonl", labelled_records(120))
    one, two = tmp_path / "one", tmp_path / "two"
    _one_process(str(corpus), "--labels", "jsonl", "--out", str(one), "--max-steps", "12", *SETTINGS)
    _two_processes(str(corpus), "--labels", "jsonl", "--out", str(two), "--max-steps", "12", *SETTINGS)
    _assert_close(_weights(one), _weights(two))
    assert load_checkpoint(two).tokenizer.labels == ("UP", "low")


def test_two_ranks_train_an_adaptive_softmax_exactly_as_one_process(corpus, tmp_path):
    """A cluster with no target in a rank's share of a batch gets no gradient there: DDP must not wait for it."""
    one, two = tmp_path / "one", tmp_path / "two"
    cutoffs = ["--adaptive-softmax", "8,30"]  # the last cluster holds the corpus's rarest characters
    _one_process(str(corpus), "--out", str(one), "--max-steps", "12", *SETTINGS, *cutoffs)
    _two_processes(str(corpus), "--out", str(two), "--max-steps", "12", *SETTINGS, *cutoffs)
    _assert_close(_weights(one), _weights(two))
    assert load_checkpoint(two).model.config.adaptive_softmax == (8, 30)


def test_a_two_rank_run_resumes_in_one_process_exactly(corpus, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    _one_process(str(corpus), "--out", str(whole), "--max-steps", "24", *SETTINGS)
    _two_processes(str(corpus), "--out", str(split), "--max-steps", "12", *SETTINGS)
    _one_process("--resume", str(split), "--max-steps", "24", "--no-progress")
    _assert_close(_weights(whole), _weights(split))


def test_a_two_rank_run_resumes_with_two_ranks_exactly(corpus, tmp_path):
    """torchrun --resume at 2 ranks: each rank's RNG state is saved as its own tensor (a view into the gathered
    [W, n] tensor, at rank 1's offset, crashed torch.set_rng_state with SIGSEGV), and the run continues exactly."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    _two_processes(str(corpus), "--out", str(whole), "--max-steps", "24", *SETTINGS)
    _two_processes(str(corpus), "--out", str(split), "--max-steps", "12", *SETTINGS)
    state = load_checkpoint(split, state_check=check_trainer_state, prefer="last").trainer_state
    assert all(generator.storage_offset() == 0 and generator.untyped_storage().nbytes() == generator.numel()
               for generator in state["rank_rng"])
    result = _two_processes("--resume", str(split), "--max-steps", "24", "--no-progress")
    assert result.returncode == 0, result.stderr
    _assert_close(_weights(whole), _weights(split))


def test_two_machines_on_loopback_train_and_checkpoint(corpus, tmp_path):
    port = _free_port()
    out = tmp_path / "nodes"
    launches = [subprocess.Popen([*TORCHRUN, "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1",
                                  "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "lstmgen", "train", str(corpus),
                                  "--out", str(out), "--max-steps", "12", *SETTINGS],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment())
                for rank in (0, 1)]
    try:
        outputs = [launch.communicate(timeout=240) for launch in launches]
    except subprocess.TimeoutExpired:  # show what both nodes said, not only that one of them is still running
        for launch in launches:
            launch.kill()
        outputs = [launch.communicate() for launch in launches]
        pytest.fail(f"the two nodes did not finish in 240 s: {[(launch.returncode, err[-2000:]) for launch, (_, err) in zip(launches, outputs)]}")
    assert [launch.returncode for launch in launches] == [0, 0], [err[-2000:] for _, err in outputs]
    assert load_checkpoint(out, prefer="last").extra["steps"] == 12


def test_a_killed_rank_ends_the_job_with_an_error_in_bounded_time(corpus, tmp_path):
    job = subprocess.Popen([*TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "lstmgen", "train", str(corpus),
                            "--out", str(tmp_path / "killed"), "--max-steps", "100000", *SETTINGS,
                            "--distributed-timeout", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=_environment(), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "killed" / "last").exists():  # training has started (the first checkpoint is written)
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1][-2000:]
            time.sleep(0.2)
        workers = subprocess.run(["pgrep", "-f", "-P", str(job.pid), "lstmgen"], capture_output=True, text=True).stdout.split()
        assert workers, "no worker processes found"
        os.kill(int(workers[-1]), signal.SIGKILL)
        started = time.monotonic()
        job.wait(timeout=90)
        assert job.returncode != 0
        assert time.monotonic() - started < 90
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)


def test_a_run_directory_in_use_stops_the_job_at_once(corpus, tmp_path):
    from lstmgen.system.run_directory import RunLock

    out = tmp_path / "busy"
    with RunLock(out):  # another job's live run
        started = time.monotonic()
        result = subprocess.run([*TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "lstmgen", "train", str(corpus),
                                 "--out", str(out), "--max-steps", "12", *SETTINGS], capture_output=True, text=True,
                                env=_environment(), timeout=180)
    assert result.returncode != 0 and time.monotonic() - started < 120  # not the distributed timeout (30 minutes)
    assert "is in use by process" in result.stderr, result.stderr[-3000:]
    assert not (out / "last").exists()


def test_a_finished_run_frees_its_trainer_before_leaving_the_process_group(tmp_path):
    """The trainer sits in a reference cycle, and in a torchrun job it holds the DDP wrapper and through it the process
    group: ``distributed.close`` collects it, so the group is never left to the interpreter's shutdown (where gloo's
    threads once aborted a rank that had finished). Checked in one process, with the cyclic collector off."""
    import gc

    from lstmgen.training.pipeline import train
    from lstmgen.training.trainer import Trainer

    gc.disable()
    try:
        train(text=TINY_TEXT, out_dir=tmp_path / "run", max_steps=2, eval_interval=2, sample_length=0, threads=1,
              log=lambda *args: None)
        assert not [thing for thing in gc.get_objects() if type(thing) is Trainer]
    finally:
        gc.enable()

"""Shared fixtures: tiny corpora made here, one tiny trained run (and its LanguageModel) reused by many tests,
and ``tiny_model``, the one maker of small random-weight models for the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lstmgen import LanguageModel, ModelConfig, RecurrentLanguageModel, train

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_TEXT = (
    "the quick brown fox jumps over the lazy dog.\n"
    "a stitch in time saves nine; naïve café owners say «bonjour» — 東京 too.\n"
) * 30


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_text() -> str:
    return TINY_TEXT


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


TINY_SETTINGS = dict(
    batch_size=4, seq_length=16, max_steps=40, eval_interval=20, sample_length=0, threads=1, warmup_steps=5,
    learning_rate=1e-2,
)
QUIET = dict(progress=False, log=lambda line: None)  # train() keyword arguments that print nothing

# Short records, each a capitalised name line and one lower-case line; names only ever follow a blank line
# (the cold-start and token-healing tests train on them).
NAMES = ["ALICE", "BOB", "CAROL", "DAVE", "ERIN", "FRANK"]
LINES = ["good day to you.", "what news, my friend?", "the king is here.", "go now and be quick.", "i will not stay.",
         "come in, come in."]
RECORDS = "".join(f"{NAMES[(i * 5) % 6]}:\n{LINES[(i * 7 + i // 6) % 6]}\n\n" for i in range(400))

TINY_MODEL = dict(embedding_size=16, hidden_size=32, num_layers=1)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory trained for a few seconds on the tiny corpus."""
    out = tmp_path_factory.mktemp("run") / "tiny"
    train(text=TINY_TEXT, out_dir=out, model=TINY_MODEL, progress=False, log=lambda line: None, **TINY_SETTINGS)
    return out


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data is only on the project's machines)")
    return path


@pytest.fixture(scope="session")
def lm(tiny_run) -> LanguageModel:
    """The tiny run's best checkpoint, loaded once (tests that change its weights must use tiny_model instead)."""
    return LanguageModel.load(tiny_run)


def make_tiny_model(vocab_size: int = 30, cell: str = "lstm", embedding_size: int = 16, hidden_size: int = 24,
                    num_layers: int = 2, tie_weights: bool = False, dropout: float = 0.0, seed: int = 7,
                    weight_dropout: float = 0.0, label_inputs: int = 0, **cell_options) -> RecurrentLanguageModel:
    """A small random-weight model in eval mode, the same for the same arguments (tie_weights sets embedding = hidden;
    ``cell_options``: the cell's own ModelConfig fields, such as mogrifier_rounds)."""
    torch.manual_seed(seed)
    if tie_weights:
        embedding_size = hidden_size
    config = ModelConfig(vocab_size=vocab_size, cell=cell, embedding_size=embedding_size, hidden_size=hidden_size,
                         num_layers=num_layers, tie_weights=tie_weights, dropout=dropout, weight_dropout=weight_dropout,
                         label_inputs=label_inputs, **cell_options)
    return RecurrentLanguageModel(config).eval()


@pytest.fixture
def tiny_model():
    """make_tiny_model, as a fixture: tiny_model(cell="gru", num_layers=1, vocab_size=9, ...)."""
    return make_tiny_model


# Two labelled styles with disjoint alphabets (lower-case a-c words, upper-case X-Z words): a model that reads the
# label before each document must write in its label's alphabet (tests of tokenizers.labels and evaluation.labels).
STYLE_WORDS = {"low": ["abc", "bca", "cab", "aab", "cca"], "UP": ["XYZ", "ZYX", "YZZ", "XXY", "ZZX"]}


def labelled_records(count: int, seed: int = 0) -> list[dict[str, str]]:
    import random

    rng = random.Random(seed)
    labels = sorted(STYLE_WORDS)
    return [{"text": " ".join(rng.choice(STYLE_WORDS[label]) for _ in range(rng.randint(5, 10))), "label": label}
            for label in (labels[i % 2] for i in range(count))]


def write_json_lines(path: Path, records: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


LABELLED_SETTINGS = dict(batch_size=8, seq_length=32, max_steps=300, eval_interval=100, sample_length=0, threads=1,
                         warmup_steps=5, learning_rate=1e-2)


@pytest.fixture(scope="session")
def labelled_run(tmp_path_factory) -> Path:
    """A char model trained for a few seconds on 300 labelled documents in two styles (labels 'UP' and 'low')."""
    directory = tmp_path_factory.mktemp("labelled")
    corpus = write_json_lines(directory / "styles.jsonl", labelled_records(300))
    out = directory / "run"
    train([str(corpus)], out_dir=out, labels="jsonl", model=dict(embedding_size=16, hidden_size=32, num_layers=1), **QUIET,
          **LABELLED_SETTINGS)
    return out

"""lstmgen.data.store: the token store a corpus is prepared into, streamed in blocks and memory-mapped."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lstmgen.data.corpus as corpus_module
from conftest import TINY_MODEL, TINY_SETTINGS, TINY_TEXT
from lstmgen import ConfigError, LanguageModel, train
from lstmgen.cli import main
from lstmgen.data.batches import BatchIterator, split_contiguous
from lstmgen.data.corpus import CorpusError, Source, resolve_sources, text_source
from lstmgen.data.store import StoreError, TokenStore, prepare, smallest_dtype
from lstmgen.tokenizers import fit_tokenizer

QUIET = dict(progress=False, log=lambda line: None)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 bytes, so a tiny corpus crosses many block boundaries (and words, and UTF-8 characters)."""
    original = corpus_module.iter_blocks
    monkeypatch.setattr("lstmgen.data.store.iter_blocks", lambda source, errors="strict", block=64: original(source, errors, 64))


@pytest.mark.parametrize("kind", ["char", "word", "byte"])
def test_the_store_holds_what_encoding_the_whole_text_gives(tmp_path, small_blocks, kind):
    store = prepare([text_source(TINY_TEXT)], tmp_path / "store", tokenizer=kind)
    parts = split_contiguous(TINY_TEXT, 0.1)
    fitted = fit_tokenizer(kind, parts.train)
    assert store.tokenizer.to_dict() == fitted.to_dict()  # the vocabulary of the training part only
    assert np.array_equal(store.train, fitted.encode(parts.train, unknown="replace"))
    assert np.array_equal(store.val, fitted.encode(parts.val, unknown="replace"))
    assert store.tokens.dtype == np.uint8 and isinstance(store.tokens, np.memmap)
    assert store.meta["characters"]["train"] == len(parts.train) and store.meta["characters"]["val"] == len(parts.val)
    assert store.meta["bytes"]["val"] == len(parts.val.encode("utf-8"))
    store.verify()


def test_several_sources_are_joined_by_line_breaks_and_hashed(tmp_path):
    files = []
    for index, text in enumerate(["first text\n", "second text ü\n", "third"]):
        files.append(tmp_path / f"{index}.txt")
        files[-1].write_text(text, encoding="utf-8")
    store = prepare(resolve_sources([str(path) for path in files]), tmp_path / "store", val_fraction=0.0)
    assert store.tokenizer.decode(store.tokens.tolist()) == "first text\n\nsecond text ü\n\nthird"
    assert [s["bytes"] for s in store.meta["sources"]] == [path.stat().st_size for path in files]
    assert len({s["sha256"] for s in store.meta["sources"]}) == 3


def test_a_store_is_reused_only_when_its_sources_and_settings_match(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    first = prepare(resolve_sources([str(path)]), tmp_path / "store")
    again = prepare(resolve_sources([str(path)]), tmp_path / "store", reuse=True)
    assert again.meta["seconds"] == first.meta["seconds"]  # the same files: not prepared again
    lowered = prepare(resolve_sources([str(path)]), tmp_path / "store", reuse=True, lowercase=True)
    assert lowered.meta["settings"]["lowercase"]
    path.write_text(TINY_TEXT + "more", encoding="utf-8")
    changed = prepare(resolve_sources([str(path)]), tmp_path / "store", reuse=True, lowercase=True)
    assert changed.meta["sources"][0]["bytes"] == len((TINY_TEXT + "more").encode("utf-8"))


def test_a_validation_file_and_a_test_split(tmp_path):
    store = prepare([text_source("abc " * 200)], tmp_path / "store", val_sources=[text_source("abcd " * 10)], test_fraction=0.1)
    assert len(store.test) == 80 and len(store.val) == 50 and len(store.train) == 720
    assert store.meta["unknown"]["val"] == 10  # 'd' never occurs in the training text


def test_bad_corpora_give_clear_errors(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "spaces.txt").write_text("   \n\n  " * 20)
    (tmp_path / "latin.txt").write_bytes(("é" * 100).encode("utf-8") + b"caf\xe9 au lait")
    for name, message in (("empty.txt", "is empty"), ("binary.bin", "binary"), ("spaces.txt", "only whitespace"),
                          ("latin.txt", "byte offset 203")):
        with pytest.raises(CorpusError, match=message):
            prepare([Source(name, path=tmp_path / name)], tmp_path / "store")
    assert not (tmp_path / "store").exists()  # nothing half-written is left


def test_truncated_and_foreign_stores_are_refused(tmp_path):
    store = prepare([text_source(TINY_TEXT)], tmp_path / "store")
    tokens, meta_path = store.path / "tokens.bin", store.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    tokens.write_bytes(tokens.read_bytes()[:-10])
    with pytest.raises(StoreError, match="truncated"):
        TokenStore.open(store.path)
    for broken, message in (({**meta, "format": "something-else"}, "not an lstmgen token store"),
                            ({**meta, "dtype": "float64"}, "malformed"), ({**meta, "format_version": 99}, "upgrade"),
                            ({**meta, "regions": {"train": [0, 10**12], "val": [0, 0], "test": [0, 0]}}, "do not lie within")):
        meta_path.write_text(json.dumps(broken))
        with pytest.raises(StoreError, match=message):
            TokenStore.open(store.path)
    meta_path.write_text("[" * 100_000)
    with pytest.raises(StoreError, match="not valid JSON"):
        TokenStore.open(store.path)
    with pytest.raises(StoreError, match="not a token store"):
        TokenStore.open(tmp_path)


def test_the_iterator_reads_windows_from_the_memory_map(tmp_path):
    store = prepare([text_source(TINY_TEXT)], tmp_path / "store")
    mapped, copied = BatchIterator(store.train, 4, 7), BatchIterator(np.array(store.train, dtype=np.int64), 4, 7)
    for _ in range(30):
        a, b = mapped.next_batch(), copied.next_batch()
        assert all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))
    half = BatchIterator(store.train, 4, 7, rows=(2, 4))  # a rank's share: streams 2 and 3
    full = BatchIterator(store.train, 4, 7)
    assert np.array_equal(half.next_batch()[0], full.next_batch()[0][2:])


def test_smallest_dtype():
    assert [smallest_dtype(n) for n in (2, 256, 257, 65_536, 65_537)] == ["uint8", "uint8", "uint16", "uint16", "uint32"]


def test_train_on_a_prepared_store_and_its_settings(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    assert main(["prepare", str(corpus), "--out", str(tmp_path / "data"), "--tokenizer", "word", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "tokens (uint8)" in printed and "lstmgen train" in printed
    result = train(data=tmp_path / "data", out_dir=tmp_path / "run", model=TINY_MODEL, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
    assert result.steps == 5 and LanguageModel.load(tmp_path / "run").tokenizer.kind == "word"
    assert not (tmp_path / "run" / "data").exists()  # the store was used where it lies, not copied
    with pytest.raises(ConfigError, match="prepared with other settings"):
        train(data=tmp_path / "data", out_dir=tmp_path / "run2", tokenizer="char", **QUIET)
    # Resume names the store again (a checkpoint's paths are never followed on their own).
    with pytest.raises(ConfigError, match="name it again"):
        train(resume=tmp_path / "run", max_steps=8, **QUIET)
    assert train([str(tmp_path / "data")], resume=tmp_path / "run", max_steps=8, **QUIET).steps == 8

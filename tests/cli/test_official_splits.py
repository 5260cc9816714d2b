"""A named corpus with an official split (WikiText-2, here a tiny stand-in placed in the cache): training fits on its
train split and validates on its valid split; ``eval --split`` scores the split named, and says so; ``--split`` on
a text without an official split is refused."""

import json
import math

import pytest

from local_mirror import closed_port, split_texts, use_fake_corpus, wikitext_zip
from lstmgen.cli import main
from lstmgen.data.store import TokenStore

FLAGS = ["--max-steps", "6", "--eval-interval", "3", "--batch-size", "2", "--seq-length", "16", "--hidden-size", "16",
         "--embedding-size", "8", "--num-layers", "1", "--sample-length", "0", "--threads", "1", "--no-progress",
         "--tokenizer", "char"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def wikitext(tmp_path, monkeypatch):
    """wikitext2 as a copy placed in the cache (its mirror a closed port: nothing is downloaded)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    use_fake_corpus(monkeypatch, cache, [closed_port()], wikitext_zip(cache / "wikitext2.zip"))
    return split_texts()


@pytest.fixture
def wikitext_run(tmp_path, wikitext, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run(capsys, "train", "wikitext2", "--out", out, *FLAGS)
    assert code == 0, stderr
    return out, stdout


def test_train_fits_on_train_and_validates_on_valid(wikitext_run, wikitext, capsys):
    out, stdout = wikitext_run
    assert "on wikitext2 valid (official split)" in stdout
    store = TokenStore.open(out / "data")
    assert [source["name"] for source in store.meta["sources"]] == ["wikitext2:train"]
    assert [source["name"] for source in store.meta["val_sources"]] == ["wikitext2:valid"]
    # Each region is exactly its split's text (the vocabulary fitted on train: valid's capitals are its unknown symbol).
    assert store.tokenizer.decode(store.train.tolist()) == wikitext["train"]
    assert store.val.tolist() == store.tokenizer.encode(wikitext["valid"], unknown="replace").tolist()
    assert store.info()["val_unknown"] == 2 * 6  # R and B of each valid heading
    assert len(store.test) == 0
    recorded = json.loads(run(capsys, "info", out, "--json")[1])
    assert recorded["training"]["data"]["validation"] == "wikitext2 valid (official split)"
    code, stdout, _ = run(capsys, "info", out)
    assert code == 0 and "on wikitext2 valid (official split)" in stdout


def test_prepare_uses_the_official_split_too(tmp_path, wikitext, capsys):
    code, stdout, stderr = run(capsys, "prepare", "wikitext2", "--out", tmp_path / "store", "--no-progress")
    assert code == 0, stderr
    store = TokenStore.open(tmp_path / "store")
    assert store.val.tolist() == store.tokenizer.encode(wikitext["valid"], unknown="replace").tolist()
    assert store.info()["validation"] == "wikitext2 valid (official split)"


def test_eval_scores_the_split_named(wikitext_run, wikitext, capsys):
    out, _ = wikitext_run
    scored = {}
    for split in ("train", "valid", "test"):
        code, stdout, stderr = run(capsys, "eval", out, "wikitext2", "--split", split, "--json")
        assert code == 0, stderr
        scored[split] = json.loads(stdout)
        assert scored[split]["split"] == split and scored[split]["corpus"] == "wikitext2" and scored[split]["official_split"]
        assert scored[split]["tokens"] == len(wikitext[split]) - 1  # that split's characters (the first is given), no other's
    assert len({report["nats"] for report in scored.values()}) == 3
    code, stdout, _ = run(capsys, "eval", out, "wikitext2")  # no --split: the test split, as the literature reports
    assert code == 0 and "scored: wikitext2 test (official split)" in stdout
    assert f"{scored['test']['nats']:.4f} nats/token" in stdout
    code, stdout, _ = run(capsys, "eval", out, "wikitext2", "--split", "valid", "--windows", "8", "--json")
    assert code == 0 and json.loads(stdout)["split"] == "valid"


def test_a_symbols_model_counts_tokens_as_the_literature_and_every_model_gets_a_word_level_perplexity(
        tmp_path, wikitext, wikitext_run, capsys):
    # The published count: each line's whitespace-separated words plus an <eos> (pytorch/examples' data.py).
    published = sum(len(line.split()) + 1 for line in wikitext["test"].splitlines())
    out = tmp_path / "symbols"
    assert run(capsys, "train", "wikitext2", "--out", out, *FLAGS[:-1], "symbols")[0] == 0
    report = json.loads(run(capsys, "eval", out, "wikitext2", "--split", "test", "--json")[1])
    assert report["tokens"] == published - 1 and report["word_tokens"] == published  # the first token is given, not scored
    assert report["word_perplexity"] == pytest.approx(math.exp(report["nats"] * report["tokens"] / published))
    assert report["word_perplexity"] == pytest.approx(report["perplexity"], rel=report["nats"] / published * 1.01)
    characters = json.loads(run(capsys, "eval", wikitext_run[0], "wikitext2", "--split", "test", "--json")[1])
    assert characters["word_tokens"] == published  # a character model's loss, per word
    assert characters["word_perplexity"] == pytest.approx(math.exp(characters["nats"] * characters["tokens"] / published))
    assert characters["word_perplexity"] > characters["perplexity"]


def test_eval_of_a_plain_file_says_it_is_scored_whole(wikitext_run, tmp_path, capsys):
    out, _ = wikitext_run
    path = tmp_path / "held.txt"
    path.write_text(split_texts()["test"], encoding="utf-8")
    code, stdout, _ = run(capsys, "eval", out, path, "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["split"] == "all" and not report["official_split"] and report["corpus"] == str(path)
    assert "word_perplexity" not in report


@pytest.mark.parametrize("corpus", ["file", "tinyshakespeare"])
def test_split_is_refused_without_an_official_split(tiny_run, tiny_file, corpus, capsys):
    name = tiny_file if corpus == "file" else corpus
    code, _, stderr = run(capsys, "eval", tiny_run, name, "--split", "test")
    assert code == 2
    assert f"--split test: {name} has no official split" in stderr and "wikitext2" in stderr


def test_val_and_test_fraction_are_refused_beside_an_official_split(tmp_path, wikitext, tiny_file, capsys):
    code, _, stderr = run(capsys, "train", "wikitext2", "--val", tiny_file, "--out", tmp_path / "a", *FLAGS)
    assert code == 2 and "official validation split" in stderr
    code, _, stderr = run(capsys, "train", "wikitext2", "--test-fraction", "0.1", "--out", tmp_path / "b", *FLAGS)
    assert code == 2 and "--split test" in stderr

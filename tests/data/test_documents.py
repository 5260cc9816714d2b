"""lstmgen.data.documents and document mode end to end: documents end with a token where generation stops."""

from __future__ import annotations

import random
import re

import pytest

from lstmgen import LanguageModel, train
from lstmgen.data.corpus import text_source
from lstmgen.data.documents import END, DocumentSplitter
from lstmgen.data.store import prepare

QUIET = dict(progress=False, log=lambda line: None)


def _documents(mode: str, text: str, cuts: list[int]) -> tuple[list[str], str]:
    """Feed ``text`` cut at ``cuts``; return the complete documents and any unterminated rest."""
    splitter, out, position = DocumentSplitter(mode), [], 0
    for cut in cuts + [len(text)]:
        out += splitter.feed(text[position:cut])
        position = cut
    out += splitter.finish()
    documents, current = [], ""
    for part in out:
        if part is END:
            documents.append(current)
            current = ""
        else:
            current += part
    return documents, current


TEXT = "doc one\n\n\ndoc two\n \t\nthree\nfour\n\n"


@pytest.mark.parametrize("mode, expected", [
    ("lines", ["doc one", "doc two", "three", "four"]),  # empty and whitespace-only lines are no documents
    ("blank-lines", ["doc one", "doc two", "three\nfour"]),
    ("\n\n", ["doc one", "\ndoc two\n \t\nthree\nfour"]),
])
def test_documents_are_cut_at_separators_wherever_the_pieces_end(mode, expected):
    rng = random.Random(0)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(TEXT)), rng.randint(0, 8)))
        assert _documents(mode, TEXT, cuts) == (expected, "")


def test_a_cut_document_has_no_end_mark():
    splitter = DocumentSplitter("lines")
    assert splitter.feed("first\nsecond, cut") + splitter.finish(complete=False) == ["first", END, "second, cut"]


RECORDS = "".join(f"{name}: {line}\n" for name, line in [("ann", "good day"), ("bob", "what news"), ("cy", "go now")] * 60)


@pytest.mark.parametrize("kind", ["char", "word", "byte"])
def test_the_store_puts_an_end_of_document_token_after_each_document(tmp_path, kind):
    store = prepare([text_source(RECORDS)], tmp_path / kind, tokenizer=kind, documents="lines", val_fraction=0.0)
    eod = store.tokenizer.end_of_document
    assert eod == store.tokenizer.vocab_size - 1  # the last id
    tokens = store.tokens.tolist()
    assert tokens.count(eod) == 180 and tokens[-1] == eod and store.meta["documents"]["train"] == 180
    first = tokens[: tokens.index(eod)]
    assert store.tokenizer.decode(first) == "ann: good day"  # the separator is not text of the document
    assert store.tokenizer.token_text(eod) == ""


def test_generation_stops_at_the_end_of_a_document(tmp_path):
    train(text=RECORDS, out_dir=tmp_path / "run", documents="lines", model=dict(embedding_size=16, hidden_size=64),
          batch_size=8, seq_length=32, max_steps=400, eval_interval=400, learning_rate=1e-2, sample_length=0, threads=1, **QUIET)
    lm = LanguageModel.load(tmp_path / "run")
    assert lm.tokenizer.end_of_document is not None
    # Five whole documents: each sample stops at its end-of-document token, long before the budget.
    records = list(lm.decode("", max_tokens=200, num_samples=5, seed=1))
    reasons = [next(r.finish_reasons[s] for r in records if r.finish_reasons[s]) for s in range(5)]
    assert reasons == ["stop"] * 5 and len(records) < 200
    texts = lm.samples("", max_tokens=200, num_samples=5, seed=1, temperature=0.5)
    well_formed = [re.fullmatch(r"(ann|bob|cy): (good day|what news|go now)", text) for text in texts]
    assert sum(match is not None for match in well_formed) >= 4, texts
    assert lm.encode_prompt("bob")[0] == lm.tokenizer.end_of_document  # a prompt is read as a document's start
    assert lm.generate("bob:", max_tokens=200, temperature=0).strip() in {"good day", "what news", "go now"}
    found = lm.beam_search("cy:", max_tokens=60, num_beams=3)
    assert found[0].finish_reason == "stop" and found[0].text.strip() in {"good day", "what news", "go now"}
    # The sweep and the server read the same records: samples end with their documents.
    from lstmgen.evaluation.sweep import temperature_sweep

    study = temperature_sweep(lm, [0.5, 1.0], length=100, num_samples=3, seed=2)
    assert all(len(sample) < 100 for row in study["rows"] for sample in row["samples"])
    import httpx

    from lstmgen.server import create_app
    from server_harness import ThreadedServer

    with ThreadedServer(create_app(lm)) as server:
        body = httpx.post(server.url + "/v1/completions", json={"prompt": "ann:", "max_tokens": 100, "n": 3, "temperature": 0.5,
                                                                 "seed": 3}, timeout=60).json()
    assert [choice["finish_reason"] for choice in body["choices"]] == ["stop"] * 3
    assert all(len(choice["text"]) < 40 for choice in body["choices"])

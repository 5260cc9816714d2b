import hashlib
import io

import pytest

from lstmgen import corpus as corpus_module
from lstmgen.corpus import CorpusError, NamedCorpus, default_corpus_text, fetch_named_corpus, read_corpus


def test_default_corpus_is_embedded_and_large():
    text = default_corpus_text()
    assert 400_000 < len(text) < 700_000
    assert read_corpus([]).sources == ("pydoc",)


def test_files_directories_globs_and_stdin(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.txt").write_text("beta\n", encoding="utf-8")
    (sub / "c.md").write_text("gamma\n", encoding="utf-8")
    assert read_corpus([str(tmp_path / "a.txt")]).text == "alpha\n"
    assert read_corpus([str(tmp_path)]).text == "alpha\n\nbeta\n"
    assert read_corpus([str(tmp_path)], pattern="*.md").text == "gamma\n"
    assert read_corpus([str(tmp_path / "**" / "*.txt")]).text == "alpha\n\nbeta\n"
    assert read_corpus(["-"], stdin=io.BytesIO("from stdin".encode())).text == "from stdin"


def test_invalid_utf8_names_file_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good text \xff\xfe more")
    with pytest.raises(CorpusError, match=r"bad\.txt: invalid utf-8 at byte offset 10.*--encoding-errors replace"):
        read_corpus([str(path)])
    assert "\ufffd" in read_corpus([str(path)], errors="replace").text
    assert read_corpus([str(path)], encoding="latin-1").text.startswith("good text ")


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"\x00\x01\x02binary", "binary"), (b"   \n\n", "only whitespace")])
def test_empty_binary_and_blank_corpora(tmp_path, content, message):
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_corpus([str(path)])


def test_missing_source():
    with pytest.raises(CorpusError, match="neither a file"):
        read_corpus(["/no/such/file.txt"])


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _fake_corpus(monkeypatch, tmp_path, payload: bytes, digest: str):
    monkeypatch.setenv("LSTMGEN_CACHE", str(tmp_path / "cache"))
    spec = NamedCorpus("fake", "https://example.invalid/fake.txt", digest, "fake.txt", "test corpus")
    monkeypatch.setitem(corpus_module.NAMED_CORPORA, "fake", spec)


def test_named_corpus_download_checksum_and_cache(monkeypatch, tmp_path):
    payload = b"downloaded text\n"
    _fake_corpus(monkeypatch, tmp_path, payload, hashlib.sha256(payload).hexdigest())
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return _FakeResponse(payload)

    monkeypatch.setattr(corpus_module.urllib.request, "urlopen", fake_urlopen)
    path = fetch_named_corpus("fake")
    assert path.read_bytes() == payload
    assert read_corpus(["fake"]).text == "downloaded text\n"
    assert len(calls) == 1  # the second read came from the cache


def test_named_corpus_bad_checksum_is_not_saved(monkeypatch, tmp_path):
    _fake_corpus(monkeypatch, tmp_path, b"x", "0" * 64)
    monkeypatch.setattr(corpus_module.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"tampered"))
    with pytest.raises(CorpusError, match="SHA-256"):
        fetch_named_corpus("fake")
    assert not (tmp_path / "cache" / "fake.txt").exists()


def test_named_corpus_offline_says_what_to_do(monkeypatch, tmp_path):
    _fake_corpus(monkeypatch, tmp_path, b"x", "0" * 64)

    def offline(url, timeout):
        raise corpus_module.urllib.error.URLError("no network")

    monkeypatch.setattr(corpus_module.urllib.request, "urlopen", offline)
    with pytest.raises(CorpusError, match="pass its path instead"):
        read_corpus(["fake"])

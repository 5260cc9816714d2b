import hashlib
import io
import os

import pytest

import lstmgen.data.corpus as corpus_module
from hangs import within
from local_mirror import Mirror, closed_port
from lstmgen.data.corpus import (
    CorpusError,
    NamedCorpus,
    Source,
    default_corpus_text,
    fetch_named_corpus,
    iter_blocks,
    read_corpus,
    resolve_sources,
)


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


def _fake_corpus(monkeypatch, tmp_path, urls, digest: str):
    monkeypatch.setenv("LSTMGEN_CACHE", str(tmp_path / "cache"))
    spec = NamedCorpus("fake", tuple(urls), digest, "fake.txt", "test corpus")
    monkeypatch.setitem(corpus_module.NAMED_CORPORA, "fake", spec)


def test_named_corpus_download_checksum_and_cache(monkeypatch, tmp_path):
    payload = b"downloaded text\n"
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "fake.txt").write_bytes(payload)
    with Mirror(tmp_path / "served") as mirror:
        _fake_corpus(monkeypatch, tmp_path, [f"{mirror.url}/fake.txt"], hashlib.sha256(payload).hexdigest())
        path = fetch_named_corpus("fake")
        assert path.read_bytes() == payload
        assert read_corpus(["fake"]).text == "downloaded text\n"
        assert mirror.requests == ["/fake.txt"]  # the second read came from the cache


def test_named_corpus_bad_checksum_is_not_saved(monkeypatch, tmp_path):
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "fake.txt").write_bytes(b"tampered")
    with Mirror(tmp_path / "served") as mirror:
        _fake_corpus(monkeypatch, tmp_path, [f"{mirror.url}/fake.txt"], "0" * 64)
        with pytest.raises(CorpusError, match="SHA-256"):
            fetch_named_corpus("fake")
    assert not (tmp_path / "cache" / "fake.txt").exists()


def test_named_corpus_offline_says_what_to_do(monkeypatch, tmp_path):
    _fake_corpus(monkeypatch, tmp_path, [closed_port()], "0" * 64)
    with pytest.raises(CorpusError, match="pass its path instead"):
        read_corpus(["fake"])


# ----- special files, endless streams and codecs that are not text encodings ------------------------------
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom"])
def test_a_fifo_or_device_is_refused_without_hanging(tmp_path, special):
    path = tmp_path / "corpus.txt"
    os.mkfifo(path) if special == "fifo" else os.symlink(special, path)
    kind = "a FIFO" if special == "fifo" else "a character device"
    with within(10):
        for read in (lambda: read_corpus([str(path)]), lambda: resolve_sources([str(path)])):
            with pytest.raises(CorpusError, match=rf"corpus.txt is {kind}.*not a regular file.*standard input"):
                read()
        with pytest.raises(CorpusError, match=kind):  # a FIFO swapped in after the sources were resolved
            list(iter_blocks(Source("swapped", path=path)))


def test_a_directory_holding_fifos_reads_its_regular_files_only(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n", encoding="utf-8")
    os.mkfifo(tmp_path / "b.txt")
    os.symlink("/dev/zero", tmp_path / "c.txt")
    with within(10):
        assert read_corpus([str(tmp_path)]).text == "alpha\n"
        assert [source.name for source in resolve_sources([str(tmp_path)])] == [str(tmp_path / "a.txt")]
        assert read_corpus([str(tmp_path / "*.txt")]).text == "alpha\n"


def test_standard_input_from_dev_zero_stops_at_the_first_block(tmp_path):
    with within(10), open("/dev/zero", "rb") as zeros:
        with pytest.raises(CorpusError, match="standard input looks like a binary file"):
            read_corpus(["-"], stdin=zeros)
        with pytest.raises(CorpusError, match="standard input looks like a binary file"):
            resolve_sources(["-"], stdin=zeros, spool_dir=tmp_path / "spool")
    assert list((tmp_path / "spool").iterdir()) == []  # the spooled part is removed
    text_then_zeros = io.BytesIO(b"some text\n" * 1000 + b"\x00" * 100)
    with pytest.raises(CorpusError, match="binary"):
        resolve_sources(["-"], stdin=text_then_zeros, spool_dir=tmp_path / "spool")


@pytest.mark.parametrize("encoding", ["base64", "zlib", "rot13", "hex", "undefined", "no-such-codec", "utf-8\x00"])
def test_codecs_that_are_not_text_encodings_are_refused(tmp_path, encoding):
    path = tmp_path / "x.txt"
    path.write_bytes(b"aGVsbG8gd29ybGQ=\n")
    with pytest.raises(CorpusError, match="unknown text encoding"):
        read_corpus([str(path)], encoding=encoding)
    with pytest.raises(CorpusError, match="unknown text encoding"):
        list(iter_blocks(Source("x", path=path, encoding=encoding)))


def test_an_unknown_error_handler_is_refused(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("text", encoding="utf-8")
    with pytest.raises(CorpusError, match="unknown encoding error handler 'lenient'"):
        read_corpus([str(path)], errors="lenient")
    with pytest.raises(CorpusError, match="unknown encoding error handler"):
        list(iter_blocks(Source("x", path=path), errors="lenient"))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_text_is_not_mistaken_for_binary(tmp_path, encoding):
    path = tmp_path / "x.txt"
    path.write_bytes("héllo wörld\n".encode(encoding))
    assert read_corpus([str(path)], encoding=encoding).text == "héllo wörld\n"
    assert "".join(text for _, text in iter_blocks(Source("x", path=path, encoding=encoding))) == "héllo wörld\n"


def test_a_truncated_utf16_file_is_a_corpus_error(tmp_path):
    """The incremental UTF-16 decoder raises a bare UnicodeError (not UnicodeDecodeError) for a stream that ends
    before its byte order mark is complete."""
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xd7")
    with pytest.raises(CorpusError, match="utf-16"):
        read_corpus([str(path)], encoding="utf-16")
    with pytest.raises(CorpusError, match="utf-16"):
        list(iter_blocks(Source("x", path=path, encoding="utf-16")))

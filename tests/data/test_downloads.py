"""Named corpora with an official split, downloaded from a real HTTP server on loopback: the checksum, the mirrors in
order, the offline advice, and the archive's members taken out by exact name."""

import hashlib
import zipfile

import pytest

from local_mirror import Mirror, closed_port, split_texts, use_fake_corpus, wikitext_zip
from lstmgen.data.corpus import (
    NAMED_CORPORA,
    CorpusError,
    fetch_named_corpus,
    read_corpus,
    resolve_sources,
    split_source,
    validation_sources,
)
from lstmgen.data.downloads import DownloadError, download_checked, extract_member, member_file_name


@pytest.fixture
def served(tmp_path):
    """A mirror serving a good archive (good.zip) and a corrupted copy of it (bad.zip: one byte changed)."""
    root = tmp_path / "mirror"
    root.mkdir()
    digest = wikitext_zip(root / "good.zip")
    data = bytearray((root / "good.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / "bad.zip").write_bytes(bytes(data))
    with Mirror(root) as mirror:
        yield mirror, digest


def _cache_files(cache):
    return sorted(path.name for path in cache.rglob("*")) if cache.exists() else []


def test_the_real_specs_name_their_mirrors_checksums_and_members():
    tokenized, raw = NAMED_CORPORA["wikitext2"], NAMED_CORPORA["wikitext2-raw"]
    assert tokenized.sha256 == "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c"
    assert raw.sha256 == "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11"
    assert tokenized.urls[0].endswith("/wikitext-2-v1.zip") and all(url.endswith("/wikitext-2-raw-v1.zip") for url in raw.urls)
    assert dict(tokenized.splits)["test"] == "wikitext-2/wiki.test.tokens"
    assert dict(raw.splits)["valid"] == "wikitext-2-raw/wiki.valid.raw"


def test_a_good_archive_is_cached_and_its_splits_extracted(served, tmp_path):
    mirror, digest = served
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [f"{mirror.url}/good.zip"], digest)
        texts = split_texts()
        for split in ("train", "valid", "test"):
            source = split_source("wikitext2", split)
            assert source.name == f"wikitext2:{split}"
            assert source.path.read_text(encoding="utf-8") == texts[split]
            assert source.path.parent == cache / "wikitext2"
        assert read_corpus(["wikitext2"]).text == texts["train"]  # as a training text: its train split
        assert [source.name for source in resolve_sources(["wikitext2"])] == ["wikitext2:train"]
        assert mirror.requests == ["/good.zip"]  # downloaded once; every later use read the cache
        assert hashlib.sha256((cache / "wikitext2.zip").read_bytes()).hexdigest() == digest
        assert not [name for name in _cache_files(cache) if name.startswith(".")]  # no temporary file left


def test_the_next_mirror_is_tried_and_a_corrupted_download_never_cached(served, tmp_path):
    mirror, digest = served
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [f"{mirror.url}/missing.zip", f"{mirror.url}/bad.zip", f"{mirror.url}/good.zip"], digest)
        assert split_source("wikitext2", "test").path.read_text(encoding="utf-8") == split_texts()["test"]
        assert mirror.requests == ["/missing.zip", "/bad.zip", "/good.zip"]
        use_fake_corpus(patch, tmp_path / "cache2", [f"{mirror.url}/missing.zip"], digest)
        with pytest.raises(CorpusError, match=r"missing.zip: HTTP Error 404"):
            read_corpus(["wikitext2"])


def test_a_checksum_mismatch_names_the_mirror_and_leaves_nothing(served, tmp_path):
    mirror, digest = served
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [f"{mirror.url}/bad.zip"], digest)
        with pytest.raises(CorpusError, match=rf"{mirror.url}/bad.zip: the download has SHA-256 [0-9a-f]{{64}}, expected {digest}"):
            read_corpus(["wikitext2"])
    assert _cache_files(cache) == []  # neither the bad archive nor a temporary file


def test_offline_says_how_to_pass_a_local_copy(tmp_path):
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [closed_port(), closed_port()], "0" * 64)
        with pytest.raises(CorpusError) as caught:
            resolve_sources(["wikitext2"])
    message = str(caught.value)
    assert "from any of its 2 mirrors" in message and "refused" in message.lower()
    assert f"place it at {cache / 'wikitext2.zip'}" in message and "LSTMGEN_CACHE" in message
    assert "lstmgen train DIR/wiki.train.tokens --val DIR/wiki.valid.tokens" in message and "DIR/wiki.test.tokens" in message


def test_a_copy_placed_in_the_cache_is_used_offline_and_a_tampered_extract_replaced(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    digest = wikitext_zip(cache / "wikitext2.zip")
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [closed_port()], digest)
        path = split_source("wikitext2", "valid").path
        path.write_text("tampered", encoding="utf-8")
        assert split_source("wikitext2", "valid").path.read_text(encoding="utf-8") == split_texts()["valid"]


def test_a_wrong_archive_in_the_cache_is_fetched_again(served, tmp_path):
    mirror, digest = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "wikitext2.zip").write_bytes(b"not the archive")
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [f"{mirror.url}/good.zip"], digest)
        assert hashlib.sha256(fetch_named_corpus("wikitext2").read_bytes()).hexdigest() == digest
    assert mirror.requests == ["/good.zip"]


def test_validation_comes_from_the_official_split_alone(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    digest = wikitext_zip(cache / "wikitext2.zip")
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, cache, [closed_port()], digest)
        assert [source.name for source in validation_sources(["wikitext2"])] == ["wikitext2:valid"]
        with pytest.raises(CorpusError, match="official validation split.*drop --val"):
            validation_sources(["wikitext2"], val="other.txt")
        with pytest.raises(CorpusError, match="official test split.*lstmgen eval RUN wikitext2 --split test"):
            validation_sources(["wikitext2"], test_fraction=0.1)
    assert validation_sources(["some.txt"]) == []


def test_members_are_taken_by_exact_name_and_never_outside_the_directory(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("../../escape.txt", "outside")
        opened.writestr("wikitext-2/wiki.test.tokens.bak", "not the member")
    directory = tmp_path / "out" / "inner"
    assert extract_member(archive, "../../escape.txt", directory) == directory / "escape.txt"
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(DownloadError, match="'wikitext-2/wiki.test.tokens' is missing"):
        extract_member(archive, "wikitext-2/wiki.test.tokens", directory)
    for bad in ("..", "/", "a\\b"):
        with pytest.raises(DownloadError, match="no usable file name"):
            member_file_name(bad)
    (tmp_path / "junk.zip").write_bytes(b"PK junk")
    with pytest.raises(DownloadError, match="cannot be read as a zip archive"):
        extract_member(tmp_path / "junk.zip", "x", directory)


def test_download_checked_reports_every_mirror(served, tmp_path):
    mirror, digest = served
    target = tmp_path / "cache" / "x.zip"
    with pytest.raises(DownloadError) as caught:
        download_checked([closed_port(), f"{mirror.url}/bad.zip"], digest, target)
    assert str(caught.value).count("; ") == 1 and "bad.zip: the download has SHA-256" in str(caught.value)
    assert not target.exists()


def test_the_raw_release_reads_its_raw_members(served, tmp_path):
    mirror, _ = served
    texts = {split: text.replace("<unk>", "Gallia") for split, text in split_texts().items()}
    digest = wikitext_zip(mirror.root / "raw.zip", texts, directory="wikitext-2-raw", suffix="raw")
    with pytest.MonkeyPatch.context() as patch:
        use_fake_corpus(patch, tmp_path / "cache", [f"{mirror.url}/raw.zip"], digest, name="wikitext2-raw",
                        directory="wikitext-2-raw", suffix="raw")
        source = split_source("wikitext2-raw", "test")
        assert source.path.name == "wiki.test.raw" and source.path.read_text(encoding="utf-8") == texts["test"]
        assert read_corpus(["wikitext2-raw"]).text == texts["train"]

"""The corpus reader on arbitrary bytes, encodings (real, exotic, codecs that are not text encodings, garbage
names) and error handlers: only CorpusError, and every reader (a file, its blocks, standard input) agrees."""

from __future__ import annotations

import pytest
from hypothesis import given

from fuzzing import assert_passes, bounded, fuzz_inputs


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return fuzz_inputs.Workspace(tmp_path_factory.mktemp("corpus-fuzz"))


@bounded(250)
@given(case=fuzz_inputs.corpus_cases())
def test_arbitrary_bytes_and_encodings_give_text_or_a_corpus_error(workspace, case):
    assert_passes(lambda c: fuzz_inputs.check_corpus(c, workspace), case)


@pytest.mark.parametrize("case", [(b"   \n\t ", "utf-16", "backslashreplace", 2), (b"\xaf\x97\x8cj\x99n", "utf-32", "strict", 1),
                                  (b"caf\xe9", "utf-8", "xmlcharrefreplace", 64), (b"hi", "zlib", "strict", 64), (b"u4-0fa", "punycode", "replace", 1)])
def test_cases_the_fuzzer_found(workspace, case):
    """BOM-less UTF-16/32 read in small blocks (their incremental decoders raise where bytes.decode does not), an error
    handler that cannot decode (a TypeError), a codec that is not a text encoding (bytes out, not text), punycode (its
    incremental decoder decodes each block on its own: refused)."""
    assert_passes(lambda c: fuzz_inputs.check_corpus(c, workspace), case)

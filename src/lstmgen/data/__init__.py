"""Text in, tokens on disk, TBPTT windows out: the first stage of the data flow.

    corpus.py     sources: files, directories, globs, stdin, the embedded default and the named corpora
                  (downloaded once, checked by SHA-256; official train / valid / test splits where a corpus has
                  them); decoding and the checks for binary input
    downloads.py  mirrors tried in order, each download checked by SHA-256 and renamed into the cache only then;
                  zip members taken out by exact name
    documents.py  document mode: where one document ends and the next begins
    labelled.py   labelled documents (JSON Lines, CSV/TSV, a directory per label), read one record at a time
    store.py      the token store (tokens.bin memmap + meta.json): ``lstmgen prepare``, streamed in blocks
    batches.py    the split into train / validation / test and the TBPTT batch iterator (B streams, window T,
                  resumable cursor; under torchrun each rank owns its share of the streams)

This face imports no torch: ``lstmgen prepare`` and ``lstmgen --help`` run without it.
"""

from .batches import BatchIterator, DataError, split_bounds, split_contiguous
from .corpus import CorpusError, read_corpus, resolve_sources
from .store import StoreError, TokenStore, is_store, prepare

__all__ = ["BatchIterator", "DataError", "split_bounds", "split_contiguous", "CorpusError", "read_corpus",
           "resolve_sources", "StoreError", "TokenStore", "is_store", "prepare"]

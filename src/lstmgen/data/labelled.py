"""Labelled documents: a corpus whose every document carries a label (an author, a genre, a speaker).

    lstmgen train reviews.jsonl --labels jsonl                    # {"text": "...", "label": "positive"} per line
    lstmgen train reviews.jsonl --labels jsonl --text-field body --label-field stars
    lstmgen train reviews.csv --labels csv                        # a header row naming a text and a label column
    lstmgen train reviews.tsv --labels tsv
    lstmgen train authors/ --labels directories                   # authors/poe/*.txt, authors/austen/*.txt, ...
    lstmgen train data.jsonl --labels auto                        # the format from the extension (directory: directories)

Records are read one at a time (a corpus larger than memory streams). A record whose text is empty or only
whitespace is skipped (as document mode skips empty documents); a missing field or column, a label that is
empty or not a string, a label directory with no files: each is a CorpusError naming the file and the line.
The token store writes each document as ``<label> text <end of document>`` (``data.store``); the label set
lives in the tokenizer (``tokenizers.labels``).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..system.untrusted import open_regular
from .corpus import CorpusError, Source, _expand

LABEL_FORMATS = ("jsonl", "csv", "tsv", "directories")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
_FIELD_LIMIT = 1 << 30  # csv's default field limit (128 KiB) is far below a long document


@dataclass(frozen=True)
class LabelledDocument:
    label: str
    text: str
    where: str  # "FILE:LINE" (or the file of a directory's document), for error messages


@dataclass(frozen=True)
class LabelledCorpus:
    """Labelled documents named by ``sources`` in ``format`` (one of LABEL_FORMATS, or "auto")."""

    sources: tuple[str, ...]
    format: str = "auto"
    text_field: str = "text"
    label_field: str = "label"
    pattern: str = "*.txt"  # the files of a label directory
    encoding: str = "utf-8"
    errors: str = "strict"

    def __post_init__(self) -> None:
        if self.format not in ("auto",) + LABEL_FORMATS:
            raise CorpusError(f"--labels must be one of auto, {', '.join(LABEL_FORMATS)}; got {self.format!r}")
        if not self.sources:
            raise CorpusError("labelled training needs a corpus: a JSON Lines, CSV or TSV file, or a directory with one "
                              "directory per label")
        for source in self.sources:
            if source == "-":
                raise CorpusError("labelled data cannot come from standard input; save it to a file first")
            if not Path(source).exists():
                raise CorpusError(f"{source}: no such file or directory (labelled data is read from files)")
        if not self.text_field or not self.label_field or self.text_field == self.label_field:
            raise CorpusError(f"--text-field and --label-field must be two different names (got {self.text_field!r} and "
                              f"{self.label_field!r})")

    def format_of(self, source: str) -> str:
        if self.format != "auto":
            return self.format
        if Path(source).is_dir():
            return "directories"
        found = EXTENSIONS.get(Path(source).suffix.lower())
        if found is None:
            raise CorpusError(f"{source}: cannot tell the labelled format from its extension; pass --labels "
                              f"{'|'.join(LABEL_FORMATS)}")
        return found

    def files(self) -> list[Source]:
        """Every file the documents come from, in reading order (what the token store hashes)."""
        found: list[Source] = []
        for source in self.sources:
            if self.format_of(source) == "directories":
                found.extend(Source(str(path), path=path, encoding=self.encoding) for _, path in self._directory_files(source))
            else:
                if not Path(source).is_file():
                    raise CorpusError(f"{source} is not a file; a {self.format_of(source)} corpus is one file (a directory of "
                                      "labelled files: --labels directories)")
                found.append(Source(source, path=Path(source), encoding=self.encoding))
        return found

    def documents(self) -> Iterator[LabelledDocument]:
        """The documents with non-blank text, in order, one at a time."""
        for source in self.sources:
            reader = {"jsonl": self._json_lines, "csv": self._table, "tsv": self._table,
                      "directories": self._directories}[self.format_of(source)]
            for document in reader(source):
                if document.text.strip():
                    yield document

    def labels(self) -> tuple[str, ...]:
        """The sorted label set of all documents (one pass over them)."""
        found = sorted({document.label for document in self.documents()})
        if not found:
            raise CorpusError(f"the labelled corpus ({', '.join(self.sources)}) holds no document with text")
        return tuple(found)

    # ----- the formats -------------------------------------------------------------------------------
    def _text_lines(self, path: str) -> io.TextIOWrapper:
        handle = open_regular(Path(path), CorpusError, what="labelled data file")
        return io.TextIOWrapper(handle, encoding=self.encoding, errors=self.errors, newline="")

    def _label(self, value: object, where: str) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # {"label": 5}: stars as numbers are a fine label
        if not isinstance(value, str) or not value.strip():
            raise CorpusError(f"{where}: the label ({self.label_field!r}) is empty; every document needs a label")
        if "\n" in value or "\r" in value:
            raise CorpusError(f"{where}: the label {value[:40]!r} spans lines; a label is one line")
        return value.strip()

    def _json_lines(self, path: str) -> Iterator[LabelledDocument]:
        with self._text_lines(path) as lines:
            try:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    where = f"{path}:{number}"
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as error:
                        raise CorpusError(f"{where}: not a JSON object ({error.msg}); JSON Lines hold one object per line") from None
                    if not isinstance(record, dict):
                        raise CorpusError(f"{where}: a {type(record).__name__}, not a JSON object with {self.text_field!r} and "
                                          f"{self.label_field!r}")
                    for name in (self.text_field, self.label_field):
                        if name not in record:
                            raise CorpusError(f"{where}: no {name!r} field (the record has {', '.join(map(repr, record)) or 'none'}); "
                                              "name the fields with --text-field and --label-field")
                    if not isinstance(record[self.text_field], str):
                        raise CorpusError(f"{where}: the text ({self.text_field!r}) is a {type(record[self.text_field]).__name__}, "
                                          "not a string")
                    yield LabelledDocument(self._label(record[self.label_field], where), record[self.text_field], where)
            except UnicodeDecodeError as error:
                raise CorpusError(f"{path}: invalid {self.encoding} ({error.reason}); pass the right --encoding") from None

    def _table(self, path: str) -> Iterator[LabelledDocument]:
        delimiter = "\t" if self.format_of(path) == "tsv" else ","
        csv.field_size_limit(min(sys.maxsize, _FIELD_LIMIT))
        with self._text_lines(path) as lines:
            reader = csv.reader(lines, delimiter=delimiter)
            try:
                header = next(reader, None)
                if header is None:
                    raise CorpusError(f"{path} is empty: a labelled table needs a header row naming its columns")
                columns = {}
                for name in (self.text_field, self.label_field):
                    if name not in header:
                        raise CorpusError(f"{path}:1: no column {name!r} in the header ({', '.join(map(repr, header))}); name the "
                                          "columns with --text-field and --label-field")
                    columns[name] = header.index(name)
                text_column, label_column = columns[self.text_field], columns[self.label_field]
                for row in reader:
                    where = f"{path}:{reader.line_num}"
                    if not row or row == [""]:
                        continue
                    if len(row) <= max(text_column, label_column):
                        raise CorpusError(f"{where}: {len(row)} columns, but the header has {len(header)}")
                    yield LabelledDocument(self._label(row[label_column], where), row[text_column], where)
            except csv.Error as error:
                raise CorpusError(f"{path}:{reader.line_num}: not valid {self.format_of(path).upper()} ({error})") from None
            except UnicodeDecodeError as error:
                raise CorpusError(f"{path}: invalid {self.encoding} ({error.reason}); pass the right --encoding") from None

    def _directory_files(self, directory: str) -> list[tuple[str, Path]]:
        root = Path(directory)
        if not root.is_dir():
            raise CorpusError(f"{directory} is not a directory; --labels directories reads DIR/LABEL/*.txt")
        loose = sorted(path.name for path in root.iterdir() if path.is_file() and not path.name.startswith("."))
        if loose:
            raise CorpusError(f"{directory} holds files outside a label directory ({', '.join(loose[:5])}); put every document "
                              "in DIR/LABEL/")
        labels = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
        if not labels:
            raise CorpusError(f"{directory} holds no label directories; --labels directories reads DIR/LABEL/*.txt")
        found: list[tuple[str, Path]] = []
        for label_dir in labels:
            try:
                files = _expand(str(label_dir), self.pattern)
            except CorpusError:
                raise CorpusError(f"the label directory {label_dir} holds no files matching {self.pattern!r}; add documents "
                                  "or change --glob") from None
            found.extend((self._label(label_dir.name, str(label_dir)), path) for path in files)
        return found

    def _directories(self, directory: str) -> Iterator[LabelledDocument]:
        for label, path in self._directory_files(directory):
            with open_regular(path, CorpusError, what="document") as handle:
                data = handle.read()
            try:
                text = data.decode(self.encoding, errors=self.errors)
            except UnicodeDecodeError as error:
                raise CorpusError(f"{path}: invalid {self.encoding} at byte offset {error.start}; pass the right --encoding") from None
            yield LabelledDocument(label, text, str(path))


def labelled_corpus(sources: Sequence[str], format: str, text_field: str = "text", label_field: str = "label",
                    pattern: str = "*.txt", encoding: str = "utf-8", errors: str = "strict") -> LabelledCorpus:
    return LabelledCorpus(tuple(sources), format, text_field, label_field, pattern, encoding, errors)

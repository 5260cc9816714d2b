"""Document mode: a corpus cut into documents, each followed by an end-of-document token.

    lstmgen train tweets.txt --documents lines           # every line is a document
    lstmgen train stories/ --documents blank-lines       # documents are separated by one or more blank lines
    lstmgen train poems.txt --documents '<|poem|>'       # or by any separator string

The separators themselves are not text of any document: the store drops them and writes the tokenizer's
end-of-document id after every document instead (empty documents are skipped). The model learns where
documents end; generation stops there (finish reason "stop"), and a prompt is read after an end of
document, so the model knows it writes the beginning of one.
"""

from __future__ import annotations

import re

DOCUMENT_MODES = ("lines", "blank-lines")  # or any other non-empty string: a literal separator
END = None  # what ``DocumentSplitter.feed`` yields between documents


def separator_pattern(mode: str) -> re.Pattern:
    if mode == "lines":
        return re.compile(r"\n")
    if mode == "blank-lines":
        return re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")  # one or more blank lines (spaces and tabs on them too)
    if not mode:
        raise ValueError("a document separator must not be empty")
    return re.compile(re.escape(mode))


class DocumentSplitter:
    """Cuts text given piece by piece into documents, finding separators across piece boundaries.

    ``feed`` returns the documents' text and ``END`` markers as they become certain; ``finish(complete)``
    flushes the rest (with an ``END`` after it when the text is complete, without one when it was cut).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.pattern = separator_pattern(mode)
        self.carry = ""  # text held back: it may hold the start of a separator that continues in the next piece
        self.open = False  # whether the current document has shown text (whitespace-only documents are skipped)
        self.pending = ""  # the current document's whitespace while it has no other text

    def _held_back(self, tail: str) -> int:
        """How much of the end of ``tail`` (text after the last separator) may still begin a separator."""
        if self.mode == "lines":
            return 0
        if self.mode == "blank-lines":
            spaces = len(tail) - len(tail.rstrip(" \t\n"))  # trailing whitespace could grow into blank lines
            return spaces if "\n" in tail[len(tail) - spaces :] else 0
        for size in range(min(len(self.mode) - 1, len(tail)), 0, -1):
            if tail.endswith(self.mode[:size]):
                return size
        return 0

    def feed(self, text: str) -> list[str | None]:
        return self._split(self.carry + text, hold=True)

    def finish(self, complete: bool = True) -> list[str | None]:
        """The rest: with an END after it when the corpus ends here (not when a split cut the text)."""
        out = self._split(self.carry, hold=False)
        if complete and self.open:
            out.append(END)
        self.open, self.pending = False, ""
        return out

    def _split(self, text: str, hold: bool) -> list[str | None]:
        matches = list(self.pattern.finditer(text))
        cut = len(text)
        if hold:
            if matches and self.mode == "blank-lines" and matches[-1].end() == len(text):
                cut = matches.pop().start()  # the blank lines may go on in the next piece
            else:
                after = matches[-1].end() if matches else 0
                cut = len(text) - self._held_back(text[after:])
        self.carry = text[cut:]
        out: list[str | None] = []
        position = 0
        for match in matches:
            self._emit(out, text[position : match.start()])
            if self.open:
                out.append(END)
            self.open, self.pending = False, ""
            position = match.end()
        self._emit(out, text[position:cut])
        return out

    def _emit(self, out: list[str | None], text: str) -> None:
        if not text:
            return
        if self.open:
            out.append(text)
        elif text.strip():
            out.append(self.pending + text)
            self.open, self.pending = True, ""
        else:
            self.pending += text

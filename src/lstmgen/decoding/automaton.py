"""A regular language over the model's tokens: which tokens may come next so the text can still end in a match.

``interegular`` (pure Python) compiles a pattern into a character automaton (a DFA over character classes).
``TokenAutomaton.build`` turns it into an automaton over this tokenizer's tokens, explored breadth-first from
the start: a state is a character state plus what the tokenizer carries from one token to the next, which
decides how the next token is spelt:

    char, word          the token's text, after the separator the tokenizer adds by rule (a word tokenizer puts
                        a space between two words): a context of two values, "a separator comes" or not
    byte, bpe, unigram  the token's bytes; the context is an unfinished UTF-8 character (a token may end inside
                        one): its bytes while they may still become a non-ASCII character the pattern names,
                        else only how many bytes it lacks (every other such character is alike to the pattern)

Every state keeps only the tokens after which an accepting state is still reachable (the states are pruned
backwards from the accepting ones), and knows how many tokens it is at least from one (``distance``), so a
sample can be steered to finish its match within its token budget. The tensors decoding reads each step:

    blocked        [S, V] bool   the tokens a state may not draw
    next_distance  [S, V] int16  tokens still needed after drawing each (BEYOND where not allowed)

Building walks a trie of the vocabulary's spellings from each state, cut where the character automaton dies,
so a pattern that allows few texts costs little; one that allows nearly everything costs one pass over the
vocabulary per state. Built automata are cached per tokenizer (``automaton_for``).
"""

from __future__ import annotations

import collections
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from ..config import ConfigError
from ..tokenizers import Tokenizer

BEYOND = 32767  # next_distance where a token is not allowed (int16's largest)
MAX_STATES = 20_000  # a pattern whose token automaton grows past this is refused
MAX_CELLS = 1 << 26  # states x vocabulary: 64 Mi cells (128 MiB of int16) at most
BYTE_KINDS = ("byte", "bpe", "unigram")  # tokenizers spelt in bytes (a token may end inside a character)


def compile_pattern(pattern: str, field: str = "regex") -> Any:
    """The interegular character automaton (FSM) of a Python-style regular expression, or a ConfigError naming ``field``."""
    try:
        import interegular
    except ImportError:
        raise ConfigError("constraints need the interegular package: pip install 'lstmgen[constraints]'", field) from None
    try:
        parsed = interegular.parse_pattern(pattern)
    except Exception as error:  # its parser raises its own types, some with empty messages
        detail = f": {error}" if str(error) else ""
        raise ConfigError(f"{field} {pattern!r} is not a regular expression this library can compile "
                          f"({type(error).__name__}{detail}); lookarounds, backreferences and \\b are not supported", field) from None
    # Counted repetitions multiply ((a{100}){100} is 10,000 states): refused from the parse, before the costly part.
    if _expanded_size(parsed) > MAX_STATES:
        raise ConfigError(f"{field} {pattern!r} spells out to more than {MAX_STATES:,} characters of pattern once its counted "
                          "repetitions are expanded; use smaller counts", field)
    return parsed.to_fsm()


def _expanded_size(node: Any) -> int:
    """About how many characters a parsed interegular pattern holds once its counted repetitions are written out."""
    if hasattr(node, "options"):  # alternatives
        return sum(_expanded_size(option) for option in node.options)
    if hasattr(node, "parts"):  # a concatenation
        return sum(_expanded_size(part) for part in node.parts)
    if hasattr(node, "base") and hasattr(node, "min"):  # a repetition {min,max}, * or +
        return _expanded_size(node.base) * max(node.min if node.max is None else node.max, 1)
    return 1


def literal(text: str) -> str:
    """A pattern matching ``text`` exactly (every character that is not a letter or digit escaped)."""
    return "".join(char if char.isalnum() else "\\" + char for char in text)


# ----- the character automaton ----------------------------------------------------------------------------
class _Characters:
    """The pattern's character DFA: one step, and the states from which an accepting state is reachable."""

    def __init__(self, fsm: Any) -> None:
        self.fsm, self.alphabet, self.map = fsm, fsm.alphabet, fsm.map
        self.finals = set(fsm.finals)
        reverse: dict[Any, set] = collections.defaultdict(set)
        for state, moves in fsm.map.items():
            for target in moves.values():
                reverse[target].add(state)
        live, queue = set(self.finals), collections.deque(self.finals)
        while queue:
            for source in reverse[queue.popleft()]:
                if source not in live:
                    live.add(source)
                    queue.append(source)
        self.live = live
        from interegular.fsm import anything_else

        # An unfinished character matters only while it may still become one the pattern names; any other is kept
        # as a stand-in of its length (a lead byte no named character uses), so byte states stay few.
        named = [symbol.encode("utf-8") for symbol in self.alphabet if symbol is not anything_else and ord(symbol) >= 128]
        self.named_prefixes = {encoded[:size] for encoded in named for size in range(1, len(encoded))}
        leads = {encoded[0] for encoded in named}
        self.stand_in = {}
        for length, candidates in ((2, range(0xC2, 0xE0)), (3, [*range(0xE1, 0xED), 0xEE, 0xEF]), (4, range(0xF1, 0xF4))):
            lead = next((byte for byte in candidates if byte not in leads), None)
            self.stand_in[length] = None if lead is None else bytes([lead]) + b"\x80" * (length - 2)

    def step(self, state: Any, char: str) -> Any:
        """The live state after ``char``, or None."""
        try:
            target = self.map[state].get(self.alphabet[char])
        except KeyError:
            return None
        return target if target in self.live else None


# ----- spelling tokens --------------------------------------------------------------------------------------
class _Node:
    __slots__ = ("children", "ids")

    def __init__(self) -> None:
        self.children: dict[Any, _Node] = {}
        self.ids: list[int] = []


def _trie(spellings: Iterable[tuple[int, Sequence]]) -> _Node:
    root = _Node()
    for token, spelling in spellings:
        node = root
        for symbol in spelling:
            node = node.children.setdefault(symbol, _Node())
        node.ids.append(token)
    return root


def _utf8_length(lead: int) -> int:
    return 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def _byte_step(characters: _Characters, state: Any, pending: bytes, byte: int) -> tuple[Any, bytes] | None:
    """(character state, unfinished bytes) after one more byte, or None where the text leaves the language."""
    if not pending:
        if byte < 0x80:
            target = characters.step(state, chr(byte))
            return None if target is None else (target, b"")
        if not 0xC2 <= byte <= 0xF4:
            return None  # a continuation byte with no lead, or a lead UTF-8 never uses
        pending = bytes([byte])
    elif 0x80 <= byte <= 0xBF:
        pending += bytes([byte])
    else:
        return None
    length = _utf8_length(pending[0])
    if len(pending) < length:  # kept as a stand-in when it cannot become a character the pattern names (see _Characters)
        stand_in = characters.stand_in[length]
        return state, (pending if pending in characters.named_prefixes or stand_in is None else stand_in[: len(pending)])
    try:
        char = pending.decode("utf-8")
    except UnicodeDecodeError:  # an overlong form or a surrogate
        return None
    target = characters.step(state, char)
    return None if target is None else (target, b"")


class _Spelling:
    """How this tokenizer spells its tokens, as tries to walk (see the module's docstring)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        size = tokenizer.vocab_size
        skipped = set(tokenizer.never_generated) | {tokenizer.end_of_document}
        self.bytes = getattr(tokenizer, "kind", "") in BYTE_KINDS
        ids = [i for i in range(size) if i not in skipped]
        if self.bytes:
            spell = getattr(tokenizer, "token_bytes", None) or (lambda i: bytes([i]))
            self.tries = {None: _trie((i, spell(i)) for i in ids)}
            self.after: dict[int, Any] = {}
            return
        # Text kinds: probe the tokenizer's separator rule with a word-like token rather than restating it.
        self.probe = next((i for i in ids if tokenizer.token_text(i)[:1].isalnum()), None)
        self.after = {i: self._separated(tokenizer, [i], None) for i in ids}  # the context after each token
        contexts = {False, *self.after.values()}
        leader = next((i for i in ids if self.after[i]), None)
        self.tries = {context: _trie((i, tokenizer.stream_decoder([leader] if context else []).feed(i)) for i in ids)
                      for context in contexts}

    def _separated(self, tokenizer: Tokenizer, context: list[int], text: str | None) -> bool:
        if self.probe is None:
            return False
        return tokenizer.stream_decoder(context, text).feed(self.probe).startswith(" ")

    def start(self, tokenizer: Tokenizer, prompt_ids: Sequence[int], prompt_text: str | None) -> Any:
        """The context generation starts in after this prompt."""
        return b"" if self.bytes else self._separated(tokenizer, list(prompt_ids), prompt_text)


def _walk(characters: _Characters, spelling: _Spelling, state: Any, context: Any) -> list[tuple[int, Any, Any]]:
    """(token, character state, context) after every token that keeps the text live from (state, context)."""
    found = []
    if spelling.bytes:
        stack = [(spelling.tries[None], state, context)]
        while stack:
            node, at, pending = stack.pop()
            for byte, child in node.children.items():
                moved = _byte_step(characters, at, pending, byte)
                if moved is None:
                    continue
                found.extend((token, *moved) for token in child.ids)
                if child.children:
                    stack.append((child, *moved))
        return found
    after = spelling.after
    stack = [(spelling.tries[context], state)]
    while stack:
        node, at = stack.pop()
        for char, child in node.children.items():
            target = characters.step(at, char)
            if target is None:
                continue
            found.extend((token, target, after[token]) for token in child.ids)
            if child.children:
                stack.append((child, target))
    return found


def _walk_bytes(characters: _Characters, state: Any, data: bytes) -> tuple[Any, bytes] | None:
    pending = b""
    for byte in data:
        moved = _byte_step(characters, state, pending, byte)
        if moved is None:
            return None
        state, pending = moved
    return state, pending


# ----- the token automaton ----------------------------------------------------------------------------------
@dataclass
class TokenAutomaton:
    """The pattern over this tokenizer's tokens (see the module's docstring). State ``start`` begins every sample."""

    blocked: torch.Tensor  # [S, V] bool: the tokens a state may not draw
    next_distance: torch.Tensor  # [S, V] int16: tokens still needed to reach an accepting state after each token
    transitions: list[dict[int, int]]  # state -> {allowed token: next state}
    accepting: list[bool]  # the text so far is a whole match
    distance: list[int]  # the fewest tokens from each state to an accepting one
    cheapest: list[int]  # the fewest tokens still needed after the state's cheapest next token (BEYOND: none)
    farthest: list[int]  # the most tokens still needed after any of its allowed tokens: a larger budget cuts nothing
    start: int

    def __post_init__(self) -> None:
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def size(self) -> int:
        return len(self.transitions)

    def tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(blocked, next_distance) on ``device``, copied there once."""
        found = self._on.get(device)
        if found is None:
            found = self._on[device] = (self.blocked.to(device), self.next_distance.to(device))
        return found

    def can_go_on(self, state: int, budget: int) -> bool:
        """Whether a sample at ``state`` can draw another token and still finish a match within ``budget`` tokens."""
        return budget > 0 and self.cheapest[state] <= budget - 1

    @classmethod
    def build(cls, fsm: Any, tokenizer: Tokenizer, prompt_ids: Sequence[int] = (), prompt_text: str | None = None,
              healed: bytes | None = None, healed_ids: Sequence[int] = (), what: str = "the pattern",
              field: str | None = "regex") -> "TokenAutomaton":
        """Explore the token automaton of ``fsm`` from the start (after ``prompt_ids``).

        ``healed``: the bytes of a prompt token taken back by token healing; the first token is then one of
        ``healed_ids`` (they start with those bytes) and only the rest of its bytes count as generated text.
        Raises ConfigError (naming ``field``) when no text this vocabulary can spell matches, or the automaton is too large.
        """
        characters, spelling = _Characters(fsm), _spelling(tokenizer)
        vocab = tokenizer.vocab_size
        keys: list[Any] = []
        index: dict[Any, int] = {}

        def state_of(key: Any) -> int:
            found = index.get(key)
            if found is None:
                if len(keys) >= MAX_STATES or (len(keys) + 1) * vocab > MAX_CELLS:
                    raise ConfigError(f"{what} needs more than {len(keys):,} states over this vocabulary of {vocab:,} "
                                      "tokens; simplify it (fewer or smaller repetitions)", field)
                found = index[key] = len(keys)
                keys.append(key)
            return found

        initial = characters.fsm.initial
        rows: list[dict[int, int]] = []
        if healed is not None:  # a start of its own: the first token's bytes after the healed ones
            start = state_of(("healed",))
            row = {}
            for token in healed_ids:
                moved = _walk_bytes(characters, initial, tokenizer.token_bytes(token)[len(healed):])
                if moved is not None and initial in characters.live:
                    row[token] = state_of(moved)
            rows.append(row)
        else:
            start = state_of((initial, spelling.start(tokenizer, prompt_ids, prompt_text)))
        while len(rows) < len(keys):  # breadth-first: each state's row found once
            state, context = keys[len(rows)]
            rows.append({} if state not in characters.live else
                        {token: state_of((target, after)) for token, target, after in _walk(characters, spelling, state, context)})
        size = len(keys)
        accepting = [key[0] in characters.finals and (not spelling.bytes or key[1] == b"") if len(key) == 2 else False
                     for key in keys]
        # Distances backwards from the accepting states; the states that cannot reach one are dropped from every row.
        reverse: list[list[int]] = [[] for _ in range(size)]
        for source, row in enumerate(rows):
            for target in set(row.values()):
                reverse[target].append(source)
        distance = [0 if flag else BEYOND for flag in accepting]
        queue = collections.deque(s for s in range(size) if accepting[s])
        while queue:
            target = queue.popleft()
            for source in reverse[target]:
                if distance[source] == BEYOND:
                    distance[source] = distance[target] + 1
                    queue.append(source)
        if distance[start] == BEYOND:
            raise ConfigError(f"no text this model can write matches {what}: its vocabulary cannot spell one", field)
        rows = [{token: target for token, target in row.items() if distance[target] < BEYOND} for row in rows]
        next_distance = torch.full((size, vocab), BEYOND, dtype=torch.int16)
        cheapest, farthest = [BEYOND] * size, [0] * size
        for source, row in enumerate(rows):
            if row:
                costs = [distance[target] for target in row.values()]
                next_distance[source, torch.tensor(list(row), dtype=torch.long)] = torch.tensor(costs, dtype=torch.int16)
                cheapest[source], farthest[source] = min(costs), max(costs)
        if tokenizer.end_of_document is not None:  # the end of a document ends a sample: only after a whole match
            next_distance[:, tokenizer.end_of_document] = torch.tensor([0 if flag else BEYOND for flag in accepting], dtype=torch.int16)
        return cls(next_distance == BEYOND, next_distance, rows, accepting, distance, cheapest, farthest, start)


# tokenizer -> its spellings (tries), built once; and its automata, by what they were built from (a few kept).
_SPELLINGS: "weakref.WeakKeyDictionary[Any, _Spelling]" = weakref.WeakKeyDictionary()
_AUTOMATA: "weakref.WeakKeyDictionary[Any, collections.OrderedDict]" = weakref.WeakKeyDictionary()
CACHED_AUTOMATA = 16  # per tokenizer


_LOCK = threading.RLock()  # the server's worker threads share the caches


def _spelling(tokenizer: Tokenizer) -> _Spelling:
    with _LOCK:
        found = _SPELLINGS.get(tokenizer)
        if found is None:
            found = _SPELLINGS[tokenizer] = _Spelling(tokenizer)
        return found


def start_context(tokenizer: Tokenizer, prompt_ids: Sequence[int], prompt_text: str | None) -> Any:
    """What the tokenizer carries into the first generated token after this prompt (part of an automaton's key)."""
    return _spelling(tokenizer).start(tokenizer, prompt_ids, prompt_text)


def automaton_for(key: Any, fsm: Any, tokenizer: Tokenizer, **build: Any) -> TokenAutomaton:
    """``TokenAutomaton.build(fsm, tokenizer, **build)``, cached per tokenizer under ``key`` (which must name the
    pattern and every argument that changes the result)."""
    with _LOCK:
        cache = _AUTOMATA.setdefault(tokenizer, collections.OrderedDict())
        found = cache.get(key)
        if found is None:
            found = cache[key] = TokenAutomaton.build(fsm, tokenizer, **build)
            while len(cache) > CACHED_AUTOMATA:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return found

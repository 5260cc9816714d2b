"""The budget-aware default against the plain char-rnn loop on corpora the default was never tuned on; prints JSON.

    python benchmarks/training/untuned_corpora.py --minutes 3 --out runs/untuned-corpora.json

The default plan was tuned on Tiny Shakespeare and Nietzsche. This measures it, at the same budget as the
plain loop (``baseline_loops.py --loop char-rnn``), on text of other kinds (issue 28's bar: the default's
held-out nats at most 0.95x the plain loop's on every one):

* ``source-code``: this Python's standard library, its top-level ``*.py`` files in name order, whole files
  until 2,000,000 characters;
* ``captions``: COCO captions, ``../shared/data/coco-captions/train.txt``;
* ``pydoc``: the embedded documentation, lstmgen's default corpus (``pydoc_data.topics``);
* ``german``: the German manual pages of this machine's Debian packages (``/usr/share/man/de``: apt, dpkg,
  man-db, shadow, ...), their troff markup stripped here. Non-English, offline and real prose; some pages are
  only partly translated, so English sentences stand among the German ones;
* ``abc-folk``: the folk tunes in ABC notation from music21's corpus, read as plain characters (the music
  extra).

For each corpus, one after the other (never in parallel): the text is written to the work directory, ``lstmgen
train`` trains its default for ``--minutes`` (as ``lstmgen train FILE --time-budget M``), then the char-rnn loop
trains for the same minutes on the token store that run prepared, so both see the same tokens and the same
held-out text (the corpus's last 10 %). Both are scored by the same call, ``baseline_loops.score``: lstmgen's
full pass with the state carried through the whole held-out text, nats per token (= per character: the
default reads characters here). lstmgen's figure is its best checkpoint (the one ``lstmgen eval`` reads); the
trainer's own record of it (``trainer_best_val_nats``) is printed beside it as a check. Each corpus's text
is identified by its SHA-256 and size in the JSON. A full run takes about (2 x minutes + 1) per corpus.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from baseline_loops import char_rnn, score

import lstmgen
from lstmgen import LanguageModel, train
from lstmgen.data.corpus import cache_directory, default_corpus_text
from lstmgen.data.store import TokenStore
from lstmgen.evaluation.static import scored_text_size
from lstmgen.system import run_directory
from lstmgen.system.runtime import machine_record

BAR = 0.95  # the default's held-out nats / the plain loop's, on every corpus
SOURCE_CHARACTERS = 2_000_000
CAPTIONS = Path("../shared/data/coco-captions/train.txt")
GERMAN_MANUALS = Path("/usr/share/man/de")


# ----- the corpora ---------------------------------------------------------------------------------
def source_code(args: argparse.Namespace) -> str:
    """The standard library's top-level modules, in name order, whole files up to SOURCE_CHARACTERS."""
    parts, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if size + len(text) > SOURCE_CHARACTERS:
            break
        parts.append(text)
        size += len(text)
    return "\n\n".join(parts)


def captions(args: argparse.Namespace) -> str:
    path = Path(args.captions)
    if not path.exists():
        raise SystemExit(f"{path} is absent: run from the repository root on a machine with ../shared/data, or pass --captions")
    return path.read_text(encoding="utf-8")


def pydoc(args: argparse.Namespace) -> str:
    return default_corpus_text()


# troff escapes of the characters German manual pages use (\(:u is ü), and the ones that are only spacing.
TROFF_CHARACTERS = {":a": "ä", ":o": "ö", ":u": "ü", ":A": "Ä", ":O": "Ö", ":U": "Ü", "ss": "ß", "aq": "'", "lq": "“", "rq": "”",
                    "Bq": "„", "oq": "‘", "cq": "’", "em": "—", "en": "–", "bu": "•", "co": "©", "Fo": "«", "Fc": "»", "dq": '"',
                    "mu": "×", "de": "°", "hy": "-"}
ALTERNATING_MACROS = {"BR", "IR", "RB", "BI", "IB", "RI"}  # fonts alternating word by word, with no space between
TEXT_MACROS = {"SH", "SS", "B", "I", "SM", "SB", "Nm", "Nd", "Sh"} | ALTERNATING_MACROS


def _troff_text(line: str) -> str:
    line = re.sub(r"\\\((..)", lambda m: TROFF_CHARACTERS.get(m.group(1), ""), line)
    line = re.sub(r"\\\[([^\]]*)\]", lambda m: TROFF_CHARACTERS.get(m.group(1), ""), line)
    line = re.sub(r"\\\*(\(..|\[[^\]]*\]|.)", lambda m: "'" if m.group(1) in ("(Aq", "[Aq]") else "", line)  # strings
    line = re.sub(r"\\f(\(..|\[[^\]]*\]|.)", "", line)  # font changes
    line = re.sub(r"\\[whvHlLNoSxZ]'[^']*'", "", line)  # widths, motions and the like
    line = line.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
    return re.sub(r"\\[&|^%:c]", "", line)


def german(args: argparse.Namespace) -> str:
    """The German manual pages, in path order, each as its text without troff markup."""
    if not GERMAN_MANUALS.is_dir():
        raise SystemExit(f"{GERMAN_MANUALS} is absent (Debian's German manual pages); leave 'german' out of --corpora")
    pages = []
    for path in sorted(p for p in GERMAN_MANUALS.rglob("*.gz") if p.is_file() and not p.is_symlink()):
        lines = []
        for line in gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace").splitlines():
            if line.startswith((".\\\"", "'\\\"", "\\\"")):
                continue  # a comment
            if line.startswith((".", "'")):
                macro, _, arguments = line[1:].strip().partition(" ")
                if macro not in TEXT_MACROS or not arguments:
                    continue  # layout, or a heading whose text is on the next line
                words = [quoted or bare for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', arguments)]
                line = ("" if macro in ALTERNATING_MACROS else " ").join(words)  # .BR ls (1): "ls(1)"
            text = _troff_text(line).strip()
            if text:
                lines.append(text)
        if lines:
            pages.append("\n".join(lines))
    return "\n\n".join(pages) + "\n"


def abc_folk(args: argparse.Namespace) -> str:
    try:
        from lstmgen.music.corpora import music_corpus_text
    except ImportError:
        raise SystemExit("abc-folk needs music21 (pip install 'lstmgen[music]'); leave it out of --corpora") from None
    return music_corpus_text("abc-folk", cache_directory())


CORPORA: dict[str, tuple[Callable[[argparse.Namespace], str], str]] = {
    "source-code": (source_code, f"this Python's standard library, top-level *.py files in name order, to {SOURCE_CHARACTERS:,} characters"),
    "captions": (captions, "COCO captions (--captions)"),
    "pydoc": (pydoc, "the embedded documentation (pydoc_data.topics), lstmgen's default corpus"),
    "german": (german, f"German manual pages of this machine's Debian packages ({GERMAN_MANUALS}), troff markup stripped"),
    "abc-folk": (abc_folk, "folk tunes in ABC notation from music21's corpus, as plain characters"),
}


# ----- one corpus ----------------------------------------------------------------------------------
def measure(name: str, text: str, directory: Path, minutes: float, threads: int, default_threads: int, seed: int) -> dict:
    corpus = directory / f"{name}.txt"
    corpus.write_text(text, encoding="utf-8")
    run = directory / f"{name}-run"
    print(f"{name}: {len(text):,} characters; lstmgen's default for {minutes:g} minutes", file=sys.stderr, flush=True)
    started = time.time()
    result = train([str(corpus)], out_dir=run, time_budget=minutes, threads=threads or None, progress=False, sample_length=0,
                   log=lambda line: None)
    lstmgen_wall = time.time() - started
    model = LanguageModel.load(run)
    plan = model.info()["training"]["data"].get("plan")
    store = TokenStore.open(run / run_directory.STORE)  # the tokens and the held-out region lstmgen trained and validated on
    meta = store.meta
    text_size = scored_text_size(store.tokenizer, store.val[0], meta["characters"]["val"], meta["bytes"]["val"])
    default = score(model.model, store, text_size)  # the same call scores the plain loop below
    torch.set_num_threads(threads or default_threads)  # lstmgen's automatic choice must not carry over to the plain loop
    print(f"{name}: the char-rnn loop for {minutes:g} minutes ({torch.get_num_threads()} threads)", file=sys.stderr, flush=True)
    started = time.time()
    (plain,) = char_rnn(store, text_size, [minutes], seed)
    plain_wall = time.time() - started
    info = store.info()
    ratio = default["val_nats_per_token"] / plain["val_nats_per_token"]
    return {
        "corpus": name, "description": CORPORA[name][1], "characters": len(text),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "tokenizer": store.tokenizer.kind, "vocab_size": store.tokenizer.vocab_size, "train_tokens": info["train_tokens"],
        "val_tokens": info["val_tokens"], "val_unknown": info["val_unknown"],
        "lstmgen": {**default, "steps": result.steps, "wall_seconds": round(lstmgen_wall, 1),
                    "trainer_best_val_nats": (result.best_val or {}).get("val_nats"), "plan": plan},
        "char_rnn": {**plain, "wall_seconds": round(plain_wall, 1)},
        "ratio": round(ratio, 4), "meets_bar": ratio <= BAR,
    }


def table(rows: list[dict]) -> str:
    lines = ["| corpus | characters | lstmgen default (nats/char) | char-rnn loop (nats/char) | ratio | ≤ 0.95 |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        lines.append(f"| {row['corpus']} | {row['characters']:,} | {row['lstmgen']['val_nats_per_token']:.4f} | "
                     f"{row['char_rnn']['val_nats_per_token']:.4f} | {row['ratio']:.3f} | {'yes' if row['meets_bar'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="the budget of each run, lstmgen's and the loop's")
    parser.add_argument("--corpora", default=",".join(CORPORA), help=f"comma-separated subset of: {', '.join(CORPORA)}")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads of both runs (0: each its own default, as when run alone: lstmgen's automatic "
                             "choice, and PyTorch's for the loop)")
    parser.add_argument("--seed", type=int, default=1111, help="the loop's seed (lstmgen's default seed is its own)")
    parser.add_argument("--captions", default=str(CAPTIONS), help="the captions file (default: %(default)s)")
    parser.add_argument("--work-dir", default=None, help="keep the texts and runs here (default: a temporary directory)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--write-text", metavar="FILE",
                        help="only write the text of the one corpus --corpora names to FILE (to train or evaluate on it alone)")
    args = parser.parse_args()
    names = [name.strip() for name in args.corpora.split(",") if name.strip()]
    unknown = [name for name in names if name not in CORPORA]
    if unknown or not names:
        parser.error(f"unknown corpora {unknown}; choose from {', '.join(CORPORA)}")
    if args.write_text:
        if len(names) != 1:
            parser.error("--write-text writes one corpus: name it with --corpora")
        text = CORPORA[names[0]][0](args)
        Path(args.write_text).write_text(text, encoding="utf-8")
        print(json.dumps({"corpus": names[0], "file": args.write_text, "characters": len(text),
                          "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}))
        return
    if args.minutes <= 0 or args.threads < 0:
        parser.error("--minutes must be > 0 and --threads >= 0")
    default_threads = torch.get_num_threads()  # PyTorch's own, before any run changes it
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(args.work_dir or scratch)
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            rows.append(measure(name, CORPORA[name][0](args), directory, args.minutes, args.threads, default_threads, args.seed))
            print(json.dumps({key: rows[-1][key] for key in ("corpus", "ratio", "meets_bar")}), file=sys.stderr, flush=True)
    result = {
        "benchmark": "untuned_corpora", "lstmgen": lstmgen.__version__, "machine": machine_record(),
        "minutes": args.minutes, "threads": args.threads or "each run's default", "bar": f"lstmgen / char-rnn <= {BAR} on every corpus",
        "all_meet_bar": all(row["meets_bar"] for row in rows), "wall_seconds": round(time.time() - started, 1),
        "corpora": rows,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(table(rows), file=sys.stderr)
    print(text)


if __name__ == "__main__":
    sys.exit(main())

"""How much real ABC the musical rules allow: held-out real tunes read token by token through ``whole_bars``.

For each tune (random whole tunes of a run's validation region, as benchmarks/music/abc_folk.py draws them), every
token is checked against the rules' mask before it is read. A tune is *allowed* when no token of it is masked. The
report splits the tunes by the meter check (``lstmgen.music.abc.tune_passes``): a rule that masks tunes which pass
the check is stricter than the check; the first masked token of each such tune is listed.

    .venv/bin/python benchmarks/music/abc_rules_coverage.py --run runs/abc-folk-5 --tunes 300

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from abc_folk import heldout_tunes  # noqa: E402

from lstmgen import LanguageModel  # noqa: E402
from lstmgen.config import GenerationConfig  # noqa: E402
from lstmgen.decoding.musical_rules import musical_rules  # noqa: E402
from lstmgen.music.abc import tune_passes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="an ABC run directory (its validation region and tokenizer)")
    parser.add_argument("--tunes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run = Path(args.run)
    model = LanguageModel.load(run)
    tokenizer = model.tokenizer
    tunes, _ = heldout_tunes(run, model, args.tunes, args.seed)
    tunes = [tune for tune in tunes if "<unk>" not in tune]  # tokens outside the vocabulary decode as <unk>: not ABC
    counts = {"allowed_passing": 0, "masked_passing": 0, "allowed_failing": 0, "masked_failing": 0}
    masked_examples = []
    for tune in tunes:
        ids = tokenizer.encode(tune, unknown="replace").tolist() + [tokenizer.end_of_document]
        rules = musical_rules(tokenizer, GenerationConfig(min_bars=0), 1, [tokenizer.end_of_document])
        passes = tune_passes(tune)[1]
        first_masked = None
        for position, token in enumerate(ids):
            if not torch.isfinite(rules.mask(torch.zeros(1, tokenizer.vocab_size))[0, token]):
                first_masked = (tokenizer.decode(ids[:position])[-60:], tokenizer.token_text(token))
                break
            rules.follow([0], [token])
        counts[("allowed_" if first_masked is None else "masked_") + ("passing" if passes else "failing")] += 1
        if first_masked is not None and passes:
            masked_examples.append({"before": first_masked[0], "masked": first_masked[1]})
    print(json.dumps({"benchmark": "abc_rules_coverage", "run": str(run), "tunes": len(tunes), **counts,
                      "masked_passing_examples": masked_examples[:20]}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

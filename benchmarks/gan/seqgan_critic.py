"""What does a SeqGAN run's discriminator reward? Measured against the oracle; prints JSON.

    python benchmarks/gan/seqgan_critic.py --run runs/seqgan-oracle/oracle-2h/seed-88 --data runs/seqgan-oracle
    python benchmarks/gan/seqgan_critic.py --run runs/ablation-x --data runs/seqgan-oracle   # an ablation's run

--run is one GAN run of `benchmarks/gan/seqgan_oracle.py` (VARIANT/seed-S) or the --out of
`benchmarks/gan/seqgan_ablation.py`; its last/ (run/last/) holds the generator and, in trainer_state.pt, the
discriminator at the end of the adversarial rounds. --data is where oracle_data.npz lies (default: --run).
For N sequences sampled from that generator at temperature 1:

* D's mean P(real) on them, on N of the training sequences (its positives) and on N held-out oracle
  sequences, and its accuracy at 0.5 on each: a D that learned what real sequences look like scores the
  held-out ones like its positives, one that memorised its positives calls the held-out ones fake;
* Spearman's rank correlation of P(real), over the generated sequences, with the oracle's per-token
  log-likelihood (> 0: D rewards what the oracle finds likely, the direction that lowers NLL-oracle) and with
  the generator's own (> 0: D rewards the generator's typical samples; < 0: its unusual ones, the direction
  that raises the generator's entropy);
* the mean NLL-oracle of the fifth of the samples that D scores highest and of the fifth it scores lowest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from lstmgen.checkpoint import load_checkpoint
from lstmgen.gan.config import GanConfig
from lstmgen.gan.diagnostics import spearman
from lstmgen.gan.discriminator import make_discriminator
from lstmgen.gan.oracle import load_oracle
from lstmgen.gan.sequences import sample_sequences, sequence_nll
from lstmgen.gan.state import check_gan_state
from lstmgen.system.runtime import machine_record, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="an oracle benchmark's or ablation's --out directory")
    parser.add_argument("--data", help="directory with oracle_data.npz (default: --run)")
    parser.add_argument("--oracle", default="../shared/data/seqgan-oracle/oracle_params.npz")
    parser.add_argument("--samples", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    run, data = Path(args.run), Path(args.data or args.run)
    run_dir = run if (run / "last").exists() else run / "run"  # a protocol's VARIANT/seed-S, or an ablation's --out
    if not (run_dir / "last").exists() or not (data / "oracle_data.npz").exists():
        parser.error(f"need {run_dir}/last and {data}/oracle_data.npz (pass --data for a run outside the protocol's directory)")
    set_threads(args.threads)
    checkpoint = load_checkpoint(run_dir, state_check=check_gan_state, prefer="last")
    if "gan" not in checkpoint.extra or checkpoint.trainer_state is None:
        parser.error(f"{run_dir}/last is not a GAN run's checkpoint")
    config = GanConfig.from_dict(checkpoint.extra["gan"])
    generator = checkpoint.model
    discriminator = make_discriminator(generator.config.vocab_size, config)
    discriminator.load_state_dict(checkpoint.trainer_state["discriminator"])
    oracle = load_oracle(args.oracle)
    with np.load(data / "oracle_data.npz") as saved:
        train, test = torch.from_numpy(saved["train"])[: args.samples], torch.from_numpy(saved["test"])[: args.samples]

    drawn = sample_sequences(generator, args.samples, config.sequence_length, config.start_token,
                             generator=torch.Generator().manual_seed(args.seed))
    fake_score, real_score = discriminator.real_probability(drawn), discriminator.real_probability(test)
    train_score = discriminator.real_probability(train)
    oracle_nll = sequence_nll(oracle, drawn, config.start_token)  # [N] nats/token
    own_nll = sequence_nll(generator, drawn, config.start_token)
    order = fake_score.argsort()
    fifth = len(order) // 5
    report = {
        "run": str(run), "phase": checkpoint.extra.get("phase"), "rounds": checkpoint.extra.get("completed"),
        "samples": args.samples,
        "mean_p_real": {"generated": float(fake_score.mean()), "training_real": float(train_score.mean()),
                        "held_out_real": float(real_score.mean())},
        "accuracy": {"generated": float((fake_score < 0.5).float().mean()), "training_real": float((train_score > 0.5).float().mean()),
                     "held_out_real": float((real_score > 0.5).float().mean())},
        "spearman_p_real_with": {"oracle_log_likelihood": spearman(fake_score.numpy(), -oracle_nll.numpy()),
                                 "generator_log_likelihood": spearman(fake_score.numpy(), -own_nll.numpy())},
        "nll_oracle_by_d_score": {"top_fifth": float(oracle_nll[order[-fifth:]].mean()),
                                  "bottom_fifth": float(oracle_nll[order[:fifth]].mean()),
                                  "all": float(oracle_nll.mean())},
        "generator_nll_by_d_score": {"top_fifth": float(own_nll[order[-fifth:]].mean()),
                                     "bottom_fifth": float(own_nll[order[:fifth]].mean())},
        "machine": machine_record(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Variations of the adversarial phase from a finished oracle benchmark's pre-trained generator; prints JSON.

    python benchmarks/gan/seqgan_ablation.py --run runs/seqgan-oracle --out runs/ablation-constant --set reward=constant
    python benchmarks/gan/seqgan_ablation.py --run runs/seqgan-oracle --out runs/ablation-d30 --set pretrain_d_steps=30
    python benchmarks/gan/seqgan_ablation.py --run runs/seqgan-oracle --start mle-best --out runs/ablation-early

--run is the --out of `benchmarks/gan/seqgan_oracle.py` (its oracle_data.npz, mle/mle/, mle/mle-best/ and
results.json are read, nothing is written there). The generator starts from run/mle (the end of MLE
pre-training) or run/mle-best (the early-stopped epoch); MLE pre-training is skipped, and the discriminator
pre-training and adversarial rounds follow the preset with the --set overrides. Evaluated as during the
benchmark (2,000 samples, 2,000 held-out sequences) every eval_interval rounds; the last generator is then
measured like the benchmark's table (10,000 samples, all held-out sequences) and placed against the run's MLE
and early-stopped MLE temperature curves (delta NLL-test at matched NLL-oracle; > 0: dominated by cooling).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lstmgen.checkpoint import load_checkpoint
from lstmgen.config import ConfigError
from lstmgen.experiments.arguments import gan_setting
from lstmgen.experiments.seqgan_oracle import measure
from lstmgen.gan.config import GAN_PRESETS, gan_preset
from lstmgen.gan.curve import matched
from lstmgen.gan.oracle import load_oracle, oracle_tokenizer
from lstmgen.gan.trainer import SeqGANTrainer
from lstmgen.system.runtime import machine_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished benchmarks/gan/seqgan_oracle.py --out directory")
    parser.add_argument("--start", choices=("mle", "mle-best"), default="mle")
    parser.add_argument("--preset", choices=sorted(GAN_PRESETS), default="oracle-2h")
    parser.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    run = Path(args.run)
    needed = [run / "oracle_data.npz", run / "results.json", run / "mle" / args.start]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        parser.error(f"--run {run} is not a finished oracle benchmark: missing {', '.join(missing)}")
    benchmark = json.loads((run / "results.json").read_text(encoding="utf-8"))
    settings = benchmark["settings"]  # evaluate exactly as the benchmark did
    try:
        gan = gan_preset(args.preset, **{**dict(args.set), "pretrain_epochs": 0})
    except ConfigError as error:
        parser.error(str(error))
    oracle = load_oracle(settings["oracle_path"])
    with np.load(run / "oracle_data.npz") as saved:
        train, test = torch.from_numpy(saved["train"]), torch.from_numpy(saved["test"])
    seed = settings["seed"]

    def evaluate(model):
        return measure(model, oracle, test[: settings["eval_test_size"]], settings["eval_samples"], gan.start_token, seed + 1)

    generator = load_checkpoint(run / "mle" / args.start).model
    wall, cpu = time.perf_counter(), time.process_time()
    trainer = SeqGANTrainer(generator, oracle_tokenizer(oracle.config.vocab_size), train, gan, Path(args.out) / "run",
                            evaluate=evaluate, log=lambda line: print(line, file=sys.stderr, flush=True), progress=False,
                            threads=args.threads)
    result = trainer.run()
    final = measure(trainer.generator, oracle, test, settings["final_samples"], gan.start_token, seed + 2)
    trajectory = [{key: record[key] for key in ("unit", "nll_oracle", "nll_test", "d_accuracy", "d_heldout_accuracy",
                                                   "d_heldout_real_accuracy", "d_steps_kept", "mean_reward", "pg_grad_norm") if key in record}
                  for record in result.history if record["phase"] == "adversarial"]
    report = {
        "status": "done" if result.phase == "done" else f"interrupted in {result.phase}",
        "settings": {"run": str(run), "start": args.start, "preset": args.preset, "gan": gan.to_dict()},
        "start": {key: result.history[0][key] for key in ("nll_oracle", "nll_oracle_se", "nll_test")},
        "trajectory": trajectory,
        "final": final,
        # delta NLL-test at matched NLL-oracle: > 0 = dominated by cooling that MLE model
        "position": {f"vs_{name}_curve": matched(benchmark["curves"][name], final, "nll_oracle") for name in ("mle", "mle_early_stopped")},
        "seconds": {phase: round(value, 1) for phase, value in result.phase_seconds.items()},
        "process": {"wall_seconds": round(time.perf_counter() - wall, 1), "cpu_seconds": round(time.process_time() - cpu, 1)},
        "machine": machine_record(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

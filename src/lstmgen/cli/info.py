"""``lstmgen info CKPT``: the model, its parameters, the tokenizer and the training history."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from ..language_model import LanguageModel

    loaded = LanguageModel.load(args.checkpoint)
    info = loaded.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    model, tokenizer, training = info["model"], info["tokenizer"], info["training"]
    print(f"checkpoint   {info['path']}")
    print(f"model        {model['cell'].upper()} {model['num_layers']} x {model['hidden_size']}, embedding {model['embedding_size']}, "
          f"dropout {model['dropout']}{', input dropout ' + str(model['input_dropout']) if model.get('input_dropout') else ''}, weight dropout {model['weight_dropout']}, tied weights {'yes' if model['tie_weights'] else 'no'}"
          + (f", {model['mogrifier_rounds']} mogrifier rounds at {'full rank' if not model['mogrifier_rank'] else 'rank ' + str(model['mogrifier_rank'])}"
             if model["cell"] == "mogrifier" else "")
          + (f", adaptive softmax (cutoffs {', '.join(map(str, model['adaptive_softmax']))})" if model.get("adaptive_softmax") else ""))
    print(f"tokenizer    {tokenizer['kind']}, {tokenizer['vocab_size']} symbols{', lower-cased' if tokenizer['lowercase'] else ''}")
    print(f"chat         {'template ' + repr(info['chat_template']) if info.get('chat_template') else 'no template (train with --chat-template)'}")
    if tokenizer["labels"]:
        print(f"labels       {len(tokenizer['labels'])}: {', '.join(tokenizer['labels'])} (lstmgen generate CKPT --label LABEL)")
    print("parameters")
    for row in info["parameter_table"]:
        print(f"  {row['name']:<28} {'x'.join(map(str, row['shape'])):>14} {row['count']:>12,}")
    print(f"  {'total':<28} {'':>14} {info['parameters']:>12,}")
    gan = loaded.extra.get("gan") if training.get("steps") is None else None
    if gan is not None:  # a GAN run's generator (lstmgen gan train / oracle / coco): its schedule, not a TrainConfig
        print(f"training     {gan['method']} GAN, {gan['rounds']} rounds of {gan['adversarial_batch_size']} sequences of "
              f"{gan['sequence_length']} tokens, seed {gan['seed']} ({training['evaluations']} evaluations)")
        return 0
    data = training.get("data", {})
    print(f"training     {training['steps']} steps, {training['evaluations']} evaluations, preset {data.get('preset', '?')}, "
          f"corpus {', '.join(data.get('sources', [])) or '?'}")
    best = info["best_validation"]
    if best:
        print(f"best val     step {best['step']}: {best['val_nats']:.4f} nats/token, {best['val_bits']:.4f} bits/token, "
              f"perplexity {best['val_perplexity']:.3f}"
              + (f", {best['val_bits_per_char']:.4f} bits/char" if "val_bits_per_char" in best else "")
              + (f", on {data['validation']}" if data.get("validation") else ""))
        if "val_cold_start_nats" in best:
            print(f"cold start   {best['val_cold_start_nats']:.4f} nats/token from a fresh state vs "
                  f"{best['val_cold_start_context_nats']:.4f} in context (x{best['val_cold_start_ratio']:.3f})")
    return 0

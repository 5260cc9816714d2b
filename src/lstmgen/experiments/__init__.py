"""Experiments: studies that fix a data set, a schedule and a report. Not library code.

    seqgan_oracle   the SeqGAN synthetic oracle benchmark with its temperature curves
    seqgan_coco     word-level MLE and SeqGAN on COCO captions: BLEU and self-BLEU

Each module offers ``add_arguments(parser)``, ``from_arguments(args)`` and a ``run_...`` function; the CLI
(``lstmgen gan oracle|coco``) and the scripts in ``benchmarks/`` both go through them, so an experiment is
defined once. Every data path is an argument: the library never assumes where data lies.
"""

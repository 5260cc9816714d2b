"""Measures of a model: how well it predicts held-out text, and what its samples look like.

    static.py     the held-out loss: a full pass with the recurrent state carried (the "static" protocol),
                  and the cold-start measure beside it (segments scored from a fresh state); the
                  "windowed" protocol (random windows from a fresh state, nanoGPT's measure)
    dynamic.py    dynamic evaluation (Krause et al.): the weights keep learning as they read, on a copy;
                  the adapted copy for generation (``--adapt-to``)
    measures.py   units (nats, bits, perplexity), the LossReport, entropy, diversity of text (distinct-n, ...)
    labels.py     label accuracy: held-out documents scored under every label of a labelled model; NLL per label
    sweep.py      the temperature study: entropy, diversity and novelty of samples at each temperature
    bleu.py       BLEU and self-BLEU against reference sentences (NLTK: the ``bleu`` extra)
"""

from .measures import ColdStart, LossReport, nats_to_bits, perplexity
from .static import evaluate

__all__ = ["ColdStart", "LossReport", "nats_to_bits", "perplexity", "evaluate"]

"""Decoding: everything between a trained model and the tokens it writes.

    processors.py   logits -> logits transforms in a documented order (SuppressTokens, penalties, logit bias, temperature,
                    top-k/p, min-p)
    choosers.py     greedy, multinomial (seeded torch.Generator; the race or the inverse CDF by size), the sampler SeqGAN uses
    automaton.py    a regular expression (interegular) as an automaton over the tokenizer's tokens: allowed tokens per state
    constraints.py  regex, acrostic (line_starts), must_include, bad_words: one Constraint per group of streams, masking logits
    healing.py      token healing: a subword prompt's last token taken back, the first token made to extend it
    stepper.py      the one place a model is stepped token by token: prefill once, then step (fast LSTM or model.forward)
    fast_lstm.py    the hand-stepped LSTM the stepper uses for LSTM models (and the streams every hand-stepped decoder shares)
    fast_mogrifier.py  the hand-stepped Mogrifier LSTM, the same way
    projections.py  its matrix products with the weights in fp32, fp16, bf16 or int8 (--precision)
    generation.py   SampleGroup: one prompt's samples (processors, generator, texts); decode(): one record per step; stop strings
    engine.py       the batching engine: many SampleGroups stepped together on one stepper (the server, decode_many)
    beam_search.py  the most probable continuations, on the same stepper
"""

from .beam_search import Hypothesis, beam_search
from .choosers import greedy, multinomial, sample_categorical
from .generation import FINISH_LENGTH, FINISH_STOP, DecodeStep, SampleGroup, decode, encode_prompt, make_generator
from .processors import (
    LogitBias,
    LogitsProcessor,
    MinP,
    NoRepeatNGram,
    PresenceFrequencyPenalty,
    RepetitionPenalty,
    SuppressTokens,
    Temperature,
    TopK,
    TopP,
    apply_processors,
    build_processors,
    check_logit_bias,
    needs_history,
)
from .projections import DECODING_PRECISIONS, PrecisionError
from .stepper import Stepper, stepping_mode, without_onednn

__all__ = [
    "Hypothesis", "beam_search", "greedy", "multinomial", "sample_categorical", "FINISH_LENGTH", "FINISH_STOP",
    "DecodeStep", "SampleGroup", "decode", "encode_prompt", "make_generator", "LogitBias", "LogitsProcessor", "MinP",
    "NoRepeatNGram", "PresenceFrequencyPenalty", "check_logit_bias", "RepetitionPenalty", "SuppressTokens", "Temperature", "TopK",
    "TopP", "apply_processors",
    "build_processors", "needs_history", "Stepper", "stepping_mode", "without_onednn", "DECODING_PRECISIONS", "PrecisionError",
]

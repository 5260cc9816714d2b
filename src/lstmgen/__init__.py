"""lstmgen: train recurrent (LSTM) language models on any text and generate from them.

The public API:

    LanguageModel          load a checkpoint, generate, stream, score text
    train                  train (or resume) a model from files, named corpora or a string
    ModelConfig, TrainConfig, GenerationConfig   the validated configurations
    RecurrentLanguageModel the torch module: forward(tokens, state) -> (logits, state), init_state(batch)
"""

__version__ = "0.1.0"

from .language_model import LanguageModel  # noqa: E402
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from .config import ConfigError, GenerationConfig, ModelConfig, TrainConfig  # noqa: E402
from .corpus import CorpusError, read_corpus  # noqa: E402
from .data import DataError  # noqa: E402
from .metrics import LossReport  # noqa: E402
from .model import RecurrentLanguageModel  # noqa: E402
from .presets import PRESETS  # noqa: E402
from .tokenizers import ByteTokenizer, CharTokenizer, TokenizerError, WordTokenizer  # noqa: E402



def __getattr__(name: str):
    # ``train`` is imported on first use, so applications that only generate (the server) never load
    # the training code.
    if name == "train":
        from .pipeline import train

        return train
    raise AttributeError(f"module 'lstmgen' has no attribute {name!r}")


__all__ = [
    "LanguageModel", "train", "CheckpointError", "load_checkpoint", "save_checkpoint", "ConfigError",
    "GenerationConfig", "ModelConfig", "TrainConfig", "CorpusError", "read_corpus", "DataError", "LossReport",
    "RecurrentLanguageModel", "PRESETS", "ByteTokenizer", "CharTokenizer", "TokenizerError", "WordTokenizer",
]

"""Deprecated path: the models now live with their tasks (see :mod:`rnnlab._moved`)."""

from rnnlab._moved import moved

__getattr__, __dir__ = moved(
    "rnnlab.models",
    {
        "rnnlab.labelling": ["MODEL_NAMES", "CharRNNCell", "CharRNN", "EmbedRecurrent", "build_model", "trace_gates"],
        "rnnlab.lm": ["CharLM"],
        "rnnlab.loop": ["detach_state"],
        "rnnlab.checkpoint": ["model_from_spec"],
    },
)

"""Deprecated path: training helpers, the hello task's loop and checkpoints have moved (see :mod:`rnnlab._moved`)."""

from rnnlab._moved import moved

__getattr__, __dir__ = moved(
    "rnnlab.train",
    {
        "rnnlab.loop": [
            "set_seed",
            "get_device",
            "device_of",
            "evaluating",
            "optimizer_step",
            "Record",
            "sequence_loss",
        ],
        "rnnlab.labelling": ["TrainConfig", "History", "fit", "predict"],
        "rnnlab.checkpoint": ["save_checkpoint", "load_checkpoint", "atomic_write", "CHECKPOINT_FORMAT"],
    },
)

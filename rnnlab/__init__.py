"""rnnlab: recurrent networks written from scratch, identical to ``torch.nn``.

The package behind the rnnlab course. Every recurrent module here is a drop-in
replacement for its ``torch.nn`` namesake: same constructor, parameter names,
initialisation, inputs and outputs, proven equal by the test suite
(:mod:`rnnlab.testing` holds the parity checks it uses).

    from rnnlab import LSTM, get_device, set_seed
"""

from rnnlab.cells import GRUCell, LSTMCell, RNNCell
from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.train import get_device, set_seed

__version__ = "0.1.0"  # the only place the version is written (pyproject.toml reads it)

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "get_device", "set_seed", "__version__"]

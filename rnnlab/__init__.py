"""rnnlab: recurrent networks written from scratch, identical to ``torch.nn``.

The package behind the rnnlab course. Every recurrent module here is a drop-in
replacement for its ``torch.nn`` namesake: same constructor, parameter names,
initialisation, inputs and outputs, proven equal by the test suite.
"""

from rnnlab.cells import GRUCell, LSTMCell, RNNCell
from rnnlab.layers import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "__version__"]

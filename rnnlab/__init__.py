"""rnnlab: recurrent networks written from scratch, identical to ``torch.nn``.

The package behind the rnnlab course. Every recurrent module here is a drop-in
replacement for its ``torch.nn`` namesake: same constructor, parameter names,
initialisation, inputs and outputs, proven equal by the test suite
(:mod:`rnnlab.testing` holds the parity checks it uses).

    from rnnlab import LSTM, get_device, set_seed

The package is built in layers; a module imports only from layers below its own, and the
tasks never import each other (``tests/test_layout.py`` enforces both):

=====  ==========================  ===========================================================
layer  modules                     what
=====  ==========================  ===========================================================
0      ``validation``, ``cells``,  the drop-in ``torch.nn`` core: cells, layers, their input
       ``layers``, ``testing``,    checks, and the parity checks that prove them (torch only);
       ``interop``, ``minimal``    torch's tools on these modules; the recurrences computed by a
                                   scan (minGRU, minLSTM, a selective SSM, linear attention)
1      ``vocab``, ``loop``         what every task shares: characters as tensors; seeds,
                                   device, one update, histories, the trainer interface
2      ``labelling``, ``lm``,      one file per task (hello → ohlol, the character language
       ``classify``, ``seq2seq``,  model, surnames, dates, parity, long memory, the first
       ``parity``, ``memory``,     character beyond a window): data → model → loss → config
       ``window``                  and history → train → evaluate or generate
3      ``checkpoint``, ``cli``     the registry of every task's model, checkpoints, and the
                                   command line (``python -m rnnlab``), one file per task
4      ``checks``, ``bptt``,       teaching aids: exercise checks, gradient-through-time tools,
       ``explore``, ``plot``       the shape explorer, plots
=====  ==========================  ===========================================================

``rnnlab.data``, ``rnnlab.models`` and ``rnnlab.train`` are this course version's old paths:
they still resolve every name, with a ``DeprecationWarning`` naming the new module.
"""

from rnnlab.cells import GRUCell, LSTMCell, RNNCell
from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.loop import get_device, set_seed
from rnnlab.minimal import MinGRU, MinLSTM, SelectiveSSM

__version__ = "0.1.0"  # the only place the version is written (pyproject.toml reads it)

__all__ = [
    "RNN",
    "LSTM",
    "GRU",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "MinGRU",
    "MinLSTM",
    "SelectiveSSM",
    "get_device",
    "set_seed",
    "__version__",
]

"""Exercise checks: run the learner's code against torch and say precisely what is wrong.

Each ``check_*`` function calls the learner's function on a few random cases, compares
with ``torch.nn`` and prints one line starting with ``✓`` when it agrees. Otherwise it
raises :class:`CheckFailed` whose message names the problem: the shape that came out
versus the shape expected, or, when the wrong numbers match a known mistake (a weight
not transposed, gates in the wrong order, the GRU written in the paper's form, ...),
that mistake and its fix. :func:`diagnose` exposes the same matching for any result.

The checks are split by lesson: :mod:`~rnnlab.checks.windows` (notebook 00), :mod:`~rnnlab.checks.steps` (01–04),
:mod:`~rnnlab.checks.sequences` (05–07, 10, 12) and :mod:`~rnnlab.checks.training` (08, 09, 11) , :mod:`~rnnlab.checks.backprop` (08b) and :mod:`~rnnlab.checks.probes` (09b), :mod:`~rnnlab.checks.parallel` (13), over the
shared machinery of :mod:`~rnnlab.checks._core`. Import them from here: ``from rnnlab.checks import
check_lstm_step``.
"""

from rnnlab.checks._core import CheckFailed
from rnnlab.checks.backprop import check_rnn_backward, check_rnn_step_backward
from rnnlab.checks.parallel import check_linear_scan, check_min_gru_step
from rnnlab.checks.probes import check_auroc
from rnnlab.checks.sequences import (
    check_last_valid_outputs,
    check_masked_mean,
    check_masked_softmax,
    check_sequence_loss,
    check_sequence_summary,
    diagnose_final_state,
)
from rnnlab.checks.steps import check_gru_step, check_lstm_step, check_rnn_shapes, check_rnn_step, diagnose
from rnnlab.checks.training import check_bits_per_char, check_greedy_decode, check_tbptt_step
from rnnlab.checks.windows import check_window_onehot

__all__ = [
    "CheckFailed",
    "check_window_onehot",
    "check_rnn_shapes",
    "check_rnn_step",
    "check_lstm_step",
    "check_gru_step",
    "check_sequence_loss",
    "check_last_valid_outputs",
    "check_sequence_summary",
    "check_tbptt_step",
    "check_bits_per_char",
    "check_masked_mean",
    "check_masked_softmax",
    "check_greedy_decode",
    "check_rnn_step_backward",
    "check_rnn_backward",
    "check_auroc",
    "check_min_gru_step",
    "check_linear_scan",
    "diagnose_final_state",
    "diagnose",
]

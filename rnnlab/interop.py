"""Where code written for ``torch.nn`` meets rnnlab's modules outside ``forward``.

Three tools of torch look at a module's class rather than at its behaviour. For each, rnnlab's
cells and layers do what torch's would, or say clearly that they cannot:

* ``torch.load(..., weights_only=True)`` of a whole pickled model (not a ``state_dict``) only
  rebuilds allow-listed classes: rnnlab adds its six modules with
  ``torch.serialization.add_safe_globals`` when it is imported, so a model saved whole with
  ``torch.save(model, f)`` loads safely wherever torch.nn's classes are allowed too;
* TorchScript: ``torch.jit.script`` cannot compile the Python loops here, and ``torch.jit.trace``
  would bake one sequence length (and a packed batch's sizes) into the graph, then fail or
  mislead at another. Both raise :class:`TorchScriptUnsupported`, naming the way out: the same
  ``state_dict`` loads into the ``torch.nn`` module, which scripts and traces;
* ``torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear})`` swaps modules by
  their exact class, so it would leave an ``rnnlab.LSTM`` in float without a word: rnnlab warns
  (:class:`QuantizationSkipped`), with the same way out.
"""

from __future__ import annotations

import sys
import warnings

import torch
from torch import nn

__all__ = ["TorchScriptUnsupported", "QuantizationSkipped", "TorchCompat", "allow_in_weights_only_load"]


class TorchScriptUnsupported(RuntimeError):
    """rnnlab's modules cannot be scripted or traced (see the module docstring)."""


class QuantizationSkipped(UserWarning):
    """``quantize_dynamic`` was asked to quantize torch.nn's twin of an rnnlab module, and left the
    rnnlab module in float."""


def torch_twin(module: nn.Module) -> type[nn.Module]:
    """The ``torch.nn`` class an rnnlab module stands in for (``rnnlab.LSTM`` → ``nn.LSTM``)."""
    return getattr(nn, type(module).__name__)


def _the_way_out(module: nn.Module) -> str:
    name = type(module).__name__
    return (
        f"Load the same weights into torch.nn's module, which does: "
        f"`ref = torch.nn.{name}({module.extra_repr()}); ref.load_state_dict(model.state_dict())` "
        "(rnnlab's modules are proven equal to torch.nn's, so ref computes the same)."
    )


_MISSING = object()


class TorchCompat:
    """Mixin of rnnlab's cells and layers: TorchScript refused clearly, quantization's skip warned."""

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on the module and on every submodule before compiling.
        raise TorchScriptUnsupported(
            f"torch.jit.script cannot compile rnnlab.{type(self).__name__}: it is plain Python written for "
            f"reading, outside the subset TorchScript compiles. {_the_way_out(self)}"
        )

    def _refuse_tracing(self) -> None:
        """Called at the top of a layer's forward: a trace would freeze the time loop."""
        if torch.jit.is_tracing():
            raise TorchScriptUnsupported(
                f"torch.jit.trace cannot record rnnlab.{type(self).__name__}: its Python loop over time "
                "would be frozen at this input's sequence length (and a PackedSequence's batch sizes), so the "
                f"trace would fail or be wrong on any other length. {_the_way_out(self)}"
            )

    # quantize_dynamic's qconfig propagation reads ``module.qconfig`` (default: the one its
    # qconfig_dict gives the module's exact class) and then sets it; reading is the moment to warn.
    @property
    def qconfig(self):
        if "_qconfig" in self.__dict__:
            return self.__dict__["_qconfig"]
        self._warn_if_quantization_skips()
        raise AttributeError("qconfig")

    @qconfig.setter
    def qconfig(self, value) -> None:
        self.__dict__["_qconfig"] = value

    @qconfig.deleter
    def qconfig(self) -> None:
        if self.__dict__.pop("_qconfig", _MISSING) is _MISSING:
            raise AttributeError("qconfig")

    def _warn_if_quantization_skips(self) -> None:
        caller = sys._getframe(2)  # qconfig's getter <- getattr(module, "qconfig", ...) in torch
        if caller.f_code.co_name != "_propagate_qconfig_helper":
            return
        spec = caller.f_locals.get("qconfig_dict") or {}
        twin = torch_twin(self)
        if spec.get(twin) is not None and type(self) not in spec:
            warnings.warn(
                f"quantize_dynamic leaves rnnlab.{type(self).__name__} in float: it quantizes torch.nn.{twin.__name__} "
                f"by its exact class, and rnnlab's module only computes the same. {_the_way_out(self)}",
                QuantizationSkipped,
                stacklevel=4,
            )


def allow_in_weights_only_load(*classes: type) -> None:
    """Let ``torch.load(..., weights_only=True)`` rebuild these classes (a whole pickled model)."""
    torch.serialization.add_safe_globals(list(classes))

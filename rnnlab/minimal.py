"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): recurrences computed for all steps at once.

When the gates read only the input ``x_t`` (never ``h_{t-1}``), the update is linear in the state:

    h_t = a_t ⊙ h_{t-1} + b_t

    minGRU:  z = σ(W_z x_t + b_z),  h̃ = g(W_h x_t + b_h),   a_t = 1 - z,   b_t = z ⊙ h̃
    minLSTM: f, i = σ(W_f x_t + b_f), σ(W_i x_t + b_i),  h̃ = g(W_h x_t + b_h),
             a_t = f / (f + i),   b_t = i / (f + i) ⊙ h̃

with ``g(v) = v + 0.5`` for ``v ≥ 0`` and ``σ(v)`` below (positive, as the log-space scan needs). Unrolled,
``h_t = A_t h_0 + Σ_{τ ≤ t} (A_t / A_τ) b_τ`` with ``A_t = a_1 ⋯ a_t``: every step at once, as a scan.
:func:`linear_scan` computes it in log space (Heinsen 2023): ``log A_t`` is a cumulative sum of ``log a``,
and the sum over τ a ``logcumsumexp`` of ``log b_τ - log A_τ``, so nothing multiplies a hundred numbers
below 1 (which underflows to 0) or divides by their product (which overflows). The scan runs in chunks of
:data:`CHUNK` steps, carrying the state between them: within a chunk ``log A`` stays small enough that adding it
back loses no precision in float32.

``parallel=False`` runs the same update step by step; a single step (generation, one character at a time) always
takes the loop, which is then one ``addcmul``.

A selective state space (:class:`SelectiveSSM`, the core of Mamba: Gu and Dao 2023) is the same recurrence with
a state per channel and per state dimension, ``h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t x_t``, where the step
``Δ_t`` and the projections ``B_t``, ``C_t`` are computed from ``x_t``. Its ``b_t`` may be negative, so
:func:`signed_scan` runs the log-space scan on the positive and the negative parts and subtracts.

Causal linear attention (Katharopoulos et al. 2020) is the same kind of recurrence with a matrix state,
``S_t = S_{t-1} + φ(k_t) v_tᵀ``: :func:`linear_attention_recurrent` runs it as an RNN whose state does not grow
with the sequence, :func:`linear_attention_parallel` as masked attention over all steps at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.validation import check_device, check_dtype, check_layer_args, check_layer_input, check_layer_states

__all__ = [
    "MinGRU",
    "MinLSTM",
    "linear_scan",
    "linear_loop",
    "signed_scan",
    "signed_loop",
    "SelectiveSSM",
    "g",
    "log_g",
    "CHUNK",
    "feature_map",
    "linear_attention_parallel",
    "linear_attention_recurrent",
]

CHUNK = 256  # steps per scan chunk (see the module docstring)


def g(v: Tensor) -> Tensor:
    """The positive candidate activation: ``v + 0.5`` for ``v ≥ 0``, ``σ(v)`` below (continuous at 0)."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """``log g(v)``, computed without forming ``g`` (``-softplus(-v)`` = ``log σ(v)`` below 0)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def linear_loop(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` step by step. ``log_a``, ``log_b`` ``(T, B, H)``; ``h0`` ``(B, H)``.
    Returns every ``h_t``, ``(T, B, H)``."""
    return signed_loop(log_a, log_b.exp(), h0)


def signed_loop(log_a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` step by step for ``b`` of any sign (``b`` itself, not its log)."""
    h, out = h0, []
    for a_t, b_t in zip(log_a.exp().unbind(0), b.unbind(0)):  # unbind: a cheap backward (stack)
        h = torch.addcmul(b_t, a_t, h)  # (B, H): a_t * h + b_t
        out.append(h)
    return torch.stack(out)


def signed_scan(log_a: Tensor, b: Tensor, h0: Tensor, chunk: int = CHUNK) -> Tensor:
    """:func:`signed_loop`'s result by the log-space scan: the recurrence is linear in ``b``, so the scan of
    ``b⁺ + s`` less the scan of ``b⁻ + s``, each in log space (``h_0`` enters the first), where
    ``b⁺ = max(b, 0)``, ``b⁻ = max(-b, 0)``.

    The offset ``s = sqrt(tiny)`` (1e-19 in float32) keeps every log finite where a part is 0, which ``log 0``
    would not (its backward gives ``0·∞ = nan``); it cancels, changing values by at most ``T·s``. At ``b = 0``
    the gradient goes through ``b⁺`` (it is 1, as the loop's).
    """
    offset = math.sqrt(torch.finfo(b.dtype).tiny)
    positive = b >= 0
    pos = torch.where(positive, b, 0.0) + offset  # b⁺ + s
    neg = torch.where(positive, 0.0, -b) + offset  # b⁻ + s
    return linear_scan(log_a, pos.log(), h0, chunk) - linear_scan(log_a, neg.log(), torch.zeros_like(h0), chunk)


def linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk: int = CHUNK) -> Tensor:
    """:func:`linear_loop`'s result, every step of a chunk at once, in log space.

    Within a chunk: ``h_t = A_t h_0 + exp(log A_t + logcumsumexp_τ(log b_τ - log A_τ))`` with
    ``log A_t = Σ_{τ ≤ t} log a_τ``. ``h_0`` enters through ``A_t`` alone, so it may have any sign.
    """
    out = []
    for start in range(0, log_a.shape[0], chunk):
        la, lb = log_a[start : start + chunk], log_b[start : start + chunk]  # (C, B, H)
        log_A = torch.cumsum(la, 0)  # (C, B, H)
        h = torch.exp(log_A + torch.logcumsumexp(lb - log_A, 0)) + torch.exp(log_A) * h0  # (C, B, H)
        out.append(h)
        h0 = h[-1]
    return torch.cat(out)


class _MinBase(nn.Module):
    """Parameters (one stacked input weight per layer, gate blocks in :attr:`_blocks` order), checks, layers."""

    _blocks: tuple[str, ...]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_args(input_size, hidden_size, num_layers, bias, batch_first, 0.0, 0)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        kw = {"device": device, "dtype": dtype}
        rows = len(self._blocks) * hidden_size
        for k in range(num_layers):
            width = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(rows, width, **kw)))
            if bias:
                setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(rows, **kw)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U(-1/sqrt(H), 1/sqrt(H))`` for every parameter, as torch.nn's recurrent layers."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        return s

    def _coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)`` ``(T, B, H)`` from the input projection ``(T, B, blocks·H)``."""
        raise NotImplementedError

    def forward(self, input: Tensor, h_0: Tensor | None = None, parallel: bool = True) -> tuple[Tensor, Tensor]:
        """``input`` ``(T, B, I)`` (``(B, T, I)`` if batch_first); ``h_0`` ``(L, B, H)``, zeros if omitted.

        Returns ``(output, h_n)``: the last layer at every step ``(T, B, H)`` and every layer's last state
        ``(L, B, H)``. ``parallel=False``: the step-by-step loop (same numbers).
        """
        name = type(self).__name__
        if input.dim() != 3:
            raise ValueError(f"{name}: Expected input to be 3D, got {input.dim()}D tensor of shape {list(input.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        check_layer_input(x, self.input_size, self.weight_ih_l0)
        if x.shape[0] == 0:
            raise RuntimeError(f"{name}: Expected sequence length to be larger than 0")
        L, B, H = self.num_layers, x.shape[1], self.hidden_size
        if h_0 is None:
            h_0 = x.new_zeros(L, B, H)
        else:
            check_layer_states((h_0,), [(L, B, H)], ("hx",), ("hidden_size",), True, self.weight_ih_l0)
        run = linear_scan if parallel and x.shape[0] > 1 else linear_loop  # one step (generation): the loop
        finals = []
        for k in range(L):
            projected = F.linear(x, getattr(self, f"weight_ih_l{k}"), getattr(self, f"bias_ih_l{k}", None))
            log_a, log_b = self._coefficients(projected)  # (T, B, H) each
            x = run(log_a, log_b, h_0[k])  # (T, B, H): this layer's output, the next one's input
            finals.append(x[-1])
        output = x.transpose(0, 1) if self.batch_first else x
        return output, torch.stack(finals)


class MinGRU(_MinBase):
    """minGRU: ``h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ g(h̃_t)``, ``z_t = σ(W_z x_t + b_z)``, ``h̃_t = W_h x_t + b_h``.

    The gates read only ``x_t``, so all steps are computed at once (:func:`linear_scan`). Parameters per layer
    ``k``: ``weight_ih_l{k}`` ``(2H, I)`` stacking the z and h̃ rows, and ``bias_ih_l{k}`` ``(2H,)``.

    Args: ``input_size``, ``hidden_size``, ``num_layers``, ``bias``, ``batch_first`` as :class:`torch.nn.GRU`.
    """

    _blocks = ("z", "h")

    def _coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        k, v = projected.chunk(2, -1)  # (T, B, H) each: the z gate's and the candidate's pre-activations
        return -F.softplus(k), -F.softplus(-k) + log_g(v)  # log(1 - z), log z + log g(h̃)


class MinLSTM(_MinBase):
    """minLSTM: ``h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ g(h̃_t)`` with ``f' = f / (f + i)``, ``i' = i / (f + i)``,
    ``f, i = σ(W_f x_t + b_f), σ(W_i x_t + b_i)``: the forget and input gates normalised to sum to 1.

    Parameters per layer: ``weight_ih_l{k}`` ``(3H, I)`` stacking the f, i and h̃ rows, ``bias_ih_l{k}`` ``(3H,)``.
    """

    _blocks = ("f", "i", "h")

    def _coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = projected.chunk(3, -1)
        diff = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
        return -F.softplus(diff), -F.softplus(-diff) + log_g(v)  # log f', log i' + log g(h̃)


# -- a selective state space (Gu and Dao 2023, Mamba's S6 core) ----------------------------------------------
class SelectiveSSM(nn.Module):
    """A minimal selective state-space layer: diagonal ``A``, and a step ``Δ_t`` and projections ``B_t``, ``C_t``
    that depend on the input (which is what "selective" means: the layer chooses, per step, what to keep).

    For each channel ``d`` of ``x_t`` ``(D,)`` and state dimension ``n < N``:

        Δ_t = softplus(W_Δ x_t + b_Δ)   (D,)        B_t = W_B x_t,  C_t = W_C x_t   (N,)
        h_t[d, n] = exp(Δ_t[d] A[d, n]) h_{t-1}[d, n] + Δ_t[d] B_t[n] x_t[d]
        y_t[d] = Σ_n C_t[n] h_t[d, n] + D[d] x_t[d]

    ``A = -exp(A_log)`` is negative, so ``a_t = exp(Δ_t A) ∈ (0, 1)`` (``Ā``, the zero-order-hold
    discretisation; ``B̄ = Δ B`` its first-order form, as in Mamba). Initialised as Mamba: ``A[d, n] = -(n + 1)``
    (S4D-real), ``D = 1``, and ``b_Δ`` so that ``Δ`` starts log-uniform in ``[0.001, 0.1]``.

    Parameters: ``A_log`` ``(D, N)``, ``D`` ``(D,)``, ``weight_dt`` ``(D, D)``, ``bias_dt`` ``(D,)``,
    ``weight_B`` and ``weight_C`` ``(N, D)``. No convolution or output gate: the recurrence alone.

    Inputs: ``input`` ``(T, B, D)`` (``(B, T, D)`` if batch_first), ``h_0`` ``(B, D, N)`` or None (zeros).
    Outputs: ``(output, h_n)``: ``y`` at every step ``(T, B, D)`` and the last state ``(B, D, N)``.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_args(d_model, d_state, 1, True, batch_first, 0.0, 0)
        self.d_model, self.d_state, self.batch_first = d_model, d_state, batch_first
        kw = {"device": device, "dtype": dtype}
        self.A_log = nn.Parameter(torch.empty(d_model, d_state, **kw))
        self.D = nn.Parameter(torch.empty(d_model, **kw))
        self.weight_dt = nn.Parameter(torch.empty(d_model, d_model, **kw))
        self.bias_dt = nn.Parameter(torch.empty(d_model, **kw))
        self.weight_B = nn.Parameter(torch.empty(d_state, d_model, **kw))
        self.weight_C = nn.Parameter(torch.empty(d_state, d_model, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Mamba's initialisation (see the class docstring); the three projections ``U(-1/sqrt(D), 1/sqrt(D))``."""
        with torch.no_grad():
            n = torch.arange(1, self.d_state + 1, dtype=self.A_log.dtype, device=self.A_log.device)
            self.A_log.copy_(n.log().expand(self.d_model, -1))
            self.D.fill_(1.0)
            dt = torch.exp(torch.empty_like(self.bias_dt).uniform_(math.log(1e-3), math.log(1e-1)))
            self.bias_dt.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)
        bound = 1.0 / math.sqrt(self.d_model)
        for w in (self.weight_dt, self.weight_B, self.weight_C):
            nn.init.uniform_(w, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.d_model}, d_state={self.d_state}" + (", batch_first=True" if self.batch_first else "")

    def forward(self, input: Tensor, h_0: Tensor | None = None, parallel: bool = True) -> tuple[Tensor, Tensor]:
        """See the class docstring. ``parallel=False``: the step-by-step loop (same numbers)."""
        if input.dim() != 3:
            raise ValueError(
                f"SelectiveSSM: Expected input to be 3D, got {input.dim()}D tensor of shape {list(input.shape)}"
            )
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, D)
        check_layer_input(x, self.d_model, self.weight_dt)
        if x.shape[0] == 0:
            raise RuntimeError("SelectiveSSM: Expected sequence length to be larger than 0")
        T, B, D, N = *x.shape[:2], self.d_model, self.d_state
        if h_0 is None:
            h_0 = x.new_zeros(B, D, N)
        elif tuple(h_0.shape) != (B, D, N):
            raise RuntimeError(
                f"SelectiveSSM: Expected h_0 of size {[B, D, N]} (batch, d_model, d_state), got {list(h_0.shape)}"
            )
        else:
            check_dtype(h_0, self.weight_dt, "h_0")
            check_device(h_0, self.weight_dt, "h_0")
        dt = F.softplus(F.linear(x, self.weight_dt, self.bias_dt))  # (T, B, D)
        Bt, Ct = F.linear(x, self.weight_B), F.linear(x, self.weight_C)  # (T, B, N) each
        A = -torch.exp(self.A_log)  # (D, N), negative
        log_a = dt.unsqueeze(-1) * A  # (T, B, D, N): log Ā = Δ A <= 0
        b = (dt * x).unsqueeze(-1) * Bt.unsqueeze(2)  # (T, B, D, N): Δ B x, either sign
        run = signed_scan if parallel and T > 1 else signed_loop  # one step: the loop
        h = run(log_a.reshape(T, B, D * N), b.reshape(T, B, D * N), h_0.reshape(B, D * N)).view(T, B, D, N)
        y = torch.einsum("tbdn,tbn->tbd", h, Ct) + self.D * x  # (T, B, D)
        return (y.transpose(0, 1) if self.batch_first else y), h[-1]


# -- causal linear attention (Katharopoulos et al. 2020): the same recurrence with a matrix state -------------
def feature_map(x: Tensor) -> Tensor:
    """``φ(x) = elu(x) + 1``: positive features, so every attention weight ``φ(q)ᵀφ(k)`` is positive."""
    return F.elu(x) + 1


def linear_attention_parallel(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal linear attention, every step at once: ``out_t = Σ_{s≤t} (φ(q_t)·φ(k_s)) v_s / Σ_{s≤t} φ(q_t)·φ(k_s)``.

    ``q``, ``k`` ``(T, B, d)``, ``v`` ``(T, B, e)`` → ``(T, B, e)``. Like softmax attention with ``exp(q·k)``
    replaced by ``φ(q)·φ(k)``; the ``(T, T)`` weights are formed and masked to ``s ≤ t``.
    """
    fq, fk = feature_map(q), feature_map(k)
    scores = torch.einsum("tbd,sbd->bts", fq, fk)  # (B, T, T)
    T = q.shape[0]
    scores = scores * torch.ones(T, T, dtype=torch.bool, device=q.device).tril()  # causal: s <= t
    out = torch.einsum("bts,sbe->tbe", scores, v)  # (T, B, e)
    return out / scores.sum(-1).T.unsqueeze(-1)  # divided by Σ_s weights, (T, B, 1)


def linear_attention_recurrent(
    q: Tensor, k: Tensor, v: Tensor, state: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """The same, step by step, as an RNN: ``S_t = S_{t-1} + φ(k_t) v_tᵀ``, ``z_t = z_{t-1} + φ(k_t)``,
    ``out_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t``. The state ``(S, z)``, ``(B, d, e)`` and ``(B, d)``, has the same size
    however long the sequence: what makes it a recurrence. Returns ``(out (T, B, e), (S, z))``."""
    fq, fk = feature_map(q), feature_map(k)
    B, d, e = q.shape[1], q.shape[2], v.shape[2]
    S, z = state if state is not None else (q.new_zeros(B, d, e), q.new_zeros(B, d))
    outs = []
    for t in range(q.shape[0]):
        S = S + fk[t].unsqueeze(-1) * v[t].unsqueeze(1)  # (B, d, e): + φ(k_t) v_tᵀ
        z = z + fk[t]  # (B, d)
        num = torch.einsum("bd,bde->be", fq[t], S)
        outs.append(num / (fq[t] * z).sum(-1, keepdim=True))
    return torch.stack(outs), (S, z)

"""Notebook 12's package side: the attention decoder (rnnlab and torch.nn layers, same state_dict, same
numbers), the masked softmax, beam search (k = 1 is greedy decoding) and BLEU."""

from __future__ import annotations

import math
import random

import pytest
import torch

from rnnlab.seq2seq import (
    Attention,
    Seq2Seq,
    beam_search,
    bleu,
    greedy_decode,
    make_batch,
    masked_softmax,
    ngram_precisions,
    reversal_pairs,
    token_loss,
)
from rnnlab.vocab import END, PAD, START, CharVocab

PAIRS = reversal_pairs(6, 2, 7, seed=3)
VOCAB = CharVocab.from_strings(*"abcdefghijklmnopqrstuvwxyz", specials=(PAD, START, END))


def _model(attention, impl="rnnlab", seed=0, scale=1.0):
    torch.manual_seed(seed)
    m = Seq2Seq(len(VOCAB), 6, 8, impl=impl, attention=attention).double()
    if scale != 1:
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(scale)  # larger weights: outputs that depend on the source, some ending early
    return m


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_rnnlab_and_torch_layers_agree_in_float64(attention):
    ours = _model(attention, "rnnlab")
    ref = _model(attention, "torch")
    ref.load_state_dict(ours.state_dict())
    src, lengths, tgt_in, tgt_out = make_batch(PAIRS, VOCAB)
    results = []
    for m in (ours, ref):
        loss = token_loss(m(src, lengths, tgt_in), tgt_out)
        grads = torch.autograd.grad(loss, list(m.parameters()))
        results.append((m(src, lengths, tgt_in).detach(), dict(zip(dict(m.named_parameters()), grads))))
    (logits_a, grads_a), (logits_b, grads_b) = results
    assert (logits_a - logits_b).abs().max().item() < 1e-10
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert (grads_a[name] - grads_b[name]).abs().max().item() < 1e-10, name
    assert any(g.abs().max() > 0 for n, g in grads_a.items() if n.startswith("attention.") or attention == "dot")


def test_masked_softmax_gives_padding_exactly_zero_and_survives_an_all_padding_row():
    scores = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=torch.bool)
    w = masked_softmax(scores, mask, dim=0)
    assert torch.equal(w[~mask], torch.zeros_like(w[~mask]))  # exactly zero, not 1e-9
    torch.testing.assert_close(w[:, :2].sum(0), torch.ones(2, dtype=torch.float64))
    assert torch.equal(w[:, 2], torch.zeros(5, dtype=torch.float64))  # no position at all: zeros, not NaN
    (w * torch.randn(5, 3, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(scores.grad).all() and (scores.grad[~mask] == 0).all()
    with pytest.raises(ValueError, match="same shape"):
        masked_softmax(scores, mask[:, :2])


def test_attention_by_hand():
    """Bahdanau's e_j = vᵀ tanh(W s + U h_j), α = softmax over the real positions, c = Σ α_j h_j."""
    torch.manual_seed(1)
    att = Attention("additive", 4).double()
    s, memory = torch.randn(2, 4, dtype=torch.float64), torch.randn(3, 2, 4, dtype=torch.float64)
    mask = torch.tensor([[True, True], [True, True], [True, False]])
    context, weights = att(s, memory, att.keys(memory), mask)
    for b in range(2):
        n = int(mask[:, b].sum())
        e = torch.stack(
            [att.v.weight[0] @ torch.tanh(att.W.weight @ s[b] + att.U.weight @ memory[j, b]) for j in range(n)]
        )
        alpha = torch.softmax(e, 0)
        torch.testing.assert_close(weights[:n, b], alpha)
        torch.testing.assert_close(context[b], (alpha[:, None] * memory[:n, b]).sum(0))
    dot = Attention("dot", 4).double()
    _, w = dot(s, memory, dot.keys(memory), mask)
    torch.testing.assert_close(w[:, 0], torch.softmax(memory[:, 0] @ s[0], 0))
    assert list(dot.parameters()) == []  # Luong's dot score has no weights of its own


@pytest.mark.parametrize("attention", [None, "additive", "dot"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_of_one_is_greedy_decoding(attention, seed):
    m = _model(attention, seed=seed, scale=3.0)
    src, lengths, _, _ = make_batch(reversal_pairs(8, 2, 9, seed=seed), VOCAB)
    for max_len in (3, 12):
        assert beam_search(m, src, lengths, 1, max_len) == greedy_decode(m, src, lengths, max_len)


def test_beam_scores_are_the_outputs_mean_log_probabilities():
    m = _model("additive", seed=4, scale=3.0)
    src, lengths, _, _ = make_batch(reversal_pairs(10, 2, 9, seed=5), VOCAB)
    outs1, s1 = beam_search(m, src, lengths, 1, 12, return_scores=True)
    for b, (out, score) in enumerate(zip(outs1, s1)):  # the greedy path's own mean log-probability
        tgt_in = torch.tensor([[m.start, *out]], dtype=torch.long).T
        logp = torch.log_softmax(m(src[:, b : b + 1], lengths[b : b + 1], tgt_in), -1)[:, 0]
        ended = bool((logp[len(out)].argmax() == m.end).item()) if len(out) < logp.shape[0] else False
        path = [*out, m.end] if ended else out  # an output cut at max_len has no END step
        want = sum(logp[t, c].item() for t, c in enumerate(path)) / len(path)
        assert math.isclose(score, want, rel_tol=1e-9), (b, out)


def test_attention_maps_are_returned_per_output_step():
    m = _model("additive", seed=0, scale=3.0)
    src, lengths, _, _ = make_batch(PAIRS, VOCAB)
    outs, maps = greedy_decode(m, src, lengths, 10, return_attention=True)
    for out, amap, n in zip(outs, maps, lengths.tolist()):
        assert amap.shape == (len(out) + 1, n)  # one row per written character and END, over the real source
        torch.testing.assert_close(amap.sum(1), torch.ones(len(out) + 1, dtype=amap.dtype))
    with pytest.raises(ValueError, match="no attention"):
        greedy_decode(_model(None), src, lengths, 5, return_attention=True)


def test_bleu_reproduces_d2l_worked_example():
    # d2l.ai 10.7: label "A B C D E F", prediction "A B B C D": p1 = 4/5, p2 = 3/4, p3 = 1/3, p4 = 0
    assert ngram_precisions("ABBCD", "ABCDEF") == pytest.approx([4 / 5, 3 / 4, 1 / 3, 0.0])
    assert bleu("ABBCD", "ABCDEF") == 0.0  # a zero p4, unsmoothed
    assert bleu("ABCDEF", "ABCDEF") == 1.0
    assert bleu("ABCD", "ABCDEF") == pytest.approx(math.exp(1 - 6 / 4))  # only the brevity penalty


def test_bleu_equals_nltk_on_random_pairs():
    bleu_score = pytest.importorskip("nltk.translate.bleu_score")
    rng = random.Random(0)
    checked = nonzero = 0
    for _ in range(300):
        ref = [rng.choice("abcd") for _ in range(rng.randint(4, 14))]
        pred = list(ref)
        for _ in range(rng.randint(0, 3)):  # a few edits, so that most scores are not 0
            k = rng.randrange(len(pred))
            pred[k : k + 1] = rng.choice([[], [rng.choice("abcd")], [pred[k], rng.choice("abcd")]])
        if len(pred) < 4:
            continue
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nltk warns when a p_n is 0
            want = bleu_score.sentence_bleu([ref], pred)
        assert bleu(pred, ref) == pytest.approx(want, abs=1e-12), (pred, ref)
        checked += 1
        nonzero += want > 0
    assert checked > 200 and nonzero > 100

"""Generated tasks, the GRU encoder-decoder, teacher forcing, greedy decoding and its check."""

from __future__ import annotations

import functools

import pytest
import torch

from rnnlab.checks import CheckFailed, check_greedy_decode
from rnnlab.checks.training import _decode_variant, _decoder_case
from rnnlab.seq2seq import (
    Seq2Seq,
    Seq2SeqConfig,
    char_accuracy,
    date_pairs,
    exact_match,
    exact_match_by_length,
    greedy_decode,
    make_batch,
    reversal_pairs,
    token_loss,
    train_seq2seq,
    translate,
)
from rnnlab.vocab import END, PAD, START, CharVocab


def test_date_pairs_are_correct_varied_and_held_out_by_day():
    import datetime

    train, held = date_pairs(3000, seed=0), date_pairs(500, seed=1, held_out=True)
    for text, iso in train[:200] + held[:200]:
        d = datetime.date.fromisoformat(iso)
        assert str(d.year) in text and (str(d.day) in text or f"{d.day:02d}" in text)
    assert not {iso for _, iso in train} & {iso for _, iso in held}
    lengths = {len(s) for s, _ in train}
    assert min(lengths) <= 10 and max(lengths) >= 25  # unequal lengths, all targets 10 long
    assert {len(t) for _, t in train} == {10}
    assert date_pairs(50, seed=3) == date_pairs(50, seed=3)
    assert ("March 3, 2021", "2021-03-03") == (
        __import__("rnnlab.seq2seq", fromlist=["x"])._write_date(datetime.date(2021, 3, 3), 1),
        "2021-03-03",
    )


def test_reversal_pairs():
    pairs = reversal_pairs(100, 2, 5, seed=0)
    assert all(t == s[::-1] and 2 <= len(s) <= 5 for s, t in pairs)
    with pytest.raises(ValueError, match="min_len <= max_len"):
        reversal_pairs(3, 4, 2)


def _vocab(pairs):
    return CharVocab.from_strings(*(s + t for s, t in pairs), specials=(PAD, START, END))


def test_make_batch_layout_and_token_loss_skips_padding():
    pairs = [("abc", "xy"), ("d", "zzzz")]
    v = _vocab(pairs)
    src, lengths, tgt_in, tgt_out = make_batch(pairs, v)
    assert src.shape == (3, 2) and lengths.tolist() == [3, 1] and lengths.device.type == "cpu"
    assert [v.decode(tgt_in[:, b]) for b in range(2)] == [START + "xy" + PAD * 2, START + "zzzz"]
    assert [v.decode(tgt_out[:, b]) for b in range(2)] == ["xy" + END + PAD * 2, "zzzz" + END]
    logits = torch.randn(5, 2, len(v), dtype=torch.float64)
    want = torch.nn.functional.cross_entropy(
        torch.cat([logits[:3, 0], logits[:, 1]]), torch.cat([tgt_out[:3, 0], tgt_out[:, 1]])
    )
    torch.testing.assert_close(token_loss(logits, tgt_out), want)
    logits2 = logits.clone()
    logits2[3:, 0] = 1e3  # scores at padded positions do not count
    torch.testing.assert_close(token_loss(logits2, tgt_out), want)
    with pytest.raises(ValueError, match="do not match targets"):
        token_loss(logits[:4], tgt_out)


@pytest.mark.parametrize("teacher_forcing", [1.0, 0.0])
def test_seq2seq_rnnlab_equals_torch(teacher_forcing):
    """Same weights: identical training logits and gradients (float64), packed unsorted source."""
    pairs = [("abcde", "xy"), ("b", "yyyx"), ("cab", "x")]
    v = _vocab(pairs)
    src, lengths, tgt_in, tgt_out = make_batch(pairs, v)
    src[1:, 1] = v.index("e")  # padding garbage: packing must skip it
    torch.manual_seed(0)
    ours = Seq2Seq(len(v), 4, 5, impl="rnnlab").double()
    ref = Seq2Seq(len(v), 4, 5, impl="torch").double()
    ref.load_state_dict(ours.state_dict())
    results = []
    for m in (ours, ref):
        m.zero_grad()
        logits = m(src, lengths, tgt_in, teacher_forcing)
        token_loss(logits, tgt_out).backward()
        results.append((logits, {k: p.grad for k, p in m.named_parameters()}))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-10, rtol=0)
    for k, g in results[0][1].items():
        torch.testing.assert_close(g, results[1][1][k], atol=1e-10, rtol=0, msg=k)
    assert greedy_decode(ours, src, lengths, 6) == greedy_decode(ref, src, lengths, 6)


def test_free_running_feeds_back_the_argmax_and_forcing_the_truth():
    pairs = [("ab", "xyz"), ("ba", "zzx")]
    v = _vocab(pairs)
    src, lengths, tgt_in, _ = make_batch(pairs, v)
    torch.manual_seed(1)
    m = Seq2Seq(len(v), 4, 6).double()
    h = m.encode(src, lengths)
    free, forced, y_free, y_forced, h_free, h_forced = [], [], tgt_in[0], tgt_in[0], h, h
    for t in range(tgt_in.shape[0]):
        lf, h_free = m.decode_step(y_free, h_free)
        lt, h_forced = m.decode_step(y_forced, h_forced)
        free.append(lf)
        forced.append(lt)
        y_free = lf.argmax(-1)
        y_forced = tgt_in[t + 1] if t + 1 < tgt_in.shape[0] else None
    torch.testing.assert_close(m(src, lengths, tgt_in, 0.0), torch.stack(free))
    torch.testing.assert_close(m(src, lengths, tgt_in, 1.0), torch.stack(forced))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(m(src, lengths, tgt_in, 0.5, generator=g1), m(src, lengths, tgt_in, 0.5, generator=g2))
    with pytest.raises(ValueError, match=r"teacher_forcing must be in \[0, 1\]"):
        m(src, lengths, tgt_in, 1.5)


def test_greedy_decode_stops_at_end_and_at_max_len():
    model, src, lengths = _decoder_case(0)
    rows = greedy_decode(model, src, lengths, 6)
    assert rows == _decode_variant(model, src, lengths, 6)
    assert any(len(r) < 6 for r in rows) and any(len(r) == 6 for r in rows)
    assert all(model.end not in r for r in rows)
    assert all(len(r) <= 3 for r in greedy_decode(model, src, lengths, 3))


def test_check_greedy_decode_accepts_the_reference():
    check_greedy_decode(greedy_decode)


@pytest.mark.parametrize(
    "kw, why",
    [
        (dict(keep_start=True), "start symbol"),
        (dict(keep_end=True), "leave END out"),
        (dict(stop=False), "first END"),
        (dict(feed="start"), "fed START again"),
    ],
)
def test_check_greedy_decode_names_the_mistake(kw, why):
    wrong = functools.partial(_decode_variant, **kw)
    with pytest.raises(CheckFailed, match=why):
        check_greedy_decode(wrong)


def test_check_greedy_decode_other_failures():
    def stub(model, src, lengths, max_len):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="Not done yet"):
        check_greedy_decode(stub)
    with pytest.raises(CheckFailed, match="returned a tensor"):
        check_greedy_decode(lambda m, s, n, k: torch.zeros(4, 6))
    with pytest.raises(CheckFailed, match="one list per sequence"):
        check_greedy_decode(lambda m, s, n, k: greedy_decode(m, s, n, k)[:2])


def test_training_learns_dates_and_translates():
    train, val = date_pairs(4000, seed=0), date_pairs(200, seed=1, held_out=True)
    v = _vocab(train + val)
    torch.manual_seed(0)
    m = Seq2Seq(len(v), 16, 64)
    evals = []
    hist = train_seq2seq(
        m, train, val, v, Seq2SeqConfig(steps=60, eval_every=30), on_eval=lambda s, h: evals.append(s), progress=False
    )
    assert evals == [30, 60] == hist.eval_steps and len(hist.loss) == 60
    assert hist.loss[-1] < 0.6 * hist.loss[0]
    assert hist.val_exact[-1] == exact_match(m, val, v)
    out = translate(m, ["3 March 2021", "Mar 3 2021"], v)
    assert all(len(o) <= 32 for o in out)
    with pytest.raises(ValueError, match=r"characters \['\?'\] are not in the vocabulary"):
        translate(m, ["3 March 2021?"], v)
    assert type(hist).from_dict(hist.to_dict()) == hist
    # exposure bias and exact match by length, recorded for the notebook's stored runs
    assert hist.val_char_forced[-1] == char_accuracy(m, val, v, teacher_forcing=1)
    assert hist.val_char_free[-1] == char_accuracy(m, val, v, teacher_forcing=0)
    by_length = exact_match_by_length(m, val, v)
    assert hist.final_lengths == list(by_length) == sorted({len(s) for s, _ in val})
    assert hist.final_exact_by_length == list(by_length.values())


def test_char_accuracy_counts_every_real_target_character_and_end():
    pairs = reversal_pairs(40, 2, 9, seed=4)
    v = _vocab(pairs)
    torch.manual_seed(1)
    m = Seq2Seq(len(v), 8, 16)
    src, lengths, tgt_in, tgt_out = make_batch(pairs, v)
    real = tgt_out != v.index(PAD)
    assert real.sum().item() == sum(len(t) + 1 for _, t in pairs)  # END counts too, padding does not
    with torch.no_grad():
        for tf in (1, 0):
            pred = m(src, lengths, tgt_in, teacher_forcing=tf).argmax(-1)
            expected = (pred == tgt_out)[real].sum().item() / real.sum().item()
            # batches of 7 pad differently, and still count the same characters
            assert char_accuracy(m, pairs, v, teacher_forcing=tf, batch_size=7) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="teacher_forcing must be 0 or 1"):
        char_accuracy(m, pairs, v, teacher_forcing=0.5)


def test_exact_match_by_length_weights_back_to_exact_match():
    pairs = reversal_pairs(60, 2, 6, seed=5)
    v = _vocab(pairs)
    torch.manual_seed(2)
    m = Seq2Seq(len(v), 8, 16)
    by_length = exact_match_by_length(m, pairs, v)
    counts = {n: sum(len(s) == n for s, _ in pairs) for n in by_length}
    assert list(by_length) == sorted(counts) and all(0 <= a <= 1 for a in by_length.values())
    assert sum(by_length[n] * counts[n] for n in counts) / len(pairs) == pytest.approx(exact_match(m, pairs, v))


def test_seq2seq_config_and_model_validation():
    for bad in [dict(steps=0), dict(lr=0.0), dict(teacher_forcing=-0.1), dict(clip=float("inf"))]:
        with pytest.raises(ValueError):
            Seq2SeqConfig(**bad)
    with pytest.raises(ValueError, match="vocab_size must count PAD, START, END"):
        Seq2Seq(3)
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        Seq2Seq(10, hidden_size=-1)


def test_linear_lr_decay_reaches_zero_and_is_validated():
    from rnnlab.seq2seq import Seq2Seq, Seq2SeqConfig, reversal_pairs, train_seq2seq
    from rnnlab.vocab import END, PAD, START, CharVocab

    with pytest.raises(ValueError, match="lr_decay must be one of"):
        Seq2SeqConfig(lr_decay="cosine")
    pairs = reversal_pairs(64, 2, 4, seed=0)
    vocab = CharVocab.from_strings(*(s + t for s, t in pairs), specials=(PAD, START, END))
    seen = []
    torch.manual_seed(0)
    model = Seq2Seq(len(vocab), 4, 8)
    real_step = torch.optim.Adam.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    torch.optim.Adam.step = spy
    try:
        train_seq2seq(model, pairs, pairs[:8], vocab, steps=4, lr=0.01, lr_decay="linear", eval_every=4, progress=False)
    finally:
        torch.optim.Adam.step = real_step
    assert seen == pytest.approx([0.01, 0.0075, 0.005, 0.0025])  # step k at lr * (1 - (k - 1) / steps)

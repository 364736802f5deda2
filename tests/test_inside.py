"""rnnlab.inside (notebook 09b): states in text order, the features, the AUROC, the baselines, the probe."""

from __future__ import annotations

import pytest
import torch

from rnnlab.checks import CheckFailed, check_auroc
from rnnlab.inside import (
    auroc,
    best_unit,
    colour_text_html,
    linear_probe,
    lm_states,
    next_char_strip_html,
    ngram_scores,
    novelty,
    surprise,
    text_features,
    unit_aurocs,
)
from rnnlab.lm import CharLM, evaluate
from rnnlab.vocab import CharVocab


def pairwise(scores, labels):
    yes, no = scores[labels], scores[~labels]
    d = yes[:, None] - no[None, :]
    return ((d > 0).double() + 0.5 * (d == 0).double()).mean().item()


def test_auroc_equals_the_pairwise_definition_with_ties():
    g = torch.Generator().manual_seed(0)
    labels = torch.rand(500, generator=g) < 0.2
    for scores in (torch.randn(500, generator=g), torch.randint(0, 4, (500,), generator=g).float()):
        assert auroc(scores, labels) == pytest.approx(pairwise(scores.double(), labels), abs=1e-12)
    assert auroc(labels.double(), labels) == 1.0 and auroc(-labels.double(), labels) == 0.0
    assert auroc(torch.zeros(500), labels) == 0.5
    with pytest.raises(ValueError, match="need both classes, got 0 yes and 3 no"):
        auroc(torch.zeros(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="same length, got 3 and 4"):
        auroc(torch.zeros(3), torch.ones(4, dtype=torch.bool))


def test_features_mark_characters_after_reading_them():
    text = 'say "hi" (a \'b\' c)\n\n>>> x = [1,\n... 2]\nend "open\n\nclosed'
    f = text_features(text)
    assert all(len(v) == len(text) for v in f.values())
    marked = {name: "".join(ch for ch, m in zip(text, v.tolist()) if m) for name, v in f.items()}
    assert marked["inside_double_quotes"] == '"hi"open\n'  # the opening quote is inside, the closing one not
    assert marked["inside_single_quotes"] == "'b"
    assert marked["inside_brackets"] == "(a 'b' c[1,\n"  # a line's brackets close with the line
    assert marked["example_code_line"] == ">>> x = [1,\n... 2]\n"
    assert not f["inside_double_quotes"][text.index("closed")]  # a blank line closed the open quote


def test_ngram_scores_are_the_shares_after_the_same_context():
    train = torch.tensor([0, 1, 0, 1, 2, 0, 1])
    labels = torch.tensor([0, 1, 0, 0, 1, 0, 1]).bool()
    got = ngram_scores(train, labels, torch.tensor([1, 2, 3]), 1)
    rate = labels.double().mean()
    # after a 1: 2 yes of 3; after a 2: 1 of 1; a 3 was never seen
    assert torch.allclose(got, torch.stack([(2 + rate) / 4, (1 + rate) / 2, rate]).double())
    two = ngram_scores(train, labels, torch.tensor([0, 1]), 2)
    # (start, 0) once in training, a no; (0, 1) three times, two of them yes
    assert torch.allclose(two, torch.stack([(0 + rate) / 2, (2 + rate) / 4]).double())
    with pytest.raises(ValueError, match="n must be >= 1"):
        ngram_scores(train, labels, train, 0)


@pytest.fixture(scope="module")
def small_lm():
    vocab = CharVocab.from_strings('ab "cd\n')
    torch.manual_seed(0)
    model = CharLM(len(vocab), "lstm", 4, 6)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, len(vocab), (1001,), generator=g)
    return model, vocab, ids


def test_lm_states_are_in_text_order_and_match_a_single_stream(small_lm):
    model, _, ids = small_lm
    states = lm_states(model, ids, rows=4, seq_len=16)
    assert len(states) == 1000 and states.h.shape == (1000, 6) and states.c.shape == (1000, 6)
    row = 1000 // 4
    with torch.no_grad():  # stream 2 alone, from zeros: the same states, in the same places
        out, _ = model.rnn(model.embedding(ids[2 * row : 3 * row, None]))
    torch.testing.assert_close(states.h[2 * row : 3 * row], out[:, 0], rtol=0, atol=1e-6)
    # the surprise is the evaluation loss, character by character (evaluate also scores the very last state)
    bits = surprise(states, ids)
    assert bits.shape == (999,) and torch.isfinite(bits).all()
    assert bits.mean().item() == pytest.approx(evaluate(model, ids, batch_size=4, seq_len=16), abs=0.01)


def test_lm_states_refuses_a_stacked_model():
    model = CharLM(5, "lstm", 4, 6, num_layers=2)
    with pytest.raises(ValueError, match="one-layer model, got num_layers=2"):
        lm_states(model, torch.zeros(100, dtype=torch.int64))


def test_unit_aurocs_finds_the_unit_that_is_the_feature():
    g = torch.Generator().manual_seed(0)
    labels = torch.rand(2000, generator=g) < 0.3
    states = torch.randn(2000, 5, generator=g)
    states[:, 3] = labels.float() * 2 + torch.randn(2000, generator=g) * 0.1  # unit 3 carries the feature
    a = unit_aurocs(states, labels)
    assert int(a.argmax()) == 3 and a[3] > 0.99 and (a[[0, 1, 2, 4]] - 0.5).abs().max() < 0.05
    states[:, 3] *= -1  # a unit that goes down where the feature holds is chosen as well
    unit, held_out = best_unit(states, labels, 1000)
    assert unit == 3 and held_out < 0.01 and held_out == auroc(states[1000:, 3], labels[1000:])


def test_linear_probe_reads_a_feature_spread_over_units():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 8, generator=g)
    labels = (x[:, 0] + x[:, 1] - x[:, 2]) > 0  # no single unit has it, a direction does
    assert max(auroc(x[2000:, u], labels[2000:]) for u in range(8)) < 0.8
    assert auroc(linear_probe(x[:2000], labels[:2000], x[2000:]), labels[2000:]) > 0.99


def test_novelty_counts_copied_lines_and_real_words():
    train = "the quick brown fox jumps over the lazy dog\nanother line of text here"
    counts = novelty(["the quick brown fox jumps over the lazy dog\nthe quikc brwn fox jumps ovre"], train)
    assert counts["lines"] == 2 and counts["lines_in_training_text"] == 1 and counts["lines_new"] == 1
    assert counts["words"] == 15 and counts["words_new"] == 3


def test_html_pictures_escape_the_text_and_refuse_a_length_mismatch():
    page = colour_text_html("<a>\n", torch.tensor([1.0, -1.0, 0.0, 0.5]), "unit 3")
    assert "&lt;" in page and "<a>" not in page and "<br>" in page and "#ff" in page
    with pytest.raises(ValueError, match="4 characters, 3 values"):
        colour_text_html("abcd", torch.zeros(3))
    vocab = CharVocab.from_strings("xyz")
    logp = torch.log_softmax(torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]]), -1)
    strip = next_char_strip_html("xy", logp, vocab, k=2)
    assert strip.count("<tr>") == 3 and strip.index(">x<", strip.index("</tr>")) > 0
    with pytest.raises(ValueError, match="2 characters, 1 rows"):
        next_char_strip_html("xy", logp[:1], vocab)


def test_the_auroc_check_passes_the_reference_and_names_mistakes():
    check_auroc(auroc)
    with pytest.raises(CheckFailed, match="yes and no are exchanged"):
        check_auroc(lambda s, l: 1 - auroc(s, l))
    with pytest.raises(CheckFailed, match="tied scores count as a loss"):
        check_auroc(lambda s, l: (s[l][:, None] > s[~l][None, :]).double().mean().item())
    with pytest.raises(CheckFailed, match="accuracy of the rule score > 0"):
        check_auroc(lambda s, l: ((s > 0) == l).double().mean().item())
    with pytest.raises(CheckFailed, match="should return one number"):
        check_auroc(lambda s, l: "high")

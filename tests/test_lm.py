"""Text data, the character language model, truncated BPTT, and its exercise check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.checks import CheckFailed, check_tbptt_step
from rnnlab.lm import CharLM, python_docs_text, repeated_lines, split_text, stream_batches, tbptt_step, zen_of_python
from rnnlab.loop import detach_state
from rnnlab.vocab import CharVocab


def test_zen_of_python_is_read_silently(capsys):
    text = zen_of_python()
    assert text.startswith("The Zen of Python, by Tim Peters") and len(text) > 800
    assert capsys.readouterr().out == ""


def test_python_docs_text_is_fixed_and_large():
    text = python_docs_text()
    assert len(text) > 300_000 and text == python_docs_text()
    assert "for" in text and "\n\n" in text


def test_python_docs_text_missing_gives_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # import fails
    with pytest.raises(RuntimeError, match="no pydoc_data.topics"):
        python_docs_text()


def test_split_text():
    train, val = split_text("abcdefghij", 0.2)
    assert (train, val) == ("abcdefgh", "ij")
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match="val_fraction"):
            split_text("abcdefghij", bad)
    with pytest.raises(ValueError, match="too short"):
        split_text("abc", 0.1)


def test_split_text_drops_validation_lines_seen_in_training():
    seen = "a line that the text repeats, word for word"
    text = f"{seen}\nsome training text here\n" + "x" * 40 + f"\nfresh validation line\n{seen}\nshort\nend"
    whole_train, whole_val = split_text(text, 0.3, drop_repeated=None)
    assert whole_train + whole_val == text and seen in whole_val
    assert repeated_lines(whole_train, whole_val, min_len=40) == [seen]
    assert repeated_lines(whole_train, whole_val, min_len=len(seen) + 1) == []  # too short to count
    train, val = split_text(text, 0.3)  # drop_repeated=40 by default
    assert train == whole_train and val == whole_val.replace(seen + "\n", "") and "short" in val
    assert repeated_lines(train, val) == []
    with pytest.raises(ValueError, match="min_len"):
        repeated_lines(train, val, min_len=0)


def test_the_docs_split_keeps_no_repeated_validation_line():
    train, val = split_text(python_docs_text(), 0.1)
    whole_train, whole_val = split_text(python_docs_text(), 0.1, drop_repeated=None)
    dropped = repeated_lines(whole_train, whole_val)
    assert len(dropped) > 20 and not repeated_lines(train, val)  # pydoc_data.topics repeats whole paragraphs
    assert len(whole_val) - len(val) == sum(len(line) + 1 for line in dropped)


def test_stream_batches_rows_continue_across_chunks():
    ids = torch.arange(43)
    chunks = stream_batches(ids, batch_size=3, seq_len=5)
    assert [tuple(x.shape) for x, _ in chunks] == [(5, 3), (5, 3), (4, 3)]  # 42 // 3 = 14 per row
    rows = torch.cat([x for x, _ in chunks])  # (14, 3): each column a contiguous stretch
    assert torch.equal(rows.T.reshape(-1), ids[:42])
    for x, y in chunks:
        assert torch.equal(y, x + 1)  # next character
    with pytest.raises(ValueError, match="1-D"):
        stream_batches(ids.view(1, -1), 2, 5)
    with pytest.raises(ValueError, match="cannot fill"):
        stream_batches(torch.arange(3), 4, 5)
    with pytest.raises(ValueError, match=">= 1"):
        stream_batches(ids, 0, 5)


@pytest.mark.parametrize("kind", [k for k in CharLM.KINDS if k not in CharLM.PARALLEL_KINDS])  # torch.nn's kinds
def test_charlm_rnnlab_and_torch_share_state_dicts_and_results(kind):
    torch.manual_seed(0)
    ours = CharLM(9, kind, embedding_dim=4, hidden_size=6, num_layers=2).double()
    ref = CharLM(9, kind, embedding_dim=4, hidden_size=6, num_layers=2, impl="torch").double()
    ref.load_state_dict(ours.state_dict())  # strict: same names and shapes
    x = torch.randint(0, 9, (7, 3))
    (lo, so), (lr, _) = ours(x), ref(x)
    torch.testing.assert_close(lo, lr, atol=1e-10, rtol=0)
    lo.sum().backward()
    lr.sum().backward()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-10, rtol=0, msg=name)
    logits, _state = ours(x[:2], detach_state(so))  # the state carries on
    assert logits.shape == (2, 3, 9)


def test_charlm_validates_its_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        CharLM(5, "transformer")
    with pytest.raises(ValueError, match="impl must be"):
        CharLM(5, impl="jax")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        CharLM(5, hidden_size=0)
    with pytest.raises(ValueError, match="nonlinearity applies to kind='rnn' only"):
        CharLM(5, "lstm", nonlinearity="relu")
    assert CharLM(5, "rnn", nonlinearity="relu").rnn.nonlinearity == "relu"


def test_detach_state():
    h = torch.ones(2, requires_grad=True) * 2
    assert detach_state(None) is None
    assert detach_state(h).grad_fn is None
    assert all(s.grad_fn is None for s in detach_state((h, h)))


def test_tbptt_step_trains_and_cuts_the_graph():
    text = zen_of_python()
    vocab = CharVocab.from_strings(text)
    chunks = stream_batches(vocab.encode(text), 4, 40)
    torch.manual_seed(0)
    model = CharLM(len(vocab), "gru", 8, 32)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    state, first, last = None, None, None
    for _epoch in range(6):
        state = None
        for x, y in chunks:
            loss, state = tbptt_step(model, opt, x, y, state, clip=1.0)
            assert isinstance(loss, float) and state.grad_fn is None
            first = loss if first is None else first
        last = loss
    assert last < first - 0.5


def _steps():
    """The step written right, and written with each classic mistake."""

    def loss_of(model, x, y, state):
        logits, state = model(x, state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state

    def right(model, opt, x, y, state, clip):
        opt.zero_grad()
        loss, state = loss_of(model, x, y, detach_state(state))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss, state  # a tensor loss and an attached state are fine: detached on the way in

    def no_detach(model, opt, x, y, state, clip):
        opt.zero_grad()
        loss, state = loss_of(model, x, y, state)
        loss.backward()
        opt.step()
        return loss.item(), state

    def retain(model, opt, x, y, state, clip):
        opt.zero_grad()
        loss, state = loss_of(model, x, y, state)
        loss.backward(retain_graph=True)
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss.item(), state

    def clip_first(model, opt, x, y, state, clip):
        opt.zero_grad()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        loss, state = loss_of(model, x, y, detach_state(state))
        loss.backward()
        opt.step()
        return loss.item(), detach_state(state)

    def wrong_loss(model, opt, x, y, state, clip):
        opt.zero_grad()
        loss, state = loss_of(model, x, y, detach_state(state))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return 2 * loss.item(), detach_state(state)

    return right, no_detach, retain, clip_first, wrong_loss


def test_check_tbptt_step_passes_right_answers(capsys):
    right = _steps()[0]
    check_tbptt_step(tbptt_step)
    check_tbptt_step(right)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize(
    "index,expected",
    [
        (1, "carried state was not detached"),
        (2, "in-place modification error"),
        (3, "clip_grad_norm_ must run after loss.backward()"),
        (4, "returned losses"),
    ],
    ids=["no-detach", "retain-graph", "clip-before-backward", "wrong-loss"],
)
def test_check_tbptt_step_names_the_mistake(index, expected):
    with pytest.raises(CheckFailed, match=expected):
        check_tbptt_step(_steps()[index])


def test_check_tbptt_step_reports_a_wrong_signature():
    with pytest.raises(CheckFailed, match=r"should return \(loss, state\)"):
        check_tbptt_step(lambda model, opt, x, y, state, clip: 1.0)


def test_split_text_refuses_a_validation_part_that_only_repeats_training():
    line = "a line of forty characters or more, repeated"
    with pytest.raises(ValueError, match="leaving 0 characters to validate on \\(at least 2 are needed\\)"):
        split_text((line + "\n") * 20, 0.1)
    assert split_text((line + "\n") * 20, 0.1, drop_repeated=None)[1]  # kept whole, it is there

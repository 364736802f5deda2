"""rnnlab.checks accepts right answers and names the mistake in wrong ones."""

from __future__ import annotations

import pytest
import torch

from rnnlab import checks
from rnnlab.checks import CheckFailed


def rnn_right(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def rnn_untransposed(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh + b_hh)


def rnn_ih_untransposed(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih + b_ih + h @ W_hh.T + b_hh)


def lstm_right(x, h, c, W_ih, W_hh, b_ih, b_hh):
    i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_ifog(x, h, c, W_ih, W_hh, b_ih, b_hh):
    i, f, o, g = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru(form):
    def step(x, h, W_ih, W_hh, b_ih, b_hh):
        i_r, i_z, i_n = (x @ W_ih.T + b_ih).chunk(3, 1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        if form == "paper":
            W_hn, b_hn = W_hh.chunk(3)[2], b_hh.chunk(3)[2]
            n = torch.tanh(i_n + (r * h) @ W_hn.T + b_hn)
        else:
            n = torch.tanh(i_n + r * h_n)
        return z * n + (1 - z) * h if form == "z_swapped" else (1 - z) * n + z * h

    return step


def stub(*args):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    checks.check_rnn_step(rnn_right)
    checks.check_lstm_step(lstm_right)
    checks.check_gru_step(gru("torch"))
    out = capsys.readouterr().out
    assert out.count("✓") == 3 and "RNNCell" in out and "LSTMCell" in out and "GRUCell" in out


@pytest.mark.parametrize(
    "check,fn,fragment",
    [
        (checks.check_rnn_step, rnn_untransposed, "W_hh is used untransposed"),
        (checks.check_rnn_step, rnn_ih_untransposed, "multiply by W.T"),
        (checks.check_lstm_step, lstm_ifog, "order i, f, o, g"),
        (checks.check_gru_step, gru("paper"), "paper's GRU"),
        (checks.check_gru_step, gru("z_swapped"), "(1 - z) ⊙ n + z ⊙ h"),
        (
            checks.check_rnn_step,
            lambda x, h, W_ih, W_hh, b_ih, b_hh: x @ W_ih.T + h @ W_hh.T,
            "the tanh and both biases are missing",
        ),
        (
            checks.check_rnn_step,
            lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + h @ W_hh.T),
            "both biases are missing",
        ),
        (checks.check_lstm_step, lambda *a: lstm_right(*a)[::-1], "returned as (c', h')"),
        (checks.check_rnn_step, stub, "NotImplementedError"),
        (checks.check_lstm_step, stub, "Not done yet"),
        (checks.check_lstm_step, lambda *a: lstm_right(*a)[0], "expected 2"),
        (checks.check_rnn_step, lambda *a: rnn_right(*a)[0], "shape (3,), expected (4, 3)"),
    ],
)
def test_wrong_answers_are_diagnosed(check, fn, fragment):
    with pytest.raises(CheckFailed, match=None) as e:
        check(fn)
    assert fragment in str(e.value)


def test_unknown_mistake_still_reports_the_difference():
    with pytest.raises(CheckFailed, match="values differ from torch by up to .*none of the classic"):
        checks.check_rnn_step(lambda *a: rnn_right(*a) * 0.5)


def right_shapes(seq_len, batch, input_size, hidden_size, num_layers, bidirectional, batch_first):
    D = 2 if bidirectional else 1
    out = (batch, seq_len, D * hidden_size) if batch_first else (seq_len, batch, D * hidden_size)
    return out, (num_layers * D, batch, hidden_size)


def test_shape_check(capsys):
    checks.check_rnn_shapes(right_shapes)
    assert "✓" in capsys.readouterr().out

    def h_n_batch_first(*a):
        out, (r, b, h) = right_shapes(*a)
        return out, ((b, r, h) if a[-1] else (r, b, h))

    with pytest.raises(CheckFailed, match="batch_first does not apply to h_n"):
        checks.check_rnn_shapes(h_n_batch_first)

    def forgot_directions(*a):
        out, (_r, b, h) = right_shapes(*a)
        return out[:-1] + (a[3],), (a[4], b, h)

    with pytest.raises(CheckFailed, match="2\\*hidden_size"):
        checks.check_rnn_shapes(forgot_directions)


def test_diagnose_names_mistakes_directly():
    g = torch.Generator().manual_seed(0)
    x, h = torch.randn(2, 5, generator=g, dtype=torch.float64), torch.randn(2, 3, generator=g, dtype=torch.float64)
    W_ih, W_hh = (
        torch.randn(9, 5, generator=g, dtype=torch.float64),
        torch.randn(9, 3, generator=g, dtype=torch.float64),
    )
    b_ih, b_hh = torch.randn(9, generator=g, dtype=torch.float64), torch.randn(9, generator=g, dtype=torch.float64)
    args = (x, h, W_ih, W_hh, b_ih, b_hh)
    assert "paper" in checks.diagnose("gru", gru("paper")(*args), *args)
    assert checks.diagnose("gru", gru("torch")(*args), *args) is None


def test_diagnose_final_state_names_each_mistake():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 4)
    bi = torch.nn.GRU(4, 5, num_layers=2, bidirectional=True)
    out, h_n = bi(x)
    assert checks.diagnose_final_state(bi, x, torch.cat([h_n[-2], h_n[-1]], -1)).startswith("right")
    assert checks.diagnose_final_state(bi, x, out[-1]).startswith("output[-1]")
    assert checks.diagnose_final_state(bi, x, h_n[-1]).startswith("h_n[-1] alone")
    assert checks.diagnose_final_state(bi, x, out[:, -1]).startswith("output[:, -1]")
    assert checks.diagnose_final_state(bi, x, h_n[1]).startswith("h_n[1]: layer 0 backward")
    assert checks.diagnose_final_state(bi, x, torch.zeros(3, 10)).startswith("no known mistake")
    bf = torch.nn.LSTM(4, 5, num_layers=3, batch_first=True)
    xb = torch.randn(3, 6, 4)
    _, (h, _) = bf(xb)
    assert "batch-first" in checks.diagnose_final_state(bf, xb, h[:, -1])
    assert checks.diagnose_final_state(bf, xb, h[-1]).startswith("right")


def test_summary_and_last_valid_checks():
    def summary_right(h_n, L, bi):
        return torch.cat([h_n[-2], h_n[-1]], -1) if bi else h_n[-1]

    checks.check_sequence_summary(summary_right)
    with pytest.raises(CheckFailed, match="h_n\\[-1\\] alone"):
        checks.check_sequence_summary(lambda h_n, L, bi: h_n[-1])
    with pytest.raises(CheckFailed, match="Not done yet"):
        checks.check_sequence_summary(stub)

    checks.check_last_valid_outputs(lambda out, n: out[n - 1, torch.arange(out.shape[1])])
    with pytest.raises(CheckFailed, match="padding"):
        checks.check_last_valid_outputs(lambda out, n: out[-1])
    with pytest.raises(CheckFailed, match="one step past the end"):
        checks.check_last_valid_outputs(lambda out, n: out[n.clamp(max=out.shape[0] - 1), torch.arange(out.shape[1])])


def test_sequence_loss_check():
    import torch.nn.functional as F

    checks.check_sequence_loss(lambda lg, t: F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1)))
    checks.check_sequence_loss(lambda lg, t: F.cross_entropy(lg.permute(1, 2, 0), t.T))
    with pytest.raises(CheckFailed, match="T times the mean"):
        checks.check_sequence_loss(lambda lg, t: sum(F.cross_entropy(lg[k], t[k]) for k in range(len(lg))))
    with pytest.raises(CheckFailed, match="classes on dim 1"):
        checks.check_sequence_loss(lambda lg, t: F.cross_entropy(lg, t))


def _lstm_right(x, h, c, W_ih, W_hh, b_ih, b_hh):
    i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, 1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c2), c2


def test_check_lstm_step_names_a_swapped_return():
    from rnnlab.checks import check_lstm_step

    def swapped(*args):
        h2, c2 = _lstm_right(*args)
        return c2, h2

    with pytest.raises(CheckFailed, match=r"returned as \(c', h'\)"):
        check_lstm_step(swapped)
    check_lstm_step(_lstm_right)


@pytest.mark.parametrize("how", ["torch.lstm_cell", "torch._VF.lstm_cell", "nn.LSTMCell"])
def test_step_checks_refuse_torchs_fused_kernels(how):
    from torch import nn

    from rnnlab.checks import check_lstm_step

    def fused(x, h, c, W_ih, W_hh, b_ih, b_hh):
        if how == "torch.lstm_cell":
            return torch.lstm_cell(x, (h, c), W_ih, W_hh, b_ih, b_hh)
        if how == "torch._VF.lstm_cell":
            return torch._VF.lstm_cell(x, (h, c), W_ih, W_hh, b_ih, b_hh)
        cell = nn.LSTMCell(x.shape[1], h.shape[1], dtype=x.dtype)
        with torch.no_grad():
            for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), (W_ih, W_hh, b_ih, b_hh)):
                p.copy_(v)
        return cell(x, (h, c))

    with pytest.raises(CheckFailed, match="fused kernel lstm_cell"):
        check_lstm_step(fused)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_rnn_and_gru_step_checks_refuse_fused_cells(kind):
    from rnnlab.checks import check_gru_step, check_rnn_step

    check, op = {"rnn": (check_rnn_step, torch.rnn_tanh_cell), "gru": (check_gru_step, torch.gru_cell)}[kind]
    with pytest.raises(CheckFailed, match=f"fused kernel {op.__name__}"):
        check(lambda x, h, W_ih, W_hh, b_ih, b_hh: op(x, h, W_ih, W_hh, b_ih, b_hh))


def test_step_check_accepts_a_partial():
    import functools

    from rnnlab.checks import check_lstm_step

    check_lstm_step(functools.partial(_lstm_right))


def test_checks_leave_the_learners_random_state_alone(capsys):
    """A check draws its own cases without reseeding torch's global generator."""

    def summary(h_n, num_layers, bidirectional):
        return torch.cat([h_n[-2], h_n[-1]], -1) if bidirectional else h_n[-1]

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_sequence_summary(summary)
    assert torch.equal(torch.rand(3), expected)


def test_a_partial_passes_and_is_named(capsys):
    import functools

    def step(x, h, W_ih, W_hh, b_ih, b_hh, act=torch.tanh):
        return act(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)

    checks.check_rnn_step(functools.partial(step, act=torch.tanh))
    assert "✓ step equals torch.nn.RNNCell" in capsys.readouterr().out


def test_a_failed_check_shows_its_verdict_not_a_traceback():
    """In Jupyter a stub's failing check prints one red verdict, not ~15 lines of the checker's frames."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    nb = nbformat.v4.new_notebook()
    source = "from rnnlab.checks import check_rnn_step\ndef rnn_step(*args):\n    raise NotImplementedError\n"
    nb.cells = [nbformat.v4.new_code_cell(source + "check_rnn_step(rnn_step)")]
    nbclient.NotebookClient(nb, allow_errors=True, kernel_name="python3", timeout=120).execute()
    (error,) = nb.cells[0].outputs
    assert error.ename == "CheckFailed" and len(error.traceback) == 1
    assert "✗" in error.traceback[0] and "Not done yet: rnn_step still raises NotImplementedError" in error.traceback[0]
    assert "File " not in "".join(error.traceback) and "_core.py" not in "".join(error.traceback)


# -- the checks in Chinese ---------------------------------------------------------------------------
def test_every_check_message_has_a_translation_with_the_same_placeholders():
    import string

    import translate  # tools/

    from rnnlab.checks._i18n import catalogue

    zh = catalogue("zh-CN")
    fields = lambda t: sorted(f for _, f, _, _ in string.Formatter().parse(t) if f is not None)
    for template in translate.check_messages():
        assert template in zh, f"no zh-CN translation of {template!r}: run `python tools/translate.py update`"
        assert fields(zh[template]) == fields(template), template
        specs = [(s, c) for _, f, s, c in string.Formatter().parse(template) if f is not None and (s or c)]
        assert not specs, f"format the value before tr(), not in the template: {template!r}"
    stale = set(zh) - set(translate.check_messages())
    assert not stale, f"translations of messages no check prints: {sorted(stale)[:3]}"


def test_checks_answer_in_the_learners_language(tmp_path, monkeypatch, capsys):
    from rnnlab.checks import _i18n, check_rnn_step
    from rnnlab.checks.steps import _rnn_variants  # noqa: F401 (the catalogue is built per call)

    def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
        return torch.tanh(x @ W_ih.T + h @ W_hh.T)  # both biases missing

    monkeypatch.delenv("RNNLAB_LANG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _i18n.language() == "en"
    with pytest.raises(CheckFailed, match="both biases are missing"):
        check_rnn_step(rnn_step)
    (tmp_path / ".rnnlab-lang").write_text("zh-CN\n")  # a Chinese course folder
    with pytest.raises(CheckFailed, match="两个偏置都缺了") as e:
        check_rnn_step(rnn_step)
    assert "形状对了，但数值与 torch 最多相差" in str(e.value) and "诊断：" in str(e.value)
    monkeypatch.setenv("RNNLAB_LANG", "en_US.UTF-8")  # the environment wins over the folder
    with pytest.raises(CheckFailed, match="both biases are missing"):
        check_rnn_step(rnn_step)
    _i18n.set_language("zh_CN")  # and set_language over both
    try:
        check_rnn_step(lambda x, h, W_ih, W_hh, b_ih, b_hh: torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh))
        assert "✓ <lambda> 在 3 个随机用例上等于 torch.nn.RNNCell" in capsys.readouterr().out
    finally:
        _i18n.set_language(None)
    with pytest.raises(ValueError, match="unknown language"):
        _i18n.set_language("fr")


def test_stored_english_outputs_translate_as_the_checks_print_them():
    """The zh-CN build translates the stored outputs with the same catalogue: every template, filled with
    sample values and printed in English, becomes exactly what the check prints in Chinese."""
    import string

    import translate

    from rnnlab.checks._i18n import catalogue, translate_text

    zh = catalogue("zh-CN")
    for k, template in enumerate(translate.check_messages()):
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        values = {n: f"v{k}_{n}" for n in names}
        line = "» " + template.format(**values) + " «"
        assert translate_text(line, "zh-CN") == "» " + zh[template].format(**values) + " «", template


def test_the_chinese_student_stub():
    import notebooks as nbtools

    assert 'raise NotImplementedError("动手练习：把这一行换成你的代码")' in nbtools.stub("zh-CN")
    assert "# YOUR CODE HERE" in nbtools.stub("zh-CN")  # nbgrader's marker stays


def _naive_masked(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), 0)  # NaN on an all-padding column


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda s, m: torch.softmax(s.masked_fill(~m, float("-inf")), 1).nan_to_num(0.0), r"over the batch \(dim 1\)"),
        (lambda s, m: torch.softmax(s, 0), "the padding is not masked"),
        (lambda s, m: torch.softmax(s, 0) * m, "zeroed after: the real weights no longer sum to 1"),
        (_naive_masked, "got NaN weights"),
        (lambda s, m: torch.sigmoid(s) * m, "must sum to 1 over its real positions"),
    ],
)
def test_masked_softmax_check_names_the_mistakes(wrong, message):
    from rnnlab.checks import check_masked_softmax

    with pytest.raises(CheckFailed, match=message):
        check_masked_softmax(wrong)


def test_masked_softmax_check_passes_the_right_answer(capsys):
    from rnnlab.checks import check_masked_softmax
    from rnnlab.seq2seq import masked_softmax

    check_masked_softmax(lambda s, m: masked_softmax(s, m))
    assert "✓" in capsys.readouterr().out

"""The zh-CN edition: every English markdown cell has a current translation (a changed English cell fails
this until its translation is updated), code stays untouched, the glossary's terms are used, and the
translated notebooks build (``make test`` then runs them under nbval like the English ones)."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import translate  # tools/: on the path (conftest.py), as when make runs a tool

from rnnlab.checks._i18n import translate_text

polib = pytest.importorskip("polib")
ROOT = Path(__file__).resolve().parents[1]

LANG = "zh-CN"
GLOSSARY = ROOT / "translations" / LANG / "glossary.md"
# The glossary's checked terms (✓): Chinese term -> the English it translates (a regex on prose outside code).
CHECKED = {
    "隐状态": r"\bhidden states?\b",
    "记忆元": r"\bcell states?\b",
    "隐藏单元数": r"(?<!Expected )\bhidden size\b",  # not torch's message "Expected hidden size (...)"
    "输入门": r"\binput gates?\b",
    "遗忘门": r"\bforget[- ]gates?\b",
    "输出门": r"\boutput gates?\b",
    "重置门": r"\breset gates?\b",
    "更新门": r"\bupdate gates?\b",
    "时间步": r"\btime steps?\b",
    "层": r"\blayers?\b",
    "双向": r"\bbidirectional\b",
    "权重": r"\bweights?\b",
    "梯度": r"\bgradients?\b",
    "消失": r"\bvanish(es|ing)?\b",
    "爆炸": r"\bexplod(e|es|ing)\b|\bexplosions?\b",
    "裁剪": r"\bclip(s|ping)?\b",
    "通过时间反向传播": r"\bbackprop(agation)? through time\b|\bBPTT\b",
    "填充": r"\bpadding\b",
    "打包": r"\bpack(ing|ed)\b",
    "掩码": r"\bmask\b",
    "独热": r"\bone-hot\b",
    "编码器": r"\bencoder\b",
    "解码器": r"\bdecoder\b",
    "强制教学": r"\bteacher forcing\b",
    "自由运行": r"\bfree running\b",
    "暴露偏差": r"\bexposure bias\b",
    "贪心": r"\bgreedy\b",
    "注意力": r"\battention\b",
    "每字符比特数": r"\bbits per character\b",
    "困惑度": r"\bperplexity\b",
    "基线": r"\bbaselines?\b",
    "混淆矩阵": r"\bconfusion matrix\b",
    "检查点": r"\bcheckpoints?\b",
    "## 动手练习": r"^## Your turn",
    "## 小结": r"^## Summary",
    "**讲者备注。**": r"^\*\*Speaker notes\.\*\*",
}


def entries():
    for path in translate.numbered():
        for e in polib.pofile(str(translate.po_path(path, LANG))):
            if not e.obsolete:
                yield path.name, e


def test_every_markdown_cell_has_a_current_translation():
    stale = {name: c for name, c in translate.status(LANG).items() if c["fuzzy"] or c["missing"]}
    assert not stale, (
        f"translations out of date: {stale}. Run `python tools/translate.py update`, then translate the empty and "
        f"fuzzy entries in translations/{LANG}/*.po (a fuzzy entry shows the old English as #| msgid)."
    )


def test_code_math_and_blocks_are_kept():
    """Fenced code and display math are copied verbatim; every inline code span of the English is in the translation."""
    fenced = re.compile(r"```.*?```|\$\$.*?\$\$", re.S)
    span = re.compile(r"`[^`]+`")
    for name, e in entries():
        assert fenced.findall(e.msgid) == fenced.findall(e.msgstr), (name, e.msgid[:60], "code block or math changed")
        en_text, zh_text = fenced.sub("", e.msgid), fenced.sub("", e.msgstr)
        en = Counter(" ".join(s.split()) for s in span.findall(en_text))
        zh = Counter(" ".join(s.split()) for s in span.findall(zh_text))
        assert not en - zh, (name, e.msgid[:60], "code spans changed or lost:", list(en - zh))
        assert e.msgid.count("|---") == e.msgstr.count("|---"), (name, "table", e.msgid[:60])
        assert re.match(r"#+ ", e.msgid) is None or e.msgstr.split(" ")[0] == e.msgid.split(" ")[0], (
            name,
            e.msgid[:40],
        )


def test_the_glossary_lists_the_checked_terms():
    """The ✓ rows of glossary.md and CHECKED agree: each ✓ row is enforced, each enforced term is in the table."""
    rows = [r.split("|")[1:-1] for r in GLOSSARY.read_text().splitlines() if r.startswith("| ") and "---" not in r]
    ticked = [cells[1].strip() for cells in rows[1:] if cells[3].strip() == "✓"]
    keys = [k.strip("*# ") for k in CHECKED]
    for zh in ticked:
        assert any(k in zh for k in keys), f"glossary ✓ '{zh}' is not enforced by CHECKED"
    for k in keys:
        assert any(k in zh for zh in ticked), f"CHECKED '{k}' has no ✓ row in glossary.md"


@pytest.mark.parametrize("zh", sorted(CHECKED))
def test_glossary_term_is_used(zh):
    pattern = re.compile(CHECKED[zh], re.I | re.M)
    misses = [
        (name, e.msgid[:50])
        for name, e in entries()
        if pattern.search(re.sub(r"`[^`]*`", "", e.msgid)) and zh not in e.msgstr
    ]
    assert not misses, f"'{zh}' not used where the English says {CHECKED[zh]!r}: {misses[:3]}"


def test_translated_notebooks_keep_code_and_outputs(tmp_path):
    written = translate.build(LANG, tmp_path)
    assert [p.name for p in written] == [p.name for p in translate.numbered()]
    assert (tmp_path / "data").is_dir()  # the notebooks read data/ relative to themselves
    for path, out in zip(translate.numbered(), written):
        en, zh = nbformat.read(path, as_version=4), nbformat.read(out, as_version=4)
        nbformat.validate(zh)
        assert len(en.cells) == len(zh.cells)
        for a, b in zip(en.cells, zh.cells):
            assert a.cell_type == b.cell_type and a.metadata == b.metadata
            if a.cell_type == "code":  # same code and outputs; what the checks printed, in Chinese
                assert a.source == b.source and len(a.outputs) == len(b.outputs)
                for x, y in zip(a.outputs, b.outputs):
                    if x.output_type == "stream":
                        assert y.text == translate_text(x.text, LANG)
                    else:
                        assert x == y
            elif a.source.strip():
                assert a.source != b.source, (path.name, a.source[:40])
        assert "学完本节" in zh.cells[0].source and zh.cells[-1].source.startswith("## 小结")
    assert (tmp_path / ".rnnlab-lang").read_text().strip() == LANG  # the checks answer in Chinese there
    stored = "".join(
        o.get("text", "")
        for c in nbformat.read(next(w for w in written if w.name.startswith("02_")), as_version=4).cells
        for o in c.get("outputs", [])
    )
    assert "✓ my_rnn_step 在 3 个随机用例上等于 torch.nn.RNNCell" in stored


def test_a_changed_english_cell_becomes_fuzzy_and_is_not_used(tmp_path, monkeypatch):
    """The staleness machinery itself: edit an English cell, run update, and the old translation is kept
    only as a fuzzy suggestion (with the old English), which build does not use and status reports."""
    notebooks, translations = tmp_path / "notebooks", tmp_path / "translations"
    notebooks.mkdir()
    source = next(p for p in translate.numbered() if p.name.startswith("02_"))  # "one time step of one layer"
    shutil.copy(source, notebooks / source.name)
    shutil.copytree(ROOT / "translations" / LANG, translations / LANG)
    monkeypatch.setattr(translate, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(translate, "TRANSLATIONS", translations)
    nb = nbformat.read(notebooks / source.name, as_version=4)
    k, old = translate.markdown_cells(nb)[2]
    nb.cells[k].source = old.replace("one time step of one layer", "one time step of a single layer")
    nbformat.write(nb, notebooks / source.name)
    assert translate.status(LANG)[source.name]["missing"] == 1
    translate.update(LANG)
    counts = translate.status(LANG)[source.name]
    assert counts["fuzzy"] == 1 and counts["missing"] == 0
    entry = next(e for e in polib.pofile(str(translations / LANG / f"{source.stem}.po")) if "fuzzy" in e.flags)
    assert entry.previous_msgid == old and entry.msgid == nb.cells[k].source
    built = nbformat.read(translate.build(LANG, tmp_path / "out")[0], as_version=4)
    assert built.cells[k].source == nb.cells[k].source  # English, not the stale translation


def test_chinese_student_copies(tmp_path):
    """make lab-student LANG=zh: the translated notebooks, solutions replaced by stubs, outputs cleared."""
    import notebooks as nbtools

    written = nbtools.student(tmp_path, lang=LANG)
    nb = nbformat.read(written[0], as_version=4)
    assert "学完本节" in nb.cells[0].source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert any("动手练习：把这一行换成你的代码" in c.source for c in nb.cells if c.cell_type == "code")
    assert (tmp_path / ".rnnlab-lang").read_text().strip() == LANG
    assert not any(c.metadata.get("slideshow", {}).get("slide_type") == "notes" for c in nb.cells)


@pytest.mark.parametrize(
    "added",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "<iframe src='https://example.com'></iframe>",
        "[点此](javascript:alert(1))",
        "<a href='data:text/html;base64,PHNjcmlwdD4='>链接</a>",
    ],
)
def test_a_translation_that_adds_markup_is_refused(tmp_path, monkeypatch, added):
    """A .po file is text from translators: raw HTML or a script it adds never reaches JupyterLab or the site."""
    translations = tmp_path / "translations"
    shutil.copytree(ROOT / "translations" / LANG, translations / LANG)
    monkeypatch.setattr(translate, "TRANSLATIONS", translations)
    path = translations / LANG / f"{translate.numbered()[0].stem}.po"
    po = polib.pofile(str(path))
    entry = next(e for e in po if e.msgstr and not e.obsolete)
    entry.msgstr += "\n\n" + added
    po.save(str(path))
    with pytest.raises(ValueError, match="the translation adds markup"):
        translate.build(LANG, tmp_path / "out")


def test_markup_check_spares_code_math_and_the_english_own_tags():
    assert translate.markup_problems("x", "当 $t<n_b$ 且 `a<b>c` 时") == []
    assert translate.markup_problems("a <br> b", "甲 <br> 乙") == []
    assert translate.markup_problems("a <br> b", "甲 <br> 乙 <br>") == ["<br> is not in the English text"]
    assert translate.markup_problems("x", "```html\n<script>\n```") == []


def test_no_translation_adds_markup():
    for path in translate.numbered():
        po = translate.po_path(path, LANG)
        for e in polib.pofile(str(po)):
            assert translate.markup_problems(e.msgid, e.msgstr) == [], (po.name, e.linenum)


CJK = r"[\u3400-\u9fff]"
LITERAL = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$", re.S)


@pytest.mark.parametrize(
    "rule, pattern",
    [
        ("ASCII quotes around Chinese: use “ ”", rf'"[^"\n]*{CJK}[^"\n]*"'),
        ("ASCII comma or colon between Chinese characters: use ，or ：", rf"{CJK}[,:](?=\s*{CJK})"),
        ("ASCII parentheses around Chinese: use （ ）", rf"\((?={CJK})[^()\n]*{CJK}[^()\n]*\)"),
        ("细胞 for cell: the LSTM's c is 记忆元, a module is 单元, a notebook cell 单元格", r"细胞"),
        ("隐藏大小 for hidden size: 隐藏单元数", r"隐藏大小"),
    ],
)
def test_chinese_punctuation_and_terms(rule, pattern):
    """The zh-CN style rules (translations/zh-CN/glossary.md), outside code spans, code blocks and math."""
    found = [
        (name, e.linenum, m.group(0)) for name, e in entries() for m in re.finditer(pattern, LITERAL.sub("", e.msgstr))
    ]
    assert not found, f"{rule}: {found[:5]}"


def test_section_and_notebook_are_not_both_jie():
    """节 is a notebook (第 03 节, 本节); a section inside one is 小节. Where the English says "section N", the
    translation must say 第 N 小节."""
    misses = [
        (name, e.linenum, n)
        for name, e in entries()
        for n in re.findall(r"\bsection (\d+)\b", e.msgid, re.I)
        if f"第 {n} 小节" not in e.msgstr
    ]
    assert not misses, misses


def test_the_readme_counts_the_translated_notebooks():
    """The README's Chinese section says how many notebooks are translated; it once said eleven of fourteen."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"全部 {len(translate.numbered())} 个笔记本" in readme

"""Translations of the course: gettext .po files beside the English notebooks, and the translated notebooks
built from them.

    python tools/translate.py update  [--lang zh-CN]   sync translations/<lang>/*.po with the English notebooks
    python tools/translate.py status  [--lang zh-CN]   count translated, fuzzy (stale) and missing cells; exit 1 if
                                                       any is not translated
    python tools/translate.py build   [--lang zh-CN] [--out build/zh-CN/notebooks]
                                                       the translated notebooks (+ data/), ready for JupyterLab,
                                                       nbval, the site and the slides

The English notebooks are the one source of code and outputs. A translation replaces only the text of markdown
cells: each cell's English source is a ``msgid`` in ``translations/<lang>/<notebook>.po`` (gettext's format, the one
Sphinx and the Python docs translations use, editable with Poedit or any text editor) and its translation the
``msgstr``. Code cells, their outputs, API names and shapes stay as they are.

When an English cell changes, ``update`` keeps its old translation but marks it ``fuzzy`` with the previous English
text (``#| msgid``), so a translator sees exactly what changed; a new cell gets an empty ``msgstr``. ``build`` never
uses a fuzzy or empty translation (the English text stays), and tests/test_translations.py fails while any exists.

A translation is text, never markup: ``build`` refuses one that brings raw HTML its English cell does not have
(a ``<script>``, an ``<img onerror=...>``, an ``<iframe>``...), an ``on...=`` event attribute or a ``javascript:`` /
``data:`` link, since the translated notebooks are rendered in JupyterLab and on the static site (``make site``).
Code spans, code blocks and math are left out of the check (``$t<n$`` is not a tag).
"""

from __future__ import annotations

import argparse
import collections
import difflib
import pathlib
import re
import shutil
import sys

import nbformat
import polib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # rnnlab from this checkout
from rnnlab.checks._i18n import MARKER, translate_text

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TRANSLATIONS = ROOT / "translations"
LANGS = {"zh-CN": "简体中文"}


def numbered() -> list[pathlib.Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb"))


def po_path(notebook: pathlib.Path, lang: str) -> pathlib.Path:
    return TRANSLATIONS / lang / f"{notebook.stem}.po"


def markdown_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(cell index, source) of every non-empty markdown cell: the text a translation covers."""
    return [(k, c.source) for k, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.strip()]


def _new_catalogue(notebook: pathlib.Path, lang: str) -> polib.POFile:
    po = polib.POFile(wrapwidth=0)
    po.metadata = {
        "Project-Id-Version": f"rnnlab {notebook.stem}",
        "Language": lang.replace("-", "_"),
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    return po


def update(lang: str) -> dict[str, tuple[int, int, int]]:
    """Sync every .po of ``lang`` with the English notebooks. Returns per notebook (kept, fuzzy, new)."""
    report = {}
    for path in numbered():
        target = po_path(path, lang)
        old = polib.pofile(str(target), wrapwidth=0) if target.exists() else _new_catalogue(path, lang)
        by_id = {e.msgid: e for e in old if not e.obsolete}
        unused = dict(by_id)
        new = _new_catalogue(path, lang)
        new.metadata = old.metadata or new.metadata
        kept = fuzzy = added = 0
        cells = markdown_cells(nbformat.read(path, as_version=4))
        for k, text in cells:
            entry = by_id.get(text)
            if entry is not None:
                unused.pop(text, None)
                kept += 1
                fresh = polib.POEntry(msgid=text, msgstr=entry.msgstr, flags=list(entry.flags))
                fresh.previous_msgid = entry.previous_msgid
            else:
                fresh = polib.POEntry(msgid=text, msgstr="")
                added += 1
            fresh.occurrences = [(path.name, f"cell-{k}")]
            new.append(fresh)
        # an English cell that changed: carry its old translation over as fuzzy, with the old English alongside
        for fresh in new:
            if fresh.msgstr or not unused:
                continue
            best = max(unused, key=lambda old_id: difflib.SequenceMatcher(None, old_id, fresh.msgid).ratio())
            if difflib.SequenceMatcher(None, best, fresh.msgid).ratio() >= 0.5 and unused[best].msgstr:
                fresh.msgstr, fresh.previous_msgid = unused.pop(best).msgstr, best
                fresh.flags = ["fuzzy"]
                fuzzy, added = fuzzy + 1, added - 1
        target.parent.mkdir(parents=True, exist_ok=True)
        new.save(str(target))
        report[path.name] = (kept, fuzzy, added)
    return report


CHECKS = ROOT / "rnnlab" / "checks"


def check_messages() -> list[str]:
    """Every message template of the exercise checks: the first argument of each ``tr("...")`` call in
    rnnlab/checks/*.py, in file order, and the student stub's text."""
    import ast

    found = []
    for path in sorted(CHECKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr" and node.args:
                arg = node.args[0]
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise ValueError(f"{path.name}:{node.lineno}: tr() needs a literal template")
                if arg.value not in found:
                    found.append(arg.value)
    from notebooks import STUB_MESSAGE  # tools/notebooks.py, beside this file

    return [*found, STUB_MESSAGE]


def checks_po_path(lang: str) -> pathlib.Path:
    return CHECKS / "locale" / f"{lang}.po"


def update_checks(lang: str) -> tuple[int, int]:
    """Sync rnnlab/checks/locale/<lang>.po with the checks' templates: new ones get an empty msgstr,
    gone ones are dropped, translations kept. Returns ``(templates, untranslated)``."""
    path = checks_po_path(lang)
    old = {e.msgid: e.msgstr for e in polib.pofile(str(path))} if path.exists() else {}
    po = polib.POFile(wrapwidth=0)
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": lang}
    for msgid in check_messages():
        po.append(polib.POEntry(msgid=msgid, msgstr=old.get(msgid, "")))
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return len(po), sum(not e.msgstr for e in po)


def status(lang: str) -> dict[str, dict[str, int]]:
    """Per notebook: translated, fuzzy (English changed since), missing (no or empty entry)."""
    out = {}
    for path in numbered():
        target = po_path(path, lang)
        entries = {e.msgid: e for e in polib.pofile(str(target)) if not e.obsolete} if target.exists() else {}
        counts = {"translated": 0, "fuzzy": 0, "missing": 0}
        for _, text in markdown_cells(nbformat.read(path, as_version=4)):
            e = entries.get(text)
            if e is None or not e.msgstr:
                counts["missing"] += 1
            elif "fuzzy" in e.flags:
                counts["fuzzy"] += 1
            else:
                counts["translated"] += 1
        out[path.name] = counts
    return out


_LITERAL = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$", re.S)  # code and math: not markup
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][\w:-]*)([^>]*)>")
_DANGER = re.compile(r"\bon[a-z]+\s*=|(?:javascript|vbscript|data)\s*:", re.I)


def markup_problems(msgid: str, msgstr: str) -> list[str]:
    """What a translation adds as markup: HTML tags its English text does not have (by name and
    count), and in any case event attributes and script or data links. Empty: it is plain text."""

    def tags(text: str) -> collections.Counter:
        return collections.Counter(m.group(1) + m.group(2).lower() for m in _TAG.finditer(_LITERAL.sub("", text)))

    problems = [f"<{t}> is not in the English text" for t in sorted((tags(msgstr) - tags(msgid)).elements())]
    danger = set(_DANGER.findall(_LITERAL.sub("", msgstr))) - set(_DANGER.findall(_LITERAL.sub("", msgid)))
    problems += [f"{d!r} (script in a translation)" for d in sorted(danger)]
    return problems


def translated_notebook(path: pathlib.Path, lang: str) -> nbformat.NotebookNode:
    """The English notebook with every translated (non-fuzzy) markdown cell replaced.

    Raises:
        ValueError: a translation adds markup (see :func:`markup_problems`).
    """
    nb = nbformat.read(path, as_version=4)
    target = po_path(path, lang)
    entries = {e.msgid: e for e in polib.pofile(str(target)) if not e.obsolete} if target.exists() else {}
    for cell in nb.cells:
        e = entries.get(cell.source) if cell.cell_type == "markdown" else None
        if e is not None and e.msgstr and "fuzzy" not in e.flags:
            problems = markup_problems(e.msgid, e.msgstr)
            if problems:
                raise ValueError(
                    f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}:{e.linenum}: "
                    f"the translation adds markup: {'; '.join(problems)}"
                )
            cell.source = e.msgstr
        if cell.cell_type == "code":  # what the checks printed, as they print it in this language
            for out in cell.outputs:
                if out.output_type == "stream":
                    out.text = translate_text(out.text, lang)
    nb.metadata["language"] = lang
    return nb


def build(lang: str, out: pathlib.Path) -> list[pathlib.Path]:
    """Write the translated notebooks (outputs as stored) and a copy of notebooks/data to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    (out / MARKER).write_text(lang + "\n", encoding="utf-8")  # the checks speak this language here
    for path in numbered():
        target = out / path.name
        nbformat.write(translated_notebook(path, lang), target)
        written.append(target)
    if (NOTEBOOKS / "data").is_dir():
        shutil.copytree(NOTEBOOKS / "data", out / "data", dirs_exist_ok=True)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["update", "status", "build"])
    ap.add_argument("--lang", default="zh-CN", choices=sorted(LANGS))
    ap.add_argument("--out", type=pathlib.Path, default=None)
    args = ap.parse_args(argv)
    if args.command == "update":
        for name, (kept, fuzzy, added) in update(args.lang).items():
            print(f"{name}: {kept} kept, {fuzzy} fuzzy (English changed), {added} new")
        total, empty = update_checks(args.lang)
        print(f"{checks_po_path(args.lang).relative_to(ROOT)}: {total} check messages, {empty} to translate")
        return 0
    if args.command == "status":
        bad = 0
        for name, c in status(args.lang).items():
            print(f"{name}: {c['translated']} translated, {c['fuzzy']} fuzzy, {c['missing']} missing")
            bad += c["fuzzy"] + c["missing"]
        return 1 if bad else 0
    out = args.out or ROOT / "build" / args.lang / "notebooks"
    for p in build(args.lang, out):
        print(f"wrote {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

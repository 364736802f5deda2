"""Build the executed course as a static site or as reveal.js lecture slides, offline.

    python tools/site.py site   [--out build/site]     one HTML page per notebook + index.html
    python tools/site.py slides [--out build/slides]   one reveal.js deck per notebook + index.html
    python tools/site.py slides-pdf [--out build/slides-pdf]   each deck as a PDF (headless Chromium)

Both use the stored outputs (run ``make notebooks`` first if they are stale) and nbconvert
with the templates in ``tools/templates``, which load MathJax and reveal.js from an
``assets/`` folder next to the pages instead of a CDN. The assets come from two PyPI
packages that ship them (installed by ``make site``/``make slides``): MathJax 3 from
``django-static-mathjax`` and reveal.js from ``sphinx-revealjs``; neither is imported.
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib.util
import pathlib
import re
import shutil
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TEMPLATES = ROOT / "tools" / "templates"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<p class="rnnlab-widget-note"><em>An interactive widget runs here in JupyterLab '
    "(<code>make lab</code>); the static page cannot run Python.</em></p>"
)


def _package_dir(name: str) -> pathlib.Path:
    spec = importlib.util.find_spec(name)  # locate without importing (sphinx_revealjs needs Sphinx)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name!r} is missing: run `make site` / `make slides`, which install it")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def copy_mathjax(assets: pathlib.Path) -> None:
    es5 = _package_dir("mathjax") / "static" / "mathjax" / "es5"
    dest = assets / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-chtml.js", dest / "tex-chtml.js")
    fonts = pathlib.Path("output") / "chtml" / "fonts" / "woff-v2"
    shutil.copytree(es5 / fonts, dest / fonts, dirs_exist_ok=True)


def copy_reveal(assets: pathlib.Path) -> None:
    src = _package_dir("sphinx_revealjs") / "_static" / "revealjs"
    dest = assets / "reveal"
    shutil.copytree(src / "dist", dest / "dist", dirs_exist_ok=True)
    shutil.copytree(src / "plugin" / "notes", dest / "plugin" / "notes", dirs_exist_ok=True)
    shutil.copy2(src / "LICENSE", dest / "LICENSE")


def course(lang: str | None = None) -> list[tuple[pathlib.Path, nbformat.NotebookNode, str]]:
    """(path, notebook, title) of every numbered notebook, in course order; with ``lang`` (e.g. ``zh-CN``)
    the translated edition built from translations/<lang> (tools/translate.py)."""
    if lang:
        sys.path.insert(0, str(ROOT / "tools"))
        import translate
    out = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb")):
        nb = translate.translated_notebook(path, lang) if lang else nbformat.read(path, as_version=4)
        title = re.sub(r"`([^`]*)`", r"\1", nb.cells[0].source.splitlines()[0].lstrip("# ").strip())  # plain text
        out.append((path, nb, title))
    return out


def for_static_pages(nb: nbformat.NotebookNode, drop_solutions: bool) -> nbformat.NotebookNode:
    """A copy without widget outputs (replaced by a note) and, for slides, without solutions."""
    nb = copy.deepcopy(nb)
    if drop_solutions:
        nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    else:  # the site is for readers: speaker notes are for the slides' speaker view only
        nb.cells = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") != "notes"]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for k, out in enumerate(cell.outputs):
            if WIDGET_MIME in out.get("data", {}):
                cell.outputs[k] = nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE})
    return nb


# -- splitting long slides ---------------------------------------------------------------------
SLIDE_BUDGET = 600  # px of content per slide on reveal's 1100 x 760 canvas (title bar, margins)


def _png_height(data: str) -> int:
    """Displayed height of a base64 PNG: its pixel height, scaled down if wider than the slide."""
    import base64
    import struct

    head = base64.b64decode(data[:64])
    width, height = struct.unpack(">II", head[16:24])
    return int(height * min(1.0, 1000 / max(width, 1)))


def _width(line: str) -> int:
    """Display width in Latin characters: a CJK character takes about two."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in line)


def _text_height(text: str, line_px: int, chars: int = 105) -> int:
    return sum(line_px * (1 + _width(line) // chars) for line in text.splitlines() or [""])


def cell_height(cell: nbformat.NotebookNode) -> int:
    """A rough height of a cell on a slide, in px (checked against the browser by tests/test_site.py)."""
    if cell.cell_type == "markdown":
        h = 0
        for line in cell.source.splitlines():
            if line.startswith("# "):
                h += 70
            elif line.startswith("## "):
                h += 56
            elif line.startswith("|"):
                h += 34
            elif not line.strip():
                h += 12
            else:
                h += 28 * (1 + _width(line) // 90)
        return h + 16
    h = _text_height(cell.source, 19, 110) + 34
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if "image/png" in data:
            h += _png_height(data["image/png"]) + 10
        elif "text/html" in data:
            page = data["text/html"]
            h += 26 * max(1, page.count("<tr") + page.count("<br")) + 20  # table rows, or lines of coloured text
        else:
            text = out.get("text") or data.get("text/plain", "")
            h += _text_height(text, 18, 120) + 12
    return h


def split_positions(nb: nbformat.NotebookNode, budget: int = SLIDE_BUDGET) -> set[int]:
    """The cells (indices) before which a vertical continuation slide starts: whenever a slide's cells
    would pass ``budget`` px; a single cell taller than that keeps a slide of its own (and scrolls)."""
    positions, used = set(), 0
    for k, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("notes", "skip"):
            continue
        h = cell_height(cell)
        if kind in ("slide", "subslide"):
            used = 0
        elif used > 0 and used + h > budget:
            positions.add(k)
            used = 30
        used += h
    return positions


def split_long_slides(
    nb: nbformat.NotebookNode, budget: int = SLIDE_BUDGET, positions: set[int] | None = None
) -> nbformat.NotebookNode:
    """Start a continuation slide ("… (continued)") at :func:`split_positions`, or at the given
    ``positions``: a translation is split where its English notebook is, so both decks have the same
    slides (Chinese text is shorter, and would be split less)."""
    positions = split_positions(nb, budget) if positions is None else positions
    cells, heading = [], ""
    for k, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide") and cell.cell_type == "markdown" and cell.source.startswith("#"):
            heading = cell.source.splitlines()[0].lstrip("# ").strip()
        if k in positions:
            label = CONTINUED[nb.metadata.get("language", "en")].format(heading=html.escape(heading))
            cont = nbformat.v4.new_markdown_cell(f"<p class='rnnlab-continued'>{label}</p>")
            cont.metadata = {"slideshow": {"slide_type": "subslide"}}
            cells.append(cont)
        cells.append(cell)
    nb.cells = cells
    return nb


CONTINUED = {"en": "{heading} (continued)", "zh-CN": "{heading}（续）"}


def write_index(
    out: pathlib.Path, pages: list[tuple[str, str]], heading: str, blurb: str, lang: str = "en", switch: str = ""
) -> None:
    items = "\n".join(f'  <li><a href="{html.escape(href)}">{html.escape(title)}</a></li>' for href, title in pages)
    out.joinpath("index.html").write_text(
        f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{heading}</title>
<style>body {{ font-family: sans-serif; max-width: 46em; margin: 2em auto; line-height: 1.5; }}
li {{ margin: .3em 0; }}</style></head>
<body>
<p class="rnnlab-lang">{switch}</p>
<h1>{heading}</h1>
<p>{blurb}</p>
<ol class="rnnlab-course">
{items}
</ol>
</body></html>
""",
        encoding="utf-8",
    )


# Each edition: (language code, folder below the English one, label of the link to it).
EDITIONS = {"en": ("", "English"), "zh-CN": ("zh-CN", "简体中文")}


def tag_language(html: str, lang: str) -> str:
    """The page's ``<html lang>``: nbconvert's templates always write ``en``, which makes a browser draw
    Chinese text in Japanese glyph forms (the CJK fonts' default); a zh-CN page must say zh-CN."""
    tagged, n = re.subn(r"<html\b[^>]*>", f'<html lang="{lang}">', html, count=1)
    if n != 1:
        raise ValueError("the exported page has no <html> tag")
    return tagged


SPHINX = ROOT / "tools" / "sphinx_site"  # the site's conf.py, templates and static files
SITE_TEXT = {
    "en": {"show_solution": "Show the solution", "hide_solution": "Hide the solution", "language": "en"},
    "zh-CN": {"show_solution": "显示参考答案", "hide_solution": "隐藏参考答案", "language": "zh_CN"},
}


def for_site(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The site's page of a notebook: no speaker notes, widgets as a note, solutions folded (myst-nb's
    hide-input, opened with one click under the exercise), and every ``##`` section anchored as
    ``sec-N`` in both editions alike, for the language switch."""
    nb = for_static_pages(nb, drop_solutions=False)
    section = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            section += 1
            cell.source = f"(sec-{section})=\n{cell.source}"
        if "solution" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "hide-input"]
    return nb


def build_site(out: pathlib.Path, lang: str = "en") -> list[pathlib.Path]:
    """One edition of the site with Sphinx, myst-nb and sphinx-book-theme: a sidebar of the course,
    full-text search, an in-page contents list, dark mode, copy buttons, previous/next links; built
    offline from the stored outputs and viewable from ``file://``."""
    import json
    import os
    import tempfile

    from sphinx.cmd.build import build_main

    other = "zh-CN" if lang == "en" else "en"
    heading, blurb = INDEX_TEXT[("site", lang)]
    edition = {
        "project": heading,
        "other": {
            "code": other,
            "label": EDITIONS[other][1],
            "root": f"{EDITIONS[other][0]}/" if lang == "en" else "../",
        },
        **SITE_TEXT[lang],
    }
    nbs = course(None if lang == "en" else lang)
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "src"
        shutil.copytree(SPHINX, src)
        copy_mathjax(src / "_static")
        toc = "\n".join(path.stem for path, _, _ in nbs)
        (src / "index.md").write_text(
            f"# {heading}\n\n{blurb}\n\n```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n", encoding="utf-8"
        )
        for path, nb, _ in nbs:
            nbformat.write(for_site(nb), src / path.name)
        env = {**os.environ, "RNNLAB_SITE_EDITION": json.dumps(edition)}
        old = os.environ.copy()
        os.environ.update(env)
        try:
            code = build_main(["-q", "-b", "html", "-E", str(src), str(out)])
        finally:
            os.environ.clear()
            os.environ.update(old)
        if code:
            raise SystemExit(f"sphinx-build failed for the {lang} edition")
    shutil.rmtree(out / ".doctrees", ignore_errors=True)
    written = [out / f"{path.stem}.html" for path, _, _ in nbs]
    if lang == "en":
        for code_, (folder, _) in EDITIONS.items():
            if code_ != "en":
                written += build_site(out / folder, code_)
    return written


def build(kind: str, out: pathlib.Path, lang: str = "en") -> list[pathlib.Path]:
    """Build one edition into ``out``; the English build also builds every translation into ``out/<lang>/``,
    and each page links to the same page in the other language."""
    if kind == "site":
        return build_site(out, lang)
    from nbconvert import SlidesExporter

    out.mkdir(parents=True, exist_ok=True)
    assets = "assets" if lang == "en" else "../assets"  # a translation shares the English edition's copy
    if lang == "en":
        copy_mathjax(out / assets)
        copy_reveal(out / assets)
    exporter = SlidesExporter(
        template_name="rnnlab_slides",
        extra_template_basedirs=[str(TEMPLATES)],
        reveal_url_prefix=f"{assets}/reveal",
        reveal_theme="white",
        exclude_input_prompt=True,  # no "In [3]:" on a projector
        exclude_output_prompt=True,
    )
    nbs = course(None if lang == "en" else lang)
    english = nbs if lang == "en" else course(None)  # a translation is split where the English deck is
    suffix = ".slides.html"
    other = "zh-CN" if lang == "en" else "en"
    other_dir = f"{EDITIONS[other][0]}/" if lang == "en" else "../"
    names = [path.stem + suffix for path, _, _ in nbs]
    written = []
    for k, (_path, nb, title) in enumerate(nbs):
        resources = {
            "metadata": {"name": title},
            "rnnlab": {
                "assets": assets,
                "prev": names[k - 1] if k > 0 else None,
                "next": names[k + 1] if k + 1 < len(names) else None,
                "lang": lang,
                "other_lang": {"href": other_dir + names[k], "label": EDITIONS[other][1]},
                "labels": LABELS[lang],
            },
        }
        positions = split_positions(for_static_pages(english[k][1], True))
        page = split_long_slides(for_static_pages(nb, True), positions=positions)
        body, _ = exporter.from_notebook_node(page, resources=resources)
        body = tag_language(body, lang)
        target = out / names[k]
        target.write_text(body, encoding="utf-8")
        written.append(target)
    pages = [(name, title) for name, (_, _, title) in zip(names, nbs)]
    heading, blurb = INDEX_TEXT[(kind, lang)]
    switch = f'<a href="{other_dir}index.html" hreflang="{other}">{EDITIONS[other][1]}</a>'
    write_index(out, pages, heading, blurb, lang="zh-CN" if lang == "zh-CN" else "en", switch=switch)
    if lang == "en":
        for code, (folder, _) in EDITIONS.items():
            if code != "en":
                written += build(kind, out / folder, code)
    return written


LABELS = {
    "en": {"home": "rnnlab course", "prev": "← previous", "next": "next →"},
    "zh-CN": {"home": "rnnlab 课程", "prev": "← 上一节", "next": "下一节 →"},
}
INDEX_TEXT = {
    ("slides", "en"): (
        "rnnlab — lecture slides",
        "One reveal.js deck per notebook (solutions left out). Arrow keys to move, "
        "<kbd>S</kbd> for speaker notes, <kbd>Esc</kbd> for the overview.",
    ),
    ("site", "en"): (
        "rnnlab — recurrent neural networks in PyTorch",
        "The executed course, in order. To run and change the code, use JupyterLab: <code>make lab</code>.",
    ),
    ("slides", "zh-CN"): (
        "rnnlab — 课堂幻灯片",
        "每个笔记本一套 reveal.js 幻灯片（不含参考答案）。方向键翻页，<kbd>S</kbd> 打开讲者备注，<kbd>Esc</kbd> 查看总览。",
    ),
    ("site", "zh-CN"): (
        "rnnlab — 用 PyTorch 学循环神经网络",
        "已执行的课程，按顺序排列。要运行和修改代码，请使用 JupyterLab：<code>make lab LANG=zh</code>。",
    ),
}


CHROMIUM = pathlib.Path("/usr/bin/chromium")  # Debian's (apt-get install chromium); never a downloaded one


def slides_pdf(decks: list[pathlib.Path], out: pathlib.Path, chromium: pathlib.Path = CHROMIUM) -> list[pathlib.Path]:
    """Each deck printed to a PDF, one slide per page, as reveal.js's ``?print-pdf`` mode lays it out
    (speaker notes and the language link left out), with headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not chromium.exists():
        raise SystemExit(f"{chromium} is missing: apt-get install chromium (make slides-pdf prints with it)")
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        try:
            for deck in decks:
                target = out / deck.relative_to(deck.parents[1] if deck.parent.name == "zh-CN" else deck.parent)
                target = target.with_name(target.name.replace(".slides.html", ".pdf"))
                target.parent.mkdir(parents=True, exist_ok=True)
                page.goto(deck.as_uri() + "?print-pdf")
                page.wait_for_function(
                    "window.Reveal && Reveal.isReady() && Reveal.getTotalSlides() > 0", timeout=60_000
                )
                page.wait_for_timeout(300)  # MathJax typesets the slides
                page.pdf(path=str(target), width="1100px", height="760px", print_background=True)
                written.append(target)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["site", "slides", "slides-pdf"])
    ap.add_argument("--out", type=pathlib.Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or ROOT / "build" / args.kind
    if args.kind == "slides-pdf":
        decks = build("slides", ROOT / "build" / "slides")
        for p in slides_pdf(decks, out):
            print(f"wrote {p}")
        return
    for p in build(args.kind, out):
        print(f"wrote {p}")
    print(f"open {out / 'index.html'}")


if __name__ == "__main__":
    sys.exit(main())

"""make site / make slides: every notebook appears, and nothing loads from the network."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))

spec = importlib.util.spec_from_file_location("site_tools", ROOT / "tools" / "site.py")
site_tools = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_tools)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mathjax") is None or importlib.util.find_spec("sphinx_revealjs") is None,
    reason="site assets not installed (make env installs django-static-mathjax and sphinx-revealjs)",
)

REFERENCE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
CSS_URL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])([^"')]+)""", re.I)


def local_references(page: pathlib.Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    refs = REFERENCE.findall(text) + CSS_URL.findall(text)
    remote = [r for r in refs if re.match(r"^(?:[a-z]+:)?//", r, re.I) and not r.startswith("data:")]
    assert not remote, f"{page.name} refers to remote resources: {remote[:5]}"
    return [r.split("#")[0].split("?")[0] for r in refs if not r.startswith(("data:", "#")) and r.split("#")[0]]


@pytest.fixture(scope="module", params=["site", "slides"])
def built(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    return request.param, out, site_tools.build(request.param, out)


@pytest.mark.parametrize("edition", ["", "zh-CN"])
def test_every_notebook_is_built_and_indexed(built, edition):
    kind, out, pages = built
    assert len(pages) == 2 * len(NOTEBOOKS)  # English, then the zh-CN edition in out/zh-CN/
    folder = out / edition if edition else out
    index = (folder / "index.html").read_text(encoding="utf-8")
    positions = []
    for nb in NOTEBOOKS:
        name = nb.stem + (".slides.html" if kind == "slides" else ".html")
        assert (folder / name).is_file()
        positions.append(index.index(f'href="{name}"'))
    assert positions == sorted(positions), "index lists the course in order"
    if kind == "slides":
        assert index.count("<li>") == len(NOTEBOOKS)
    else:  # the index page's own contents list (the sidebar lists the course too)
        toc = re.search(r'<div class="toctree-wrapper[^"]*">(.*?)</div>', index, re.S).group(1)
        assert toc.count('class="toctree-l1"') == len(NOTEBOOKS)


def test_language_switch_links_each_page_to_its_translation(built):
    """Every page and both indexes link to the same page in the other language; the zh pages are Chinese."""
    kind, out, pages = built
    link = re.compile(
        r'class="rnnlab-lang"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*hreflang=|class="rnnlab-lang" href="([^"]+)"'
    )
    for page in [*pages, out / "index.html", out / "zh-CN" / "index.html"]:
        text = page.read_text(encoding="utf-8")
        targets = [next(g for g in m if g) for m in link.findall(text)]
        assert targets, f"{page} has no language switch"
        for href in targets:
            target = (page.parent / href).resolve()
            assert target.is_file(), f"{page.name} links to missing {href}"
            assert (target.parent.name == "zh-CN") != (page.parent.name == "zh-CN"), (page, href)
    zh = (
        out / "zh-CN" / NOTEBOOKS[0].name.replace(".ipynb", ".slides.html" if kind == "slides" else ".html")
    ).read_text(encoding="utf-8")
    assert "学完本节" in zh and "After this notebook you can" not in zh


def test_no_remote_scripts_and_local_assets_exist(built):
    kind, out, pages = built
    for page in [*pages, out / "index.html"]:
        for ref in local_references(page):
            assert (page.parent / ref).exists(), f"{page.name} refers to missing {ref}"
    first = pages[0].read_text(encoding="utf-8")
    assert ('src="assets/mathjax/tex-chtml.js"' if kind == "slides" else 'src="_static/mathjax/tex-chtml.js') in first
    if kind == "slides":
        assert 'src="assets/reveal/dist/reveal.js"' in first
        assert (out / "assets/reveal/dist/reveal.css").is_file()


def test_slides_leave_out_solutions_site_keeps_them(built):
    kind, _out, pages = built
    text = next(p for p in pages if p.name.startswith("01_rnn_basics")).read_text(encoding="utf-8")  # the explorer
    assert ("BEGIN SOLUTION" in text) == (kind == "site")
    assert "interactive widget runs here in JupyterLab" in text  # the explorer's static stand-in
    if kind == "slides":
        assert text.count("<section") > 5


def test_speaker_notes_in_slides_only(built):
    """Every section slide carries speaker notes for instructors (reveal.js: press S); the site
    and the student copies leave them out."""
    kind, _out, pages = built
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if kind == "slides":
            assert text.count('<aside class="notes">') >= 5, page.name
        else:
            assert "Speaker notes." not in text and "讲者备注" not in text, page.name


def test_every_section_has_speaker_notes():
    import nbformat

    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        for k, cell in enumerate(cells):
            kind = cell.metadata.get("slideshow", {}).get("slide_type")
            if cell.cell_type != "markdown" or kind != "slide" or cell.source.startswith("## Summary"):
                continue
            nxt = cells[k + 1]
            assert nxt.metadata.get("slideshow", {}).get("slide_type") == "notes", (path.name, cell.source[:40])
            assert nxt.source.startswith("**Speaker notes.**") and len(nxt.source) > 60, (path.name, nxt.source)


def test_long_slides_are_split():
    """The height estimate splits a slide into continuation slides; measured in the browser by
    tests/test_browser.py::test_slides_fit_the_screen."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "08_training_through_time.ipynb", as_version=4)
    before = sum(c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in nb.cells)
    split = site_tools.split_long_slides(site_tools.for_static_pages(nb, True))
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in split.cells]
    assert sum(k in ("slide", "subslide") for k in kinds) > before
    continued = [c for c in split.cells if "(continued)" in c.source]
    assert continued and all(c.metadata["slideshow"]["slide_type"] == "subslide" for c in continued)


def test_every_page_is_tagged_with_its_language(built):
    """zh-CN pages say so (<html lang="zh-CN">), or browsers draw the Chinese in Japanese glyph forms."""
    _, out, pages = built
    for page in [*pages, out / "index.html", out / "zh-CN" / "index.html"]:
        want = "zh-CN" if "zh-CN" in page.relative_to(out).parts else "en"
        tags = re.findall(r"<html\b[^>]*>", page.read_text(encoding="utf-8"))
        assert len(tags) == 1 and f'lang="{want}"' in tags[0], (page, tags)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("sphinx-site")
    return out, site_tools.build("site", out)


def test_the_site_has_search_contents_dark_mode_copy_buttons_and_prev_next(site):
    out, _pages = site
    for edition in (out, out / "zh-CN"):
        assert (edition / "search.html").is_file() and (edition / "searchindex.js").is_file()
        page = (edition / "03_lstm.html").read_text(encoding="utf-8")
        assert 'class="bd-toc' in page  # the in-page contents list
        assert "theme-switch-button" in page  # light / dark / auto
        assert "copybutton.js" in page
        assert 'class="prev-next-area"' in page and 'href="02_rnncell_loops.html"' in page
        assert 'href="04_gru.html"' in page
    search_index = (out / "searchindex.js").read_text(encoding="utf-8")
    assert "teacher" in search_index and "forcing" in search_index


def test_titles_are_plain_text(site):
    out, pages = site
    for page in pages:
        title = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.S).group(1)
        assert "`" not in title, (page.name, title)
    assert "`" not in (out / "index.html").read_text(encoding="utf-8").split("<body")[1]


def test_solutions_are_folded_below_the_exercise(site):
    out, _pages = site
    text = (out / "02_rnncell_loops.html").read_text(encoding="utf-8")
    folds = re.findall(r'<details class="[^"]*\bhide above-input">\s*<summary[^>]*>(.*?)</summary>', text, re.S)
    assert folds and all("Show the solution" in f for f in folds), folds[:2]
    assert "BEGIN SOLUTION" in text.split("<details", 1)[1]  # the solution is inside the fold
    zh = (out / "zh-CN" / "02_rnncell_loops.html").read_text(encoding="utf-8")
    assert "显示参考答案" in zh


def test_sections_are_anchored_alike_in_both_editions(site):
    """The language switch (rnnlab-lang.js) appends the current section's anchor: both editions must
    number their sections alike."""
    out, pages = site
    for page in pages[: len(NOTEBOOKS)]:
        en = re.findall(r'id="(sec-\d+)"', page.read_text(encoding="utf-8"))
        zh = re.findall(r'id="(sec-\d+)"', (out / "zh-CN" / page.name).read_text(encoding="utf-8"))
        assert en and en == zh, page.name
    assert (out / "_static" / "rnnlab-lang.js").is_file()


def test_both_decks_have_the_same_slides_and_no_prompts(built):
    """A translated deck is split where the English one is (the zh deck of 08 once had 24 slides to 26), and
    no deck shows Jupyter's `In [n]:` prompts."""
    kind, out, pages = built
    if kind != "slides":
        pytest.skip("slides only")
    for page in pages[: len(NOTEBOOKS)]:
        en, zh = page.read_text(encoding="utf-8"), (out / "zh-CN" / page.name).read_text(encoding="utf-8")
        assert en.count("<section") == zh.count("<section"), page.name
        assert "rnnlab-continued" not in en or "（续）" in zh
        for text in (en, zh):
            assert 'class="jp-InputPrompt' not in text and 'class="jp-OutputPrompt' not in text, page.name

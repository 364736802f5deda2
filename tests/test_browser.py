"""End to end in a real browser: JupyterLab runs notebook 01 and the shape explorer responds.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it)
and the Python `playwright` package, which drives that browser; no browser is downloaded.
Skipped, with that message, when Chromium is missing. `make test-browser` runs only this.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import bootstrap  # tools/: on the path (conftest.py)
import pytest
import translate

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RNNLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_ARGS = [  # no network beyond localhost: silence Chromium's background services
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(home: pathlib.Path, notebook: pathlib.Path, locale: str | None = None):
    """JupyterLab on 127.0.0.1 with its own config and a copy of ``notebook``, guarded as ``make lab``
    guards it: a random token and the XSRF check on, so no other local user can start kernels as the
    tester while it runs. ``locale``: its display language, set as ``make lab LANG=zh`` sets it
    (tools/bootstrap.py lab-locale). Yields ``(url, token)``."""
    work = home / "course"
    work.mkdir(parents=True)
    shutil.copy(notebook, work)
    if locale:
        bootstrap.lab_locale(locale, str(home / "settings"))
    port = _free_port()
    token = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={work}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log = open(home / "jupyterlab.log", "w")
    # the token through the environment, not the command line that `ps` shows every user
    proc = subprocess.Popen(cmd, env={**env, "JUPYTER_TOKEN": token}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(home / 'jupyterlab.log').read_text()}") from None
                time.sleep(0.5)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), ROOT / "notebooks" / "01_rnn_basics.ipynb") as lab:
        yield lab


def test_the_chinese_course_opens_with_chinese_menus(tmp_path):
    """What `make lab LANG=zh` opens: the zh-CN notebook, and JupyterLab itself in Chinese (the language
    pack), so a learner never meets English menus; the page is tagged zh so CJK text gets Chinese glyphs."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlab_language_pack_zh_CN")
    built = tmp_path / "zh"
    translate.build("zh-CN", built)
    with running_lab(tmp_path / "home", built / "01_rnn_basics.ipynb", locale="zh_CN") as (url, token):
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            try:
                page.goto(f"{url}/lab/tree/01_rnn_basics.ipynb?token={token}")
                page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
                menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
                assert "文件" in menus and "编辑" in menus and "File" not in menus, menus
                page.wait_for_function("document.body.innerText.includes('学完本节')", timeout=30_000)
                assert page.evaluate("document.documentElement.lang") == "zh-CN"  # Chinese glyph forms
            finally:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lab-zh.png"))
                browser.close()


# Run in the page on the explorer's root element: every control label shown in full, every slider
# readout visible and clear of the shape table, the table and the diagram not overlapping, and
# the diagram drawn at (nearly) its own size, not squeezed. Returns what is wrong, if anything.
LAYOUT_PROBLEMS = """(root) => {
  const problems = [];
  const box = (el) => el.getBoundingClientRect();
  const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const table = root.querySelector('.rnnlab-shapes');
  const img = root.querySelector('.jp-OutputArea-output img');
  if (!table) problems.push('no shape table');
  if (!img) problems.push('no diagram');
  for (const label of root.querySelectorAll('.widget-label, .widget-checkbox span, .widget-checkbox label')) {
    const text = label.textContent.trim();
    if (text && label.offsetParent !== null && label.scrollWidth > label.clientWidth + 1)
      problems.push(`label cut: ${text}`);
  }
  for (const readout of root.querySelectorAll('.widget-readout')) {
    const r = box(readout);
    if (r.width < 8 || r.height < 8) problems.push(`readout hidden: ${readout.textContent}`);
    if (table && overlap(r, box(table))) problems.push(`readout ${readout.textContent} under the table`);
  }
  if (table && img && overlap(box(table), box(img))) problems.push('table overlaps the diagram');
  if (img && img.naturalWidth && img.clientWidth < 0.9 * img.naturalWidth)
    problems.push(`diagram squeezed to ${img.clientWidth} of ${img.naturalWidth} px`);
  if (box(root).right > window.innerWidth + 1) problems.push('explorer wider than the window');
  return problems;
}"""


def _h_n_cell(page):
    return page.locator('.widget-html .rnnlab-shapes td[data-name="h_n"]')


def test_the_test_server_refuses_requests_without_its_token(jupyterlab):
    url, token = jupyterlab
    for path in ("/api/kernels", "/api/contents"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url}{path}", timeout=5)
        assert e.value.code == 403
    start = urllib.request.Request(f"{url}/api/kernels", data=b"{}", method="POST")  # start a kernel
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(start, timeout=5)
    assert e.value.code == 403
    with urllib.request.urlopen(f"{url}/api/kernels?token={token}", timeout=5) as ok:
        assert ok.status == 200


def test_shape_explorer_responds_in_jupyterlab(jupyterlab):
    url, token = jupyterlab
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # 1100 px: a laptop with a file browser open; the layout must wrap, not hide or cut
        page = browser.new_page(viewport={"width": 1100, "height": 1600})
        try:
            page.goto(f"{url}/lab/tree/01_rnn_basics.ipynb?token={token}")
            page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
            # a fresh JupyterLab may ask which kernel to start: take the notebook's own (python3)
            select = page.locator(".jp-Dialog-button", has_text="Select")
            try:
                select.wait_for(timeout=20_000)
                select.click()
            except sync_api.TimeoutError:
                pass
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=60_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            h_n = _h_n_cell(page)
            h_n.wait_for(timeout=90_000)
            sync_api.expect(h_n).to_have_text("(1, 3, 20)", timeout=30_000)  # RNN, 1 layer, batch 3

            explorer = page.locator(".rnnlab-explorer").first
            explorer.locator(".widget-checkbox", has_text="bidirectional").locator("input").click()
            sync_api.expect(h_n).to_have_text("(2, 3, 20)", timeout=30_000)

            readout = explorer.locator(".widget-slider", has_text="num_layers").locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("3")
            page.keyboard.press("Enter")
            sync_api.expect(h_n).to_have_text("(6, 3, 20)", timeout=30_000)  # 3 layers x 2 directions

            news = page.locator(".jp-toast-button", has_text="No")  # JupyterLab's news prompt, if shown
            if news.count():
                news.first.click()
            explorer.scroll_into_view_if_needed()
            page.wait_for_timeout(1500)  # let the diagram redraw before the picture
            explorer.evaluate("(r) => Promise.all([...r.querySelectorAll('img')].map((i) => i.decode()))")
            explorer.screenshot(path=str(ARTIFACTS / "shape_explorer_1100px.png"))
            problems = explorer.evaluate(LAYOUT_PROBLEMS)
            assert problems == [], problems
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "shape_explorer_1100px.png").stat().st_size > 10_000


def _site_tools():
    """tools/site.py, loaded from its file (tools/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("site_tools", ROOT / "tools" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slides_fit_the_screen(tmp_path):
    """Every slide of every deck fits reveal.js's 1100 x 760 canvas (15 % slack), unless it holds a
    single cell that is taller on its own (then it scrolls); speaker notes are present."""
    import importlib.util

    sync_api = pytest.importorskip("playwright.sync_api")
    if importlib.util.find_spec("sphinx_revealjs") is None:
        pytest.skip("slide assets not installed")
    site_tools = _site_tools()
    decks = site_tools.build("slides", tmp_path)
    too_tall, clipped = [], []  # clipped: a code or output line running off the slide's right edge
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            for deck in decks:
                page.goto(deck.as_uri())
                page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=30_000)
                slides = page.evaluate(
                    """() => [...document.querySelectorAll('.reveal .slides section')]
                      .filter((s) => !s.querySelector('section'))
                      .map((s) => { Reveal.slide(...Object.values(Reveal.getIndices(s)));
                        const cells = [...s.querySelectorAll('.jp-Cell')].filter((c) => !c.querySelector('.rnnlab-continued'));
                        const clipped = [...s.querySelectorAll('pre')].filter((p) => p.scrollWidth > p.clientWidth + 2).length;
                        return [s.scrollHeight, cells.length, (s.textContent || '').trim().slice(0, 50), clipped]; })"""
                )
                assert len(slides) >= 5, deck.name
                too_tall += [(deck.name, h, text) for h, n, text, _ in slides if n > 1 and h > 760 * 1.15]
                clipped += [(deck.name, text) for _, _, text, c in slides if c]
        finally:
            browser.close()
    assert too_tall == [], too_tall
    assert clipped == [], clipped


def test_site_language_switch_lands_on_the_same_section(tmp_path):
    """Reading section 3 of notebook 03 in English, the switch opens section 3 of its Chinese page, from file://."""
    import importlib.util

    sync_api = pytest.importorskip("playwright.sync_api")
    if importlib.util.find_spec("sphinx_book_theme") is None:
        pytest.skip("site packages not installed")
    site_tools = _site_tools()
    site_tools.build("site", tmp_path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        try:
            page.goto((tmp_path / "03_lstm.html").as_uri() + "#sec-3")
            page.wait_for_timeout(300)
            page.locator("a.rnnlab-lang").first.click()
            page.wait_for_load_state()
            assert page.url.endswith("/zh-CN/03_lstm.html#sec-3"), page.url
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            top = page.evaluate("document.getElementById('sec-3').getBoundingClientRect().top")
            assert abs(top) < 120, top  # scrolled to it
            page.locator("a.rnnlab-lang").first.click()  # and back
            page.wait_for_load_state()
            assert page.url.endswith("/03_lstm.html#sec-3") and "/zh-CN/" not in page.url
        finally:
            browser.close()


def test_a_deck_prints_to_pdf_one_slide_a_page_without_the_language_link(tmp_path):
    """make slides-pdf: reveal.js's ?print-pdf layout printed by headless Chromium."""
    import importlib.util

    sync_api = pytest.importorskip("playwright.sync_api")
    if importlib.util.find_spec("sphinx_revealjs") is None:
        pytest.skip("slide assets not installed")
    site_tools = _site_tools()
    decks = site_tools.build("slides", tmp_path / "slides")
    deck = next(d for d in decks if d.name.startswith("02_"))  # English, built first
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        try:
            page.goto(deck.as_uri() + "?print-pdf")
            page.wait_for_function("document.querySelectorAll('.pdf-page').length > 0", timeout=30_000)
            slides = page.evaluate("Reveal.getTotalSlides()")
            print_pages = page.evaluate("document.querySelectorAll('.pdf-page').length")  # reveal's print layout
            assert page.evaluate("getComputedStyle(document.querySelector('.rnnlab-lang')).display") == "none"
        finally:
            browser.close()
    (pdf,) = site_tools.slides_pdf([deck], tmp_path / "pdf", pathlib.Path(CHROMIUM))
    assert pdf.name == "02_rnncell_loops.pdf"
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))
    assert pages == print_pages >= slides > 5, (pages, print_pages, slides)  # a tall slide may take two pages

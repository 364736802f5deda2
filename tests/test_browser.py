"""End to end in a real browser: JupyterLab runs notebook 01 and the shape explorer responds.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it)
and the Python `playwright` package, which drives that browser; no browser is downloaded.
Skipped, with that message, when Chromium is missing. `make test-browser` runs only this.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

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


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on 127.0.0.1, token-less, with its own config and a copy of notebook 01."""
    home = tmp_path_factory.mktemp("lab")
    work = home / "course"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_rnn_basics.ipynb", work)
    port = _free_port()
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
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={work}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log = open(home / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(home / 'jupyterlab.log').read_text()}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _h_n_cell(page):
    return page.locator('.widget-html .rnnlab-shapes td[data-name="h_n"]')


def test_shape_explorer_responds_in_jupyterlab(jupyterlab):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{jupyterlab}/lab/tree/01_rnn_basics.ipynb")
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

            explorer = page.locator(".widget-hbox", has=page.locator(".rnnlab-shapes")).first
            explorer.locator(".widget-checkbox", has_text="bidirectional").locator("input").click()
            sync_api.expect(h_n).to_have_text("(2, 3, 20)", timeout=30_000)

            readout = explorer.locator(".widget-slider", has_text="num_layers").locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("3")
            page.keyboard.press("Enter")
            sync_api.expect(h_n).to_have_text("(6, 3, 20)", timeout=30_000)  # 3 layers x 2 directions

            explorer.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)  # let the diagram redraw before the picture
            explorer.screenshot(path=str(ARTIFACTS / "shape_explorer.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "shape_explorer.png").stat().st_size > 10_000

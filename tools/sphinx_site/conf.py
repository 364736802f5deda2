"""Sphinx configuration of the course's static site (``make site``), used by tools/site.py for each
edition. Offline: the notebooks' stored outputs (never executed here), MathJax from ``_static`` (copied
there by tools/site.py), a theme that bundles its own fonts and scripts. ``RNNLAB_SITE_*`` variables
carry the edition's settings from tools/site.py."""

import json
import os

_edition = json.loads(os.environ["RNNLAB_SITE_EDITION"])

project = _edition["project"]
author = "rnnlab"
copyright = "rnnlab authors, MIT licence"
language = _edition["language"]  # en / zh_CN: Sphinx's own words (search, navigation) follow, and <html lang>
extensions = ["myst_nb", "sphinx_copybutton"]
master_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_js_files = ["rnnlab-lang.js"]
html_css_files = ["rnnlab.css"]
html_theme = "sphinx_book_theme"
html_title = _edition["project"]
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "show_toc_level": 2,  # the in-page contents list
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": True,
}
html_sidebars = {"**": ["navbar-logo.html", "rnnlab-lang.html", "sbt-sidebar-nav.html"]}
html_context = {"rnnlab_other": _edition["other"], "default_mode": "auto"}
mathjax_path = "mathjax/tex-chtml.js"  # local, relative to _static
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # stored outputs: the notebooks are run by `make notebooks` and checked by nbval
nb_merge_streams = True
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]
nb_code_prompt_show = _edition["show_solution"]  # only solution cells are folded (tag hide-input)
nb_code_prompt_hide = _edition["hide_solution"]
html_show_search_summary = False  # the summaries are fetched, which file:// forbids

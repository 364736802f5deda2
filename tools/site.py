"""Build the executed course as a static site or as reveal.js lecture slides, offline.

    python tools/site.py site   [--out build/site]     one HTML page per notebook + index.html
    python tools/site.py slides [--out build/slides]   one reveal.js deck per notebook + index.html

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


def course() -> list[tuple[pathlib.Path, nbformat.NotebookNode, str]]:
    """(path, notebook, title) of every numbered notebook, in course order."""
    out = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
        out.append((path, nb, title))
    return out


def for_static_pages(nb: nbformat.NotebookNode, drop_solutions: bool) -> nbformat.NotebookNode:
    """A copy without widget outputs (replaced by a note) and, for slides, without solutions."""
    nb = copy.deepcopy(nb)
    if drop_solutions:
        nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for k, out in enumerate(cell.outputs):
            if WIDGET_MIME in out.get("data", {}):
                cell.outputs[k] = nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE})
    return nb


def write_index(out: pathlib.Path, pages: list[tuple[str, str]], heading: str, blurb: str) -> None:
    items = "\n".join(f'  <li><a href="{html.escape(href)}">{html.escape(title)}</a></li>' for href, title in pages)
    out.joinpath("index.html").write_text(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>
<style>body {{ font-family: sans-serif; max-width: 46em; margin: 2em auto; line-height: 1.5; }}
li {{ margin: .3em 0; }}</style></head>
<body>
<h1>{heading}</h1>
<p>{blurb}</p>
<ol class="rnnlab-course">
{items}
</ol>
</body></html>
""",
        encoding="utf-8",
    )


def build(kind: str, out: pathlib.Path) -> list[pathlib.Path]:
    from nbconvert import HTMLExporter, SlidesExporter

    out.mkdir(parents=True, exist_ok=True)
    assets = out / "assets"
    copy_mathjax(assets)
    if kind == "slides":
        copy_reveal(assets)
        exporter = SlidesExporter(
            template_name="rnnlab_slides",
            extra_template_basedirs=[str(TEMPLATES)],
            reveal_url_prefix="assets/reveal",
            reveal_theme="white",
        )
    else:
        exporter = HTMLExporter(template_name="rnnlab_site", extra_template_basedirs=[str(TEMPLATES)])
    nbs = course()
    suffix = ".slides.html" if kind == "slides" else ".html"
    names = [path.stem + suffix for path, _, _ in nbs]
    written = []
    for k, (_path, nb, title) in enumerate(nbs):
        resources = {
            "metadata": {"name": title},
            "rnnlab": {
                "assets": "assets",
                "prev": names[k - 1] if k > 0 else None,
                "next": names[k + 1] if k + 1 < len(names) else None,
            },
        }
        body, _ = exporter.from_notebook_node(for_static_pages(nb, kind == "slides"), resources=resources)
        target = out / names[k]
        target.write_text(body, encoding="utf-8")
        written.append(target)
    pages = [(name, title) for name, (_, _, title) in zip(names, nbs)]
    if kind == "slides":
        write_index(
            out,
            pages,
            "rnnlab — lecture slides",
            "One reveal.js deck per notebook (solutions left out). Arrow keys to move, "
            "<kbd>S</kbd> for speaker notes, <kbd>Esc</kbd> for the overview.",
        )
    else:
        write_index(
            out,
            pages,
            "rnnlab — recurrent neural networks in PyTorch",
            "The executed course, in order. To run and change the code, use JupyterLab: <code>make lab</code>.",
        )
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["site", "slides"])
    ap.add_argument("--out", type=pathlib.Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or ROOT / "build" / args.kind
    for p in build(args.kind, out):
        print(f"wrote {p}")
    print(f"open {out / 'index.html'}")


if __name__ == "__main__":
    sys.exit(main())

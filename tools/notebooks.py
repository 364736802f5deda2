"""Notebook maintenance: regenerate stored outputs, and build student copies.

    python tools/notebooks.py execute [NOTEBOOK ...]   run in place on CPU, then normalize
    python tools/notebooks.py student [--out DIR]      copies without solutions or outputs

``execute`` is what ``make notebooks`` runs: it executes each numbered notebook with
the environment's own kernel, gives untagged cells a slide type (see ``tag_slides``), then
normalizes it (no widget state, no timings, stable metadata) so that a diff shows only
real changes in the teaching outputs.

``student`` writes copies to ``build/student/`` in which every cell tagged ``solution``
keeps only what stands outside ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and gets a
``raise NotImplementedError`` stub between them; all outputs are cleared.
"""

from __future__ import annotations

import argparse
import copy
import os
import pathlib
import re
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*\n?", re.M | re.S)
STUB_MESSAGE = "Your turn: replace this line with your code"  # translated with the checks' messages
STUB = '{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError("' + STUB_MESSAGE + '")\n'
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def numbered() -> list[pathlib.Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb"))


def tag_slides(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every cell a reveal.js slide type, where it has none yet: the title and each
    ``## `` section start a slide, ``### `` a sub-slide, solutions are skipped, the rest
    continues the current slide. Instructors can override any cell's type in JupyterLab."""
    for k, cell in enumerate(nb.cells):
        show = cell.metadata.setdefault("slideshow", {})
        if "slide_type" in show:
            continue
        src = cell.source.lstrip()
        if "solution" in cell.metadata.get("tags", []):
            show["slide_type"] = "skip"
        elif k == 0 or (cell.cell_type == "markdown" and src.startswith("## ")):
            show["slide_type"] = "slide"
        elif cell.cell_type == "markdown" and src.startswith("### "):
            show["slide_type"] = "subslide"
        else:
            show["slide_type"] = "-"
    return nb


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run but teaches nothing."""
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for _n, cell in enumerate(nb.cells):
        cell.pop("id", None)
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)
    nb.nbformat_minor = 4  # no cell ids: stable diffs
    return nb


def canonical(path: pathlib.Path) -> str:
    """The text ``path`` should have: its notebook normalized and slide-tagged, as ``execute`` writes it."""
    return nbformat.writes(normalize(tag_slides(nbformat.read(path, as_version=4)))) + "\n"


def execute(paths: list[pathlib.Path]) -> None:
    from nbclient import NotebookClient

    env_threads = os.environ.setdefault("OMP_NUM_THREADS", "2")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
        nbformat.write(normalize(tag_slides(nb)), path)
        print(f"executed {path.relative_to(ROOT)} (OMP_NUM_THREADS={env_threads})")


def stub(lang: str | None = None) -> str:
    """The stub that replaces a solution; its message in ``lang`` (from rnnlab/checks/locale/<lang>.po)."""
    if not lang:
        return STUB
    from rnnlab.checks._i18n import catalogue

    return STUB.replace(STUB_MESSAGE, catalogue(lang).get(STUB_MESSAGE, STUB_MESSAGE))


def student_copy(nb: nbformat.NotebookNode, lang: str | None = None) -> nbformat.NotebookNode:
    """Solutions replaced by stubs (their message in ``lang``), every output cleared, speaker notes left out."""
    nb.cells = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") != "notes"]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if "solution" in cell.metadata.get("tags", []):
            src, count = SOLUTION.subn(lambda m: stub(lang).format(indent=m.group(1)), cell.source)
            if count == 0:
                raise ValueError(f"a cell tagged 'solution' has no BEGIN/END SOLUTION markers:\n{cell.source}")
            cell.source = src
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"] + ["exercise"]
    return nb


def student(out_dir: pathlib.Path, keep_existing: bool = False, lang: str | None = None) -> list[pathlib.Path]:
    """Write the student copy of every numbered notebook (and the data they read) to ``out_dir``.

    With ``keep_existing`` a notebook already there is left alone: it is the learner's work. With ``lang``
    (e.g. ``zh-CN``) the copies are of the translated edition (tools/translate.py).
    Returns the notebooks written.
    """
    if lang:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # loaded by path, too, not only run
        import translate
    out_dir.mkdir(parents=True, exist_ok=True)
    if lang:
        (out_dir / ".rnnlab-lang").write_text(lang + "\n", encoding="utf-8")  # the checks answer in lang here
    written = []
    for path in numbered():
        target = out_dir / path.name
        if keep_existing and target.exists():
            continue
        nb = translate.translated_notebook(path, lang) if lang else nbformat.read(path, as_version=4)
        nb = student_copy(nb, lang)
        nbformat.validate(nb)
        nbformat.write(nb, target)
        written.append(target)
    if (NOTEBOOKS / "data").is_dir():  # files the notebooks read (e.g. 09's stored long-run history)
        import shutil

        shutil.copytree(NOTEBOOKS / "data", out_dir / "data", dirs_exist_ok=True)
    return written


def course(src: pathlib.Path, out_dir: pathlib.Path) -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """Copy a built edition's notebooks (e.g. build/zh-CN/notebooks) into the learner's folder ``out_dir``.

    A notebook already in ``out_dir`` is never overwritten: it may hold the learner's work. The data
    the notebooks read is always refreshed (it is the course's, not the learner's). Returns
    ``(copied, kept_but_different)``: the notebooks copied, and those kept although the build differs
    (the learner's edits, or a newer translation, which ``src`` holds).
    """
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    copied, differ = [], []
    if (src / ".rnnlab-lang").is_file():  # the checks' language in this folder (rnnlab.checks._i18n)
        shutil.copyfile(src / ".rnnlab-lang", out_dir / ".rnnlab-lang")
    for path in sorted(src.glob("[0-9][0-9]*.ipynb")):
        target = out_dir / path.name
        if not target.exists():
            shutil.copyfile(path, target)
            copied.append(target)
        elif target.read_bytes() != path.read_bytes():
            differ.append(target)
    if (src / "data").is_dir():
        shutil.copytree(src / "data", out_dir / "data", dirs_exist_ok=True)
    return copied, differ


def nbgrader_source(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A notebook as nbgrader's *source* version: each solution cell an autograded answer
    (``metadata.nbgrader.solution``; nbgrader replaces its ``### BEGIN/END SOLUTION`` region with a
    stub, as the student copies do), the check cell after it a locked autograder test worth one point;
    speaker notes left out. Every other cell stays as it is, unlocked."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") != "notes"]
    grade_ids = iter(range(1, len(nb.cells) + 1))
    for k, cell in enumerate(nb.cells):
        if "solution" not in cell.metadata.get("tags", []):
            continue
        n = next(grade_ids)
        cell.metadata["nbgrader"] = {
            "grade": False,
            "grade_id": f"{name}-answer-{n}",
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        }
        check = nb.cells[k + 1]  # tests/test_notebooks.py: a check cell follows every solution
        check.metadata["nbgrader"] = {
            "grade": True,
            "grade_id": f"{name}-check-{n}",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
    return nb


NBGRADER_CONFIG = """# nbgrader's configuration of the rnnlab course (written by tools/notebooks.py nbgrader)
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "rnnlab"
c.CourseDirectory.root = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
"""


def nbgrader_course(out_dir: pathlib.Path, lang: str | None = None) -> list[pathlib.Path]:
    """An nbgrader course folder: ``source/<notebook>/<notebook>.ipynb`` for every numbered notebook (one
    assignment each, with the data it reads) and ``nbgrader_config.py``. Then, in ``out_dir``:
    ``nbgrader generate_assignment 02_rnncell_loops`` writes the student version to ``release/``, and
    ``nbgrader autograde`` grades submissions with the check cells."""
    import shutil

    if lang:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        import translate
    written = []
    for path in numbered():
        folder = out_dir / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        nb = translate.translated_notebook(path, lang) if lang else nbformat.read(path, as_version=4)
        nbformat.write(nbgrader_source(nb, path.stem), folder / path.name)
        if lang:
            (folder / ".rnnlab-lang").write_text(lang + "\n", encoding="utf-8")
        if "data/" in path.read_text(encoding="utf-8") and (NOTEBOOKS / "data").is_dir():
            shutil.copytree(NOTEBOOKS / "data", folder / "data", dirs_exist_ok=True)
        written.append(folder / path.name)
    (out_dir / "nbgrader_config.py").write_text(NBGRADER_CONFIG, encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("execute", help="run notebooks in place and normalize them")
    ex.add_argument("paths", nargs="*", type=pathlib.Path)
    st = sub.add_parser("student", help="write student copies")
    st.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "student")
    st.add_argument("--keep-existing", action="store_true", help="never overwrite a notebook already in --out")
    st.add_argument("--lang", default=None, help="a translation, e.g. zh-CN (translations/<lang>/*.po)")
    no = sub.add_parser("normalize", help="rewrite notebooks normalized (after a JupyterLab save), not executing")
    no.add_argument("paths", nargs="*", type=pathlib.Path)
    ng = sub.add_parser("nbgrader", help="an nbgrader course folder (source/ versions with grading metadata)")
    ng.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "nbgrader")
    ng.add_argument("--lang", default=None, help="a translation, e.g. zh-CN")
    co = sub.add_parser("course", help="copy a built edition into the learner's folder, never overwriting")
    co.add_argument("--src", type=pathlib.Path, required=True)
    co.add_argument("--out", type=pathlib.Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "execute":
        execute([p.resolve() for p in args.paths] or numbered())
    elif args.cmd == "normalize":
        for path in [p.resolve() for p in args.paths] or numbered():
            text = canonical(path)
            if text != path.read_text(encoding="utf-8"):
                path.write_text(text, encoding="utf-8")
                print(f"normalized {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    elif args.cmd == "nbgrader":
        for p in nbgrader_course(args.out, args.lang):
            print(f"wrote {p}")
        print(f"then: cd {args.out} && nbgrader generate_assignment 02_rnncell_loops")
    elif args.cmd == "course":
        copied, differ = course(args.src, args.out)
        print(f"{args.out}/: {len(copied)} notebook(s) copied")
        if differ:
            print(
                f"kept as you left them: {', '.join(p.name for p in differ)} (your work is never overwritten; the "
                f"current edition of each is in {args.src}/, delete yours to get it)\n"
                f"保留了你修改过的笔记本（不会覆盖）；最新版本在 {args.src}/，删除你的副本即可获得。"
            )
    else:
        written = student(args.out, keep_existing=args.keep_existing, lang=args.lang)
        for p in written:
            print(f"wrote {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}")
        if args.keep_existing and len(written) < len(numbered()):
            print(f"kept {len(numbered()) - len(written)} notebook(s) already in {args.out}: your work is untouched")


if __name__ == "__main__":
    sys.exit(main())

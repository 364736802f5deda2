"""The notebooks as documents: conventions, student copies, and checks that fail helpfully.

(nbval executes the notebooks themselves and compares their stored outputs: `make test`.)
"""

from __future__ import annotations

import pathlib
import re

import nbformat
import pytest

from rnnlab.checks import CheckFailed

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))

import notebooks as nbtools  # tools/notebooks.py: conftest puts tools/ on the path, as make does  # noqa: E402


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_course_notebooks_exist_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "00_why_recurrence",
        "01_rnn_basics",
        "02_rnncell_loops",
        "03_lstm",
        "04_gru",
        "05_char_labelling",
        "06_options_in_depth",
        "07_mistakes_clinic",
        "08_training_through_time",
        "08b_backprop_by_hand",
        "09_char_language_model",
        "09b_inside_the_lm",
        "10_classify_sequences",
        "11_encoder_decoder",
        "12_attention",
        "13_parallel_recurrence",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.stem.split('_')[0]} ·")
    assert "After this notebook you can" in first.source, "learning goals at the top"
    assert "Summary" in nb.cells[-1].source
    setup = code_cells(nb)[0].source
    assert "set_seed(" in setup and "get_device()" in setup
    assert "metadata" not in nb or "widgets" not in nb.metadata, "widget state is not stored"
    for cell in code_cells(nb):
        assert not re.search(r"^\s*from \S+ import \*", cell.source, re.M), "explicit imports only"
        assert cell.execution_count is not None, f"unexecuted cell:\n{cell.source[:80]}"
        for out in cell.outputs:
            assert out.output_type != "error", f"stored error in:\n{cell.source[:80]}"
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"\b(cpu|cuda)\b|0x[0-9a-f]{6,}|/work/|site-packages", text), text
    executed = [c.execution_count for c in code_cells(nb)]
    assert executed == list(range(1, len(executed) + 1)), "run top to bottom in one go"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_solution_and_check(path):
    nb = nbformat.read(path, as_version=4)
    cells = code_cells(nb)
    solutions = [k for k, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    assert solutions, "every lesson has at least one exercise"
    for k in solutions:
        assert "### BEGIN SOLUTION" in cells[k].source and "### END SOLUTION" in cells[k].source
        assert re.search(r"\bcheck_\w+\(", cells[k + 1].source), "a check cell follows each solution"
        assert any("✓" in o.get("text", "") for o in cells[k + 1].outputs), "the solution passes"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    nbtools.student(out)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_is_clean(path, student_dir):
    nb = nbformat.read(student_dir / path.name, as_version=4)
    nbformat.validate(nb)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert all(not c.outputs and c.execution_count is None for c in code_cells(nb))
    stubs = [c for c in code_cells(nb) if "exercise" in c.metadata.get("tags", [])]
    assert stubs and all("raise NotImplementedError" in c.source for c in stubs)
    # the solution's code is gone, but the function signature the check needs is still there
    original = nbformat.read(path, as_version=4)
    for sol, stub in zip([c for c in code_cells(original) if "solution" in c.metadata.get("tags", [])], stubs):
        assert sol.source.splitlines()[0] == stub.source.splitlines()[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checks_fail_helpfully_on_the_stubs(path, student_dir, monkeypatch):
    """Run the student copy's setup, each stub and its check: the check says what to do."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(student_dir / path.name, as_version=4)
    cells = code_cells(nb)
    ns: dict = {}
    exec(cells[0].source, ns)  # the setup cell: imports, seed, device
    stubs = [k for k, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    for k in stubs:
        exec(cells[k].source, ns)
        with pytest.raises(CheckFailed) as failure:
            exec(cells[k + 1].source, ns)
        message = str(failure.value)
        assert "Not done yet" in message and "NotImplementedError" in message


def test_student_stub_keeps_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src, metadata={"tags": ["solution"]})])
    out = nbtools.student_copy(nb).cells[0].source
    ns: dict = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


def test_every_data_file_a_notebook_reads_is_in_the_repository():
    """What a notebook loads from notebooks/data/ must be tracked by git, or a fresh clone cannot run it (a
    checkpoint once matched the ignore rule for *.pt)."""
    import subprocess

    tracked = set(
        subprocess.run(["git", "ls-files", "notebooks/data"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    )
    if not tracked:
        pytest.skip("not a git checkout")
    for path in NOTEBOOKS:
        for cell in code_cells(nbformat.read(path, as_version=4)):
            for name in re.findall(r'Path\("(data/[^"*]+)"\)', cell.source):
                target = f"notebooks/{name}"
                assert target in tracked or any(t.startswith(target + "/") for t in tracked), (
                    f"{path.name} reads {name}, untracked"
                )


def test_every_committed_notebook_is_normalized(tmp_path):
    """One JupyterLab save re-adds cell ids, execution timings and editor metadata: caught here, fixed by
    `python tools/notebooks.py normalize`, which rewrites without executing."""
    for path in nbtools.numbered():
        assert nbtools.canonical(path) == path.read_text(encoding="utf-8"), (
            f"{path.name} is not normalized: run `.venv/bin/python tools/notebooks.py normalize`"
        )
    # the test fails for what a JupyterLab save does
    saved = tmp_path / "saved.ipynb"
    nb = nbformat.read(nbtools.numbered()[0], as_version=4)
    nb.nbformat_minor = 5
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{k}"
    nb.metadata["widgets"] = {"state": {}}
    nbformat.write(nb, saved)
    assert nbtools.canonical(saved) != saved.read_text(encoding="utf-8")


def test_nbgrader_generates_the_assignment_and_grades_two_submissions(tmp_path):
    """make nbgrader: the course as an nbgrader course, run offline end to end on notebook 02: the
    student version has stubs and locked checks; the solution scores full marks, the stub zero."""
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("nbgrader")
    nbtools.nbgrader_course(tmp_path)
    name = "02_rnncell_loops"
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}  # alembic

    def nbgrader(*args):
        return subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    r = nbgrader("generate_assignment", name, "--force")
    assert r.returncode == 0, r.stderr[-2000:]
    release = nbformat.read(tmp_path / "release" / name / f"{name}.ipynb", as_version=4)
    answers = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    checks = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert answers and len(answers) == len(checks)
    assert all("BEGIN SOLUTION" not in c.source and "NotImplementedError" in c.source for c in answers)
    assert all(c.metadata.nbgrader["locked"] and re.search(r"\bcheck_\w+\(", c.source) for c in checks)
    assert all(not c.get("outputs") for c in release.cells if c.cell_type == "code")
    for student, version in (("alice", tmp_path / "source"), ("bob", tmp_path / "release")):
        (tmp_path / "submitted" / student / name).mkdir(parents=True)
        shutil.copy(version / name / f"{name}.ipynb", tmp_path / "submitted" / student / name)
    r = nbgrader("autograde", name, "--create", "--force")
    assert r.returncode == 0, r.stderr[-2000:]
    r = nbgrader("export")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {line.split(",")[3]: line.split(",") for line in (tmp_path / "grades.csv").read_text().splitlines()[1:]}
    assert float(rows["alice"][9]) == float(rows["alice"][10]) == len(checks)  # score == max_score
    assert float(rows["bob"][9]) == 0.0

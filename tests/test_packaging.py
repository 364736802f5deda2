"""environment.yml (conda/Binder) and pyproject.toml ask for the same things; the Makefile
and CI use the README's commands."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

yaml = pytest.importorskip("yaml")
tomllib = pytest.importorskip("tomllib")

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONDA_NAME = {"torch": "pytorch-cpu"}  # PyPI name -> conda-forge name, where they differ


def _split(req: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", req).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("rnnlab")]
    return dict(_split(r) for r in reqs)


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-e ." in pip_section, "environment.yml must install the package itself"
    conda = dict(_split(d) for d in deps if isinstance(d, str) and d not in ("pip",))
    conda.pop("python", None)
    wanted = {CONDA_NAME.get(k, k): v for k, v in _pyproject_requirements().items()}
    assert conda == wanted


def test_python_versions_agree():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert py.replace("python", "") == meta["requires-python"]
    # make's own check (tools/bootstrap.py) and the README state the same minimum
    src = (ROOT / "tools" / "bootstrap.py").read_text()
    minimum = re.search(r"MIN_PYTHON = \((\d+), (\d+)\)", src).groups()
    assert meta["requires-python"] == ">=" + ".".join(minimum)
    assert f"Python ≥ {'.'.join(minimum)}" in (ROOT / "README.md").read_text()


def test_ci_and_readme_use_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test:", "lab:", "bench:"):
        assert re.search(rf"^{target}", makefile, re.M), target


def test_benchmark_runs_and_prints_its_table():
    """The benchmark script itself works (speed is measured by `make bench`, not asserted)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_rnn.py"), "--quick", "--sizes", "tiny"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and "tiny" in line]
    assert len(rows) == 8  # (RNN, GRU, LSTM oneDNN, LSTM native) x (autograd, hand)
    assert all(line.count("×") == 2 for line in rows) and sum("| hand |" in line for line in rows) == 4


def test_lm_benchmark_runs():
    """bench_lm.py: throughput of both LSTMs and the time to a target, through train_lm's callback."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_lm.py"), "--rounds", "2", "--budget", "3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "ratio rnnlab / torch" in out and "time to" in out


def test_one_version_a_licence_and_the_helpers_at_the_top():
    import rnnlab

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rnnlab.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", rnnlab.__version__)
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and meta["project"]["license"] == "MIT"
    from rnnlab import get_device, set_seed  # the two every notebook's setup cell uses

    assert callable(get_device) and callable(set_seed)


def test_the_built_wheel_holds_every_subpackage_and_runs(tmp_path):
    """Build the wheel as a user's pip would, install it apart from this checkout (no editable install, no
    source tree on the path), and run it: ``import rnnlab.cli, rnnlab.checks`` and ``python -m rnnlab --help``."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("rnnlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "rnnlab/cli/__init__.py",
        "rnnlab/cli/lm.py",
        "rnnlab/checks/__init__.py",
        "rnnlab/checks/steps.py",
        "rnnlab/checks/locale/zh-CN.po",
    ):
        assert module in names, f"{module} missing from {wheel.name}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # -S: no site-packages processing, so the editable install of this checkout is not seen; torch and the
    # other dependencies come from this environment's site-packages, rnnlab from the installed wheel only
    deps = next(p for p in map(pathlib.Path, sys.path) if (p / "torch").is_dir())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(deps)])}
    check = "import rnnlab, rnnlab.cli, rnnlab.checks; print(rnnlab.__file__)"
    out = subprocess.run([sys.executable, "-S", "-c", check], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target)), out.stdout
    help_ = subprocess.run(
        [sys.executable, "-S", "-m", "rnnlab", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert help_.returncode == 0 and "{train,lm,names,seq2seq,parity,memory}" in help_.stdout, help_.stderr


def test_parallel_benchmark_runs_and_writes_what_notebook_13_reads(tmp_path):
    """bench_parallel.py: the four models at each length, and the JSON notebook 13 reads (the stored one has the
    same structure and every length the notebook plots)."""
    out_file = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_parallel.py"), "--lengths", "8", "16", "--batches", "2"]
    out = subprocess.run(
        [*cmd, "--rounds", "1", "--out", str(out_file)], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    assert "scan/loop" in out and len([line for line in out.splitlines() if " train " in line]) == 2
    written = json.loads(out_file.read_text())
    stored = json.loads((ROOT / "notebooks" / "data" / "parallel" / "bench.json").read_text())
    for result in (written, stored):
        assert result["models"] == ["scan", "loop", "rnnlab.GRU", "torch.nn.GRU"]
        assert all(set(r["us_per_token"]) == set(result["models"]) for r in result["rows"])
    assert {r["length"] for r in stored["rows"]} == {64, 128, 256, 512, 1024, 2048, 4096}

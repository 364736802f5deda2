"""The Makefile's environment handling: atomic creation, rebuild on another torch choice, the
Python check, JupyterLab as root, and learners' copies that never touch tracked files.

Nothing here installs anything: a fake interpreter stands in for the venv's, and ``make -q``
asks whether the environment is up to date without building it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import bootstrap  # tools/: on the path (conftest.py), as when make runs a tool
import pytest
import translate

import notebooks as nbtools

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, env=os.environ | env
    )


def stamp(venv: pathlib.Path, content: str) -> None:
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / ".installed").write_text(content + "\n")
    os.utime(venv / ".installed", (2**31 - 1, 2**31 - 1))  # newer than pyproject.toml


def test_a_complete_env_is_current_and_another_torch_choice_is_not(tmp_path):
    venv = tmp_path / "v"
    stamp(venv, "torch==2.13.0 auto")
    assert make("-q", "env", f"VENV={venv}").returncode == 0
    assert make("-q", "env", f"VENV={venv}", "TORCH_INDEX=cpu").returncode == 1
    assert make("-q", "env", f"VENV={venv}", "TORCH=torch==2.2.2").returncode == 1
    (venv / ".installed").unlink()  # a half-built env: no stamp
    assert make("-q", "env", f"VENV={venv}").returncode == 1


def test_a_failed_build_leaves_no_stamp_and_the_next_run_starts_over(tmp_path):
    venv, fake = tmp_path / "v", tmp_path / "python3"
    # venv creation "works" but gives an interpreter whose pip always fails, like a broken
    # python3-venv; the bootstrap helpers still run on the real interpreter
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin"; '
        'printf \'#!/bin/sh\\nexit 1\\n\' > "$3/bin/python"; chmod +x "$3/bin/python"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    first = make("env", f"VENV={venv}", f"PYTHON={fake}", "TORCH_INDEX=pypi")
    assert first.returncode != 0 and not (venv / ".installed").exists()
    (venv / "leftover").touch()
    second = make("env", f"VENV={venv}", f"PYTHON={fake}", "TORCH_INDEX=pypi")
    assert second.returncode != 0
    assert "rebuilding" in second.stdout and not (venv / "leftover").exists()


def test_env_stamp_is_written_last():
    recipe = (ROOT / "Makefile").read_text().split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()[1:]]
    assert lines[-1] == 'echo "$(TORCH_CHOICE)" > $@'
    assert any(line.startswith("rm -f $@") for line in lines[:4])


def test_python_check(monkeypatch, capsys):
    assert bootstrap.check_python() == 0
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    assert bootstrap.check_python() == 1
    err = capsys.readouterr().err
    assert "needs Python >= 3.10" in err and "3.9.18" in err and "make PYTHON=" in err


def test_torch_index_choices(monkeypatch):
    monkeypatch.setattr(bootstrap, "reachable", lambda url, timeout=4.0: True)
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Linux")
    assert bootstrap.torch_index("auto") == "https://download.pytorch.org/whl/cpu"
    assert bootstrap.torch_index("pypi") == ""
    assert bootstrap.torch_index("cu126") == "https://download.pytorch.org/whl/cu126"
    assert bootstrap.torch_index("https://example.org/simple") == "https://example.org/simple"
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Darwin")  # PyPI's wheels are CPU builds
    assert bootstrap.torch_index("auto") == ""
    monkeypatch.setattr(bootstrap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(bootstrap, "reachable", lambda url, timeout=4.0: False)  # offline or a mirror
    assert bootstrap.torch_index("auto") == ""


@pytest.mark.parametrize("lang", ["zh", "zh-CN", "zh_CN", "zh_CN.UTF-8", "zh-Hans"])
def test_lab_in_chinese_for_every_spelling_in_the_learners_own_folder(tmp_path, lang):
    venv = tmp_path / "v"
    stamp(venv, "torch==2.13.0 auto")
    out = make("-n", "lab", f"VENV={venv}", LANG=lang).stdout
    assert "打开中文版课程" in out  # says which edition opened
    assert "tools/notebooks.py course --src build/zh-CN/notebooks --out notebooks-zh" in out
    assert "JUPYTERLAB_SETTINGS_DIR=.jupyter-zh/settings" in out and "lab-locale zh_CN" in out
    assert out.rstrip().endswith("notebooks-zh/")  # never build/, which every run rebuilds
    for path in ("notebooks-zh/01_rnn_basics.ipynb", ".jupyter-zh/settings/x"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("lang", ["en", "en_US.UTF-8", "C.UTF-8", ""])
def test_lab_in_english_otherwise_and_says_so(tmp_path, lang):
    venv = tmp_path / "v"
    stamp(venv, "torch==2.13.0 auto")
    out = make("-n", "lab", f"VENV={venv}", LANG=lang).stdout
    assert "Opening the English course" in out and "zh" not in out.splitlines()[-1]


def test_the_chinese_course_keeps_the_learners_work(tmp_path):
    src = tmp_path / "build"
    translate.build("zh-CN", src)
    copied, differ = nbtools.course(src, tmp_path / "mine")
    assert len(copied) == len(nbtools.numbered()) and differ == []
    mine = copied[0]
    mine.write_text(mine.read_text(encoding="utf-8").replace("学完本节", "我的笔记：学完本节", 1), encoding="utf-8")
    copied, differ = nbtools.course(src, tmp_path / "mine")  # the next `make lab LANG=zh`
    assert copied == [] and differ == [mine] and "我的笔记" in mine.read_text(encoding="utf-8")
    assert (tmp_path / "mine" / "data").is_dir()


def test_lab_locale_setting_written_once(tmp_path):
    path = bootstrap.lab_locale("zh_CN", str(tmp_path))
    assert json.loads(path.read_text()) == {"locale": "zh_CN"}
    path.write_text('{"locale": "en"}')  # the learner chose English menus in Settings > Language
    bootstrap.lab_locale("zh_CN", str(tmp_path))
    assert json.loads(path.read_text()) == {"locale": "en"}


def test_lab_allows_root_only_as_root(tmp_path):
    venv = tmp_path / "v"
    stamp(venv, "torch==2.13.0 auto")
    out = make("-n", "lab", f"VENV={venv}").stdout
    assert "jupyter lab" in out
    assert ("--allow-root" in out) == (os.geteuid() == 0)


def test_student_copies_are_untracked_and_never_overwritten(tmp_path):
    ignored = subprocess.run(["git", "check-ignore", "-q", "my-notebooks/01_rnn_basics.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "my-notebooks/ must be git-ignored"
    out = make("-n", "lab-student", f"VENV={tmp_path / 'v'}").stdout
    assert "--keep-existing" in out and "my-notebooks" in out
    zh = make("-n", "lab-student", "LANG=zh", f"VENV={tmp_path / 'v'}").stdout
    assert "--lang zh-CN" in zh and "my-notebooks-zh" in zh
    assert subprocess.run(["git", "check-ignore", "-q", "my-notebooks-zh/x.ipynb"], cwd=ROOT).returncode == 0
    first = nbtools.student(tmp_path / "mine", keep_existing=True)
    assert len(first) == len(nbtools.numbered())
    mine = first[0]
    mine.write_text(mine.read_text().replace('"cells": [', '"cells": [ ', 1) + "\n# my own attempt\n")
    again = nbtools.student(tmp_path / "mine", keep_existing=True)
    assert mine not in again and "my own attempt" in mine.read_text()


def test_portability_run_covers_generic_and_avx2_kernels_with_one_and_two_threads(tmp_path):
    venv = tmp_path / "v"
    stamp(venv, "torch==2.13.0 auto")
    runs = [line for line in make("-n", "test-portable", f"VENV={venv}").stdout.splitlines() if "-m pytest" in line]
    settings = {
        (r.split("ATEN_CPU_CAPABILITY=")[1].split()[0], r.split("OMP_NUM_THREADS=")[1].split()[0]) for r in runs
    }
    assert settings == {("default", "1"), ("default", "2"), ("avx2", "1"), ("avx2", "2")}
    for run in runs:
        assert "--nbval" in run and "notebooks build/zh-CN/notebooks" in run, "English and Chinese notebooks"
        # the generic kernels are asked of every library that has its own: ATen, MKL, oneDNN
        assert ("MKL_ENABLE_INSTRUCTIONS=SSE4_2" in run) == ("ONEDNN_MAX_CPU_ISA=SSE41" in run) == ("=default" in run)
        # two threads each on two cores would fight: one worker then
        assert ("-n 1 " in run) == ("OMP_NUM_THREADS=2" in run)
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip().startswith("make ")]
    assert commands == ["make test", "make test-portable"]

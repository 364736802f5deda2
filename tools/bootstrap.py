"""Helpers `make` runs with the system Python before the virtual environment exists (stdlib only).

    python3 tools/bootstrap.py check-python      exit 1 with a clear message below Python 3.10,
                                                 or when the venv module is missing
    python3 tools/bootstrap.py torch-index auto  print the pip index to install torch from
    python3 tools/bootstrap.py lab-locale zh_CN DIR
                                                 JupyterLab's display language in the settings folder
                                                 DIR (kept when the learner already chose one there)

``torch-index`` resolves ``TORCH_INDEX`` from the Makefile:

* ``auto`` (the default): on Linux, where plain PyPI serves the CUDA build of torch (several
  GB), PyTorch's CPU index if it answers within a few seconds; otherwise nothing (plain PyPI,
  whose macOS and Windows wheels are CPU builds already, or a mirror configured for pip);
* ``pypi``: nothing, plain PyPI (on Linux: the CUDA build, for a machine with an NVIDIA GPU);
* ``cpu``, ``cu126``, ...: that index of download.pytorch.org;
* anything else: used as the index URL as it is.
"""

import json
import pathlib
import platform
import sys
import urllib.request

MIN_PYTHON = (3, 10)  # torch 2.13 and faker 40 need it; pyproject.toml says the same
PYTORCH_INDEX = "https://download.pytorch.org/whl/{}"


def check_python() -> int:
    found = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        print(
            f"rnnlab needs Python >= {need}, but {sys.executable} is Python {found}.\n"
            f"Install a newer Python and point make at it, e.g.: make PYTHON=python3.12",
            file=sys.stderr,
        )
        return 1
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        print(
            f"Python {found} at {sys.executable} cannot create virtual environments (no venv/ensurepip).\n"
            "On Debian or Ubuntu: sudo apt install python3-venv   (then run make again)",
            file=sys.stderr,
        )
        return 1
    return 0


def reachable(url: str, timeout: float = 4.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except OSError:
        return False


def torch_index(choice: str) -> str:
    if choice in ("", "pypi", "none"):
        return ""
    if choice == "auto":
        url = PYTORCH_INDEX.format("cpu")
        return url if platform.system() == "Linux" and reachable(url) else ""
    if "://" in choice:
        return choice
    return PYTORCH_INDEX.format(choice)


LOCALE_SETTING = pathlib.Path("@jupyterlab", "translation-extension", "plugin.jupyterlab-settings")


def lab_locale(locale: str, settings_dir: str) -> pathlib.Path:
    """Write JupyterLab's language setting (``{"locale": ...}``, the one its Settings > Language menu
    writes) under ``settings_dir``, unless a setting is there already: the learner's choice wins."""
    path = pathlib.Path(settings_dir) / LOCALE_SETTING
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"locale": locale}, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if argv[:1] == ["check-python"]:
        return check_python()
    if argv[:1] == ["torch-index"] and len(argv) <= 2:
        print(torch_index(argv[1] if len(argv) == 2 else "auto"))
        return 0
    if argv[:1] == ["lab-locale"] and len(argv) == 3:
        lab_locale(argv[1], argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The package's layout is its architecture: every module imports only from layers below its own (or its own
layer's teaching aids), the tasks never import each other, and nothing imports the deprecated old paths.

The imports are read from the source (``ast``), function-local ones included, so a circle cannot hide behind
an import moved into a function.
"""

from __future__ import annotations

import ast
import pathlib
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnnlab"

LAYERS = {
    "rnnlab.validation": 0,
    "rnnlab.interop": 0,
    "rnnlab.cells": 0,
    "rnnlab.layers": 0,
    "rnnlab.minimal": 0,
    "rnnlab.backward": 0,
    "rnnlab.testing": 0,
    "rnnlab.vocab": 1,
    "rnnlab.loop": 1,
    "rnnlab.labelling": 2,
    "rnnlab.lm": 2,
    "rnnlab.window": 2,
    "rnnlab.classify": 2,
    "rnnlab.seq2seq": 2,
    "rnnlab.parity": 2,
    "rnnlab.memory": 2,
    "rnnlab.checkpoint": 3,
    "rnnlab.cli": 3,
    "rnnlab.checks": 4,
    "rnnlab.bptt": 4,
    "rnnlab.explore": 4,
    "rnnlab.inside": 4,
    "rnnlab.plot": 4,
    "rnnlab": 5,  # the package's own __init__ and __main__ re-export from below
    "rnnlab.__main__": 5,
}
TASKS = {
    "rnnlab.labelling",
    "rnnlab.lm",
    "rnnlab.window",
    "rnnlab.classify",
    "rnnlab.seq2seq",
    "rnnlab.parity",
    "rnnlab.memory",
}
OLD_PATHS = {"rnnlab.data", "rnnlab.models", "rnnlab.train"}  # re-export only, for learners' old copies
SHIMS = OLD_PATHS | {"rnnlab._moved"}


def unit(module: str) -> str:
    """The layered unit a module belongs to: a package's submodules belong to the package (``rnnlab.cli.lm`` →
    ``rnnlab.cli``)."""
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    raise KeyError(f"{module} is in no layer: add it to LAYERS")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str) -> list[tuple[int, str]]:
    """Every ``rnnlab`` module that ``source`` imports, anywhere in the file, with its line."""
    found = []
    package = module.rsplit(".", 1)[0] if "." in module else module  # where a relative import starts
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "rnnlab"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] == "rnnlab":
                # `from rnnlab import layers` imports the module rnnlab.layers, not the package's __init__
                subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
                found += [(node.lineno, m) for m in subs or [base]]
    return found


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(sources: dict[str, str]) -> list[str]:
    """What breaks the layering, given ``{module: source}``."""
    out = []
    for module, source in sources.items():
        if module in SHIMS:
            continue
        here = unit(module)
        for line, target in imports(source, module):
            if target in SHIMS or target.split(".")[:2] == ["rnnlab", "_moved"]:
                out.append(f"{module}:{line} imports the deprecated {target}")
                continue
            there = unit(target)
            if there == here:
                continue
            if LAYERS[there] > LAYERS[here]:
                out.append(f"{module}:{line} imports {target} from layer {LAYERS[there]}, above its own {LAYERS[here]}")
            elif here in TASKS and there in TASKS:
                out.append(f"{module}:{line} imports the task {target}: tasks never import each other")
    return out


def package_sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer():
    for module in package_sources():
        if module not in SHIMS:
            unit(module)


def test_no_upward_import_no_import_between_tasks_no_old_path():
    assert violations(package_sources()) == []


@pytest.mark.parametrize(
    "module, source, complaint",
    [
        # what the flat layout had: the shared training helpers reaching up for the model registry, inside a function
        ("rnnlab.loop", "def load():\n    from rnnlab.checkpoint import model_from_spec\n", "above its own 1"),
        ("rnnlab.lm", "from rnnlab.labelling import fit\n", "tasks never import each other"),
        ("rnnlab.seq2seq", "import rnnlab.classify\n", "tasks never import each other"),
        ("rnnlab.layers", "from rnnlab.vocab import PAD\n", "above its own 0"),
        ("rnnlab.checks.training", "from rnnlab.train import fit\n", "deprecated rnnlab.train"),
        ("rnnlab.cli.lm", "from . import common\nfrom ..checks import diagnose\n", "rnnlab.checks from layer 4"),
    ],
)
def test_the_check_catches(module, source, complaint):
    found = violations({module: source})
    assert len(found) == 1 and complaint in found[0], found


def test_old_paths_re_export_with_a_warning_naming_the_new_one():
    import rnnlab.data
    import rnnlab.models
    import rnnlab.train
    from rnnlab.lm import CharLM, stream_batches
    from rnnlab.loop import set_seed
    from rnnlab.vocab import CharVocab

    for old, name, new in [
        (rnnlab.data, "CharVocab", CharVocab),
        (rnnlab.data, "stream_batches", stream_batches),
        (rnnlab.models, "CharLM", CharLM),
        (rnnlab.train, "set_seed", set_seed),
    ]:
        with pytest.warns(DeprecationWarning, match=rf"{old.__name__}\.{name} has moved to {new.__module__}\.{name}"):
            assert getattr(old, name) is new
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        rnnlab.train.nonsense  # noqa: B018
    # every name of the old modules still resolves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for old in (rnnlab.data, rnnlab.models, rnnlab.train):
            assert all(getattr(old, name) is not None for name in dir(old))

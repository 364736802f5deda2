"""The checks' messages in the learner's language.

Every message a check prints or raises is written once, in English, as a ``str.format`` template
passed to :func:`tr`; its translations are gettext ``.po`` files beside this module
(``locale/zh-CN.po``: ``msgid`` the English template, ``msgstr`` the translation, with the same
``{placeholders}``), edited like the notebooks' in ``translations/``. ``tests/test_checks.py`` fails
while any template lacks a translation, or a translation's placeholders differ from its template's.

The language, in order: :func:`set_language`; the environment variable ``RNNLAB_LANG``
(``make lab LANG=zh`` sets it); a file ``.rnnlab-lang`` in the working directory, which a kernel
started from a Chinese course folder sees (the zh-CN builds write it); else English.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import string
from pathlib import Path

__all__ = ["tr", "set_language", "language", "LANGUAGES", "catalogue", "translate_text"]

LOCALE = Path(__file__).with_name("locale")
LANGUAGES = ("en", "zh-CN")
MARKER = ".rnnlab-lang"
_chosen: str | None = None


def _normal(lang: str | None) -> str | None:
    """``zh``, ``zh_CN``, ``zh-Hans``, ``zh_CN.UTF-8`` -> ``zh-CN``; ``en...`` -> ``en``; else None."""
    if not lang:
        return None
    lang = lang.strip().split(".")[0].replace("_", "-").lower()
    if lang.startswith("zh"):
        return "zh-CN"
    if lang.startswith("en"):
        return "en"
    return None


def set_language(lang: str | None) -> None:
    """Choose the checks' language (``'en'``, ``'zh-CN'`` or a spelling of it); None: back to automatic."""
    global _chosen
    if lang is not None and _normal(lang) is None:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    _chosen = _normal(lang)


def language() -> str:
    """The language messages are given in now (see the module docstring)."""
    if _chosen:
        return _chosen
    from_env = _normal(os.environ.get("RNNLAB_LANG"))
    if from_env:
        return from_env
    marker = Path.cwd() / MARKER
    if marker.is_file():
        return _normal(marker.read_text(encoding="utf-8")) or "en"
    return "en"


def _po_string(lines: list[str]) -> str:
    return "".join(ast.literal_eval(line) for line in lines)


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """``{English template: translation}`` from ``locale/<lang>.po`` (empty translations left out)."""
    path = LOCALE / f"{lang}.po"
    if lang == "en" or not path.is_file():
        return {}
    entries, key, parts = {}, None, {"msgid": [], "msgstr": []}
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if line.startswith("msgid ") or not line:
            if parts["msgid"] and parts["msgstr"]:
                msgid, msgstr = _po_string(parts["msgid"]), _po_string(parts["msgstr"])
                if msgid and msgstr:
                    entries[msgid] = msgstr
            parts = {"msgid": [], "msgstr": []}
            key = None
        if line.startswith("#") or not line:
            continue
        if line.startswith(("msgid ", "msgstr ")):
            key, line = line.split(" ", 1)
        if key:
            parts[key].append(line)
    return entries


def tr(template: str, **values: object) -> str:
    """``template`` in the current language, filled with ``values`` (``str.format``)."""
    text = catalogue(language()).get(template, template)
    return text.format(**values)


def _pattern(template: str) -> re.Pattern:
    """A regex for what ``template`` formats to: one lazy named group per placeholder, and the text
    ending where a message ends (a space, the line's end, or closing punctuation)."""
    pattern, names = "", set()
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if field is not None:
            group = re.sub(r"\W", "_", field)
            pattern += f"(?P={group})" if group in names else f"(?P<{group}>.+?)"
            names.add(group)
    return re.compile(pattern + r"(?=\s|$|[,;:)\]])", re.M)


def translate_text(text: str, lang: str) -> str:
    """``text`` printed in English by the checks, as they print it in ``lang``: every message found in it
    replaced by its translation, the longest first (a diagnosis inside a sentence, then the sentence).
    Used for the stored outputs of the translated notebooks, so that nbval compares like with like."""
    entries = catalogue(lang)
    for template in sorted(entries, key=len, reverse=True):
        if "{" not in template:
            text = text.replace(template, entries[template])
            continue
        translated = entries[template]
        text = _pattern(template).sub(lambda m, t=translated: t.format(**m.groupdict()), text)
    return text

"""Characters as tensors: a vocabulary, one-hot encoding, and datasets of string pairs.

The classic first exercise maps "hello" to "ohlol" one character at a time; its
vocabulary ``['e', 'l', 'h', 'o']`` is :data:`CLASSIC_IDX2CHAR`, which gives
``x = [[2, 0, 1, 1, 3]]`` and ``y = [3, 2, 1, 3, 1]``.
"""

from __future__ import annotations

import datetime
import importlib
import random
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CLASSIC_IDX2CHAR",
    "CharVocab",
    "PairDataset",
    "one_hot",
    "zen_of_python",
    "python_docs_text",
    "split_text",
    "repeated_lines",
    "stream_batches",
    "PAD",
    "START",
    "END",
    "pad_batch",
    "SURNAME_LOCALES",
    "FAKER_VERSION",
    "fold_name",
    "surnames",
    "split_labelled",
    "date_pairs",
    "reversal_pairs",
]

CLASSIC_IDX2CHAR = ["e", "l", "h", "o"]

# Special symbols of variable-length batches, kept single characters so a CharVocab (and a
# checkpoint) holds them like any other: padding, start and end of a decoded sequence.
PAD, START, END = "\x00", "\x02", "\x03"


class CharVocab:
    """A fixed list of characters and their indices.

    Args:
        chars: the characters, index ``k`` for ``chars[k]``; no duplicates.
    """

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError(f"vocabulary entries must be single characters, got {chars!r}")
        if len(set(chars)) != len(chars):
            raise ValueError(f"vocabulary has duplicate characters: {chars!r}")
        self.idx2char = chars
        self.char2idx = {c: k for k, c in enumerate(chars)}

    @classmethod
    def from_strings(cls, *strings: str, specials: Sequence[str] = ()) -> CharVocab:
        """Every character of the strings, sorted, after ``specials`` (e.g. ``(PAD, START,
        END)``, which then get the indices 0, 1, 2)."""
        return cls(list(specials) + sorted(set("".join(strings)) - set(specials)))

    def index(self, char: str) -> int:
        """The index of one character (or special symbol); KeyError names the vocabulary."""
        try:
            return self.char2idx[char]
        except KeyError:
            raise KeyError(f"{char!r} is not in the vocabulary {self.idx2char}") from None

    @classmethod
    def classic(cls) -> CharVocab:
        """The hello → ohlol lesson's vocabulary: ``['e', 'l', 'h', 'o']``."""
        return cls(CLASSIC_IDX2CHAR)

    def __len__(self) -> int:
        return len(self.idx2char)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.idx2char == other.idx2char

    def __repr__(self) -> str:
        return f"CharVocab({self.idx2char!r})"

    def encode(self, text: str) -> Tensor:
        """``(len(text),)`` int64 indices."""
        unknown = sorted(set(text) - set(self.char2idx))
        if unknown:
            raise ValueError(f"characters {unknown} are not in the vocabulary {self.idx2char}")
        return torch.tensor([self.char2idx[c] for c in text], dtype=torch.long)

    def decode(self, indices: Iterable[int] | Tensor) -> str:
        """Indices back to a string."""
        if isinstance(indices, Tensor):
            indices = indices.tolist()
        return "".join(self.idx2char[int(k)] for k in indices)


def one_hot(indices: Tensor, num_classes: int) -> Tensor:
    """``(...)`` int64 indices → ``(..., num_classes)`` float32 one-hot vectors."""
    return F.one_hot(indices, num_classes).float()


class PairDataset:
    """Pairs of equal-length strings, ``source[t]`` → ``target[t]``.

    Args:
        pairs: ``(source, target)`` strings; each pair must have equal, non-zero lengths.
        vocab: the vocabulary; by default every character of every string, sorted.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], vocab: CharVocab | None = None) -> None:
        pairs = [tuple(p) for p in pairs]
        if not pairs:
            raise ValueError("a dataset needs at least one (source, target) pair")
        for src, tgt in pairs:
            validate_pair(src, tgt)
        self.pairs = pairs
        self.vocab = vocab or CharVocab.from_strings(*(s + t for s, t in pairs))
        for src, tgt in pairs:  # fail now, with the unknown characters named
            self.vocab.encode(src + tgt)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        src, tgt = self.pairs[k]
        return self.vocab.encode(src), self.vocab.encode(tgt)

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Time-major ``(T, B)`` index tensors ``(x, y)``; pairs are grouped by length, so
        every batch is rectangular. ``batch_size=None`` puts each length group in one batch."""
        by_len: dict[int, list[int]] = {}
        for k, (src, _) in enumerate(self.pairs):
            by_len.setdefault(len(src), []).append(k)
        for idx in by_len.values():
            step = batch_size or len(idx)
            for i in range(0, len(idx), step):
                xs, ys = zip(*(self[k] for k in idx[i : i + step]))
                yield torch.stack(xs, 1), torch.stack(ys, 1)  # (T, B) each


def validate_pair(source: str, target: str) -> None:
    """Raise ValueError unless both strings are non-empty and of equal length."""
    if not source or not target:
        raise ValueError(f"source and target must be non-empty, got {source!r} and {target!r}")
    if len(source) != len(target):
        raise ValueError(
            f"source and target must have equal lengths (one output per input character), "
            f"got {source!r} ({len(source)}) and {target!r} ({len(target)})"
        )


# -- real text that ships with every Python: no download -------------------------------------
def zen_of_python() -> str:
    """The Zen of Python (``import this``), 856 characters of English: a short real text.

    ``this`` stores it ROT13-encoded and prints it when first imported; this reads it silently.
    """
    import codecs
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def python_docs_text() -> str:
    """The Python reference's help topics, ``pydoc_data.topics`` (about 465 k characters of
    English prose and code from the Python documentation, PSF licence), joined in a fixed
    order (sorted by topic name), so every run sees the same text.

    Raises:
        RuntimeError: when the interpreter was built without ``pydoc_data`` (some minimal
            distributions strip it).
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as e:
        raise RuntimeError(
            "this Python has no pydoc_data.topics (the help topics of the standard library), "
            "so the course's text corpus is missing; use a full CPython install (python.org, "
            "conda, pyenv, or Debian's python3 with libpython3-stdlib)"
        ) from e
    return "\n\n".join(topics[k].strip() for k in sorted(topics))


def split_text(text: str, val_fraction: float = 0.1, drop_repeated: int | None = 40) -> tuple[str, str]:
    """A fixed train/validation split: the last ``val_fraction`` of the text is validation.

    The validation part is one piece of the text, never shuffled. A text can still repeat itself
    (``pydoc_data.topics`` repeats whole paragraphs between topics), so validation lines of at
    least ``drop_repeated`` characters that also stand as a line of the training part are removed
    from validation: a model that memorised them would look better than it is. ``None`` keeps the
    validation part whole. :func:`repeated_lines` measures the overlap.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(text) * (1 - val_fraction))
    if cut < 2 or len(text) - cut < 2:
        raise ValueError(f"text of {len(text)} characters is too short to split at {val_fraction}")
    train, val = text[:cut], text[cut:]
    if drop_repeated is not None:
        seen = set(repeated_lines(train, val, drop_repeated))
        val = "\n".join(line for line in val.split("\n") if line not in seen)
    return train, val


def repeated_lines(train: str, val: str, min_len: int = 40) -> list[str]:
    """The lines of ``val`` with at least ``min_len`` characters that also stand as a line of ``train``."""
    if min_len < 1:
        raise ValueError(f"min_len must be >= 1, got {min_len}")
    train_lines = set(train.split("\n"))
    return [line for line in val.split("\n") if len(line) >= min_len and line in train_lines]


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> list[tuple[Tensor, Tensor]]:
    """Cut one long index sequence into chunks for truncated backprop through time.

    The stream is split into ``batch_size`` contiguous rows, and the rows are read ``seq_len``
    steps at a time, so row ``b`` of chunk ``k + 1`` continues row ``b`` of chunk ``k``: the
    hidden state can be carried (detached) from one chunk to the next. Targets are the inputs
    shifted by one character. The last chunk may be shorter in time; the batch never shrinks.

    Args:
        ids: ``(N,)`` int64 indices of the whole text.
        batch_size: rows ``B``.
        seq_len: steps ``T`` per chunk.

    Returns:
        A list of ``(x, y)``, each ``(T, B)`` time-major.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {tuple(ids.shape)}")
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
    row_len = (len(ids) - 1) // batch_size  # each row needs one extra character for its target
    if row_len < 1:
        raise ValueError(f"{len(ids)} characters cannot fill {batch_size} rows of at least 2")
    x = ids[: row_len * batch_size].view(batch_size, row_len).T  # (N/B, B)
    y = ids[1 : row_len * batch_size + 1].view(batch_size, row_len).T
    return [(x[t : t + seq_len], y[t : t + seq_len]) for t in range(0, row_len, seq_len)]


# -- variable-length batches ------------------------------------------------------------------
def pad_batch(seqs: Sequence[Tensor], padding_value: int = 0, batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Pad 1-D index sequences of different lengths into one tensor, and say their lengths.

    Args:
        seqs: ``B`` int64 tensors ``(T_b,)``, each with ``T_b >= 1`` (packing refuses empty
            sequences).
        padding_value: the index written after each sequence's end.
        batch_first: ``(B, T)`` instead of ``(T, B)``.

    Returns:
        ``(padded, lengths)``: ``(T, B)`` (or ``(B, T)``) with ``T = max T_b``, and ``(B,)``
        int64 lengths **on the CPU**, as ``pack_padded_sequence`` requires, in the input order.
    """
    if not seqs:
        raise ValueError("pad_batch needs at least one sequence")
    for k, s in enumerate(seqs):
        if s.dim() != 1:
            raise ValueError(f"sequence {k} must be 1-D (T,), got shape {tuple(s.shape)}")
        if len(s) == 0:
            raise ValueError(f"sequence {k} is empty; every sequence needs at least one step")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (B,) on the CPU
    padded = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=batch_first, padding_value=padding_value)
    return padded, lengths


# -- surnames by language, from the lists that the faker package ships ------------------------
FAKER_VERSION = "40.63.0"  # the pinned release whose lists give the stored notebook results
SURNAME_LOCALES: dict[str, tuple[str, ...]] = {
    "Czech": ("cs_CZ",),
    "Dutch": ("nl_NL",),
    "English": ("en_GB",),
    "Finnish": ("fi_FI",),
    "French": ("fr_FR",),
    "German": ("de_DE", "de_AT"),
    "Italian": ("it_IT",),
    "Polish": ("pl_PL",),
    "Spanish": ("es_ES",),
    "Swedish": ("sv_SE",),
}
_FOLD = {"ł": "l", "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ı": "i"}
_NAME_ATTRS = (
    "last_names",
    "unisex_last_names",
    "male_last_names",
    "female_last_names",
    "last_names_male",
    "last_names_female",
)


def fold_name(name: str) -> str:
    """Lower case, accents removed, a few letters spelt out (``ł`` → ``l``, ``ß`` → ``ss``):
    ``"Łukasiewicz"`` → ``"lukasiewicz"``, ``"Müller"`` → ``"muller"``. Diacritics would give
    most languages away at a glance; folded, the network must learn spelling patterns."""
    name = "".join(_FOLD.get(c, c) for c in name.strip().lower())
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _locale_surnames(locale: str) -> list[str]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    return [n for attr in _NAME_ATTRS for n in getattr(provider, attr, ())]


def surnames(max_per_language: int = 600, seed: int = 0) -> dict[str, list[str]]:
    """Surnames by language, from the per-locale lists of the ``faker`` package (MIT licence).

    Names are folded with :func:`fold_name` and kept when made of ``a-z``, space, ``'`` and
    ``-``; a name found under two languages (``"adam"``: German and French) is dropped, so every
    label is unambiguous. Languages with more than ``max_per_language`` names keep a seeded
    random sample of that many, so no class swamps the others.

    Returns:
        ``{language: sorted names}`` for the languages of :data:`SURNAME_LOCALES`.

    Raises:
        RuntimeError: when faker is not installed.
    """
    try:
        import faker
    except ImportError as e:
        raise RuntimeError(f"the surname lists come from the faker package: pip install faker=={FAKER_VERSION}") from e
    if faker.VERSION != FAKER_VERSION:
        warnings.warn(
            f"faker {faker.VERSION} is installed; the course's results were measured "
            f"with faker=={FAKER_VERSION}, whose lists may differ",
            stacklevel=2,
        )
    ok = re.compile(r"[a-z][a-z '-]*[a-z]")
    by_lang = {
        lang: {n for loc in locales for n in map(fold_name, _locale_surnames(loc)) if ok.fullmatch(n)}
        for lang, locales in SURNAME_LOCALES.items()
    }
    seen = Counter(n for names in by_lang.values() for n in names)  # languages listing each name
    rng = random.Random(seed)
    out = {}
    for lang, names in by_lang.items():
        unique = sorted(n for n in names if seen[n] == 1)
        out[lang] = sorted(rng.sample(unique, max_per_language)) if len(unique) > max_per_language else unique
    return out


def split_labelled(
    groups: dict[str, list[str]], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """A stratified, seeded train/validation split of ``{label: items}``.

    Every label loses the same fraction of its items to validation, so both halves keep the
    class balance. Labels are numbered in the dict's order.

    Returns:
        ``(train, val)``: lists of ``(item, label_index)``, each shuffled.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = random.Random(seed)
    train, val = [], []
    for k, items in enumerate(groups.values()):
        items = list(items)
        rng.shuffle(items)
        n_val = max(1, round(len(items) * val_fraction))
        val += [(x, k) for x in items[:n_val]]
        train += [(x, k) for x in items[n_val:]]
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val


# -- generated sequence-to-sequence tasks -------------------------------------------------------
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _write_date(d, style: int) -> str:
    m = _MONTHS[d.month - 1]
    return [
        f"{d.day} {m} {d.year}",  # 3 March 2021
        f"{m} {d.day}, {d.year}",  # March 3, 2021
        f"{d.day} {m[:3]} {d.year}",  # 3 Mar 2021
        f"{m[:3]} {d.day} {d.year}",  # Mar 3 2021
        f"{d.day:02d}.{d.month:02d}.{d.year}",  # 03.03.2021
        f"{_WEEKDAYS[d.weekday()]}, {d.day} {m} {d.year}",  # Wednesday, 3 March 2021
    ][style]


def date_pairs(n: int, seed: int = 0, held_out: bool = False) -> list[tuple[str, str]]:
    """Written dates and their ISO form: ``("March 3, 2021", "2021-03-03")``.

    Dates are drawn uniformly from 1950-01-01 to 2049-12-31 and written in one of six styles
    (30 % in lower case). The dates split by day: ``held_out=True`` draws only days whose
    ordinal is a multiple of 5 and ``False`` only the others, so a held-out date was never
    seen in training in any style.
    """
    rng = random.Random(seed)
    lo, hi = datetime.date(1950, 1, 1).toordinal(), datetime.date(2049, 12, 31).toordinal()
    pairs = []
    while len(pairs) < n:
        day = rng.randint(lo, hi)
        if (day % 5 == 0) != held_out:
            continue
        d = datetime.date.fromordinal(day)
        text = _write_date(d, rng.randrange(6))
        pairs.append((text.lower() if rng.random() < 0.3 else text, d.isoformat()))
    return pairs


def reversal_pairs(n: int, min_len: int, max_len: int, seed: int = 0) -> list[tuple[str, str]]:
    """Random lower-case strings and their reversal, lengths uniform in ``[min_len, max_len]``:
    ``("kfqz", "zqfk")``."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len} and {max_len}")
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for _ in range(n):
        s = "".join(rng.choice(letters) for _ in range(rng.randint(min_len, max_len)))
        out.append((s, s[::-1]))
    return out

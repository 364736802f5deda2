"""Characters as tensors: a vocabulary, one-hot encoding, and datasets of string pairs.

The classic first exercise maps "hello" to "ohlol" one character at a time; its
vocabulary ``['e', 'l', 'h', 'o']`` is :data:`CLASSIC_IDX2CHAR`, which gives
``x = [[2, 0, 1, 1, 3]]`` and ``y = [3, 2, 1, 3, 1]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CLASSIC_IDX2CHAR", "CharVocab", "PairDataset", "one_hot", "zen_of_python", "python_docs_text",
    "split_text", "stream_batches",
]  # fmt: skip

CLASSIC_IDX2CHAR = ["e", "l", "h", "o"]


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
    def from_strings(cls, *strings: str) -> CharVocab:
        """Every character of the strings, sorted."""
        return cls(sorted(set("".join(strings))))

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


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """A fixed train/validation split: the last ``val_fraction`` of the text is validation
    (contiguous, never shuffled, so no validation sentence leaks into training)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(text) * (1 - val_fraction))
    if cut < 2 or len(text) - cut < 2:
        raise ValueError(f"text of {len(text)} characters is too short to split at {val_fraction}")
    return text[:cut], text[cut:]


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

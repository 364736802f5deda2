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

__all__ = ["CLASSIC_IDX2CHAR", "CharVocab", "PairDataset", "one_hot"]

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

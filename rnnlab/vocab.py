"""Characters as tensors, for every task: a vocabulary with special symbols, one-hot vectors, padding.

:class:`CharVocab` maps characters to indices and back. Variable-length batches use three special
symbols, kept single characters so that a vocabulary (and a checkpoint) holds them like any other:
``PAD`` fills a batch after each sequence's end, ``START`` and ``END`` open and close a decoded
sequence. :func:`pad_batch` stacks sequences of different lengths and returns their lengths on the
CPU, as ``pack_padded_sequence`` wants them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["CLASSIC_IDX2CHAR", "PAD", "START", "END", "CharVocab", "one_hot", "pad_batch"]

# The hello -> ohlol lesson's vocabulary: x = [[2, 0, 1, 1, 3]], y = [3, 2, 1, 3, 1].
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

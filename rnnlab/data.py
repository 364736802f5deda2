"""Deprecated path: the data now lives with what uses it (see :mod:`rnnlab._moved`)."""

from rnnlab._moved import moved

__getattr__, __dir__ = moved(
    "rnnlab.data",
    {
        "rnnlab.vocab": ["CLASSIC_IDX2CHAR", "CharVocab", "one_hot", "PAD", "START", "END", "pad_batch"],
        "rnnlab.labelling": ["PairDataset", "validate_pair"],
        "rnnlab.lm": ["zen_of_python", "python_docs_text", "split_text", "repeated_lines", "stream_batches"],
        "rnnlab.classify": ["SURNAME_LOCALES", "FAKER_VERSION", "fold_name", "surnames", "split_labelled"],
        "rnnlab.seq2seq": ["date_pairs", "reversal_pairs"],
    },
)

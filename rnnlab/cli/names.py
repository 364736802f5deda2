"""``python -m rnnlab names train`` trains notebook 10's surname classifier; ``names predict`` names the
likely languages of surnames."""

from __future__ import annotations

import argparse

from rnnlab.classify import (
    ClassifyConfig,
    NameClassifier,
    char_count_baseline,
    majority_baseline,
    predict_names,
    split_labelled,
    surnames,
    train_classifier,
)
from rnnlab.cli.common import (
    check_outputs,
    config_from,
    int_in,
    load,
    model_options,
    positive_int,
    run_options,
    task_parser,
    train_run,
    warn_worse_than_uniform,
)
from rnnlab.loop import get_device, set_seed
from rnnlab.vocab import PAD, CharVocab


def register(sub) -> None:
    """``python -m rnnlab names train | predict`` (notebook 10)."""
    names_sub = task_parser(
        sub,
        "names",
        help="surname -> language classifier (notebook 10)",
        description="Train or use the bidirectional GRU surname classifier of notebook 10.",
    )
    tr = names_sub.add_parser("train", help="train on the faker package's surname lists")
    tr.add_argument(
        "--readout",
        choices=("final", "mean"),
        default="final",
        help="final states of both directions (default) or the masked mean of the outputs",
    )
    model_options(tr, hidden_size=128, embedding_dim=32)
    tr.add_argument("--epochs", type=int_in(1, 1000), default=ClassifyConfig.epochs, help="1 to 1000")
    run_options(tr, ClassifyConfig)
    tr.set_defaults(handler=_names_train, parser=tr)
    pr = names_sub.add_parser("predict", help="the likely languages of surnames")
    pr.add_argument("--checkpoint", required=True, metavar="PATH")
    pr.add_argument("--top-k", type=positive_int, default=3)
    pr.add_argument("name", nargs="+", help="surnames (accents and capitals are fine)")
    pr.set_defaults(handler=_names_predict, parser=pr)


def _names_train(ap: argparse.ArgumentParser, args) -> int:
    check_outputs(ap, args)
    groups = surnames()
    train, val = split_labelled(groups)
    labels = list(groups)
    vocab = CharVocab.from_strings(*(n for n, _ in train + val), specials=(PAD,))
    set_seed(args.seed)
    model = NameClassifier(
        len(vocab),
        len(labels),
        args.embedding_dim,
        args.hidden_size,
        args.num_layers,
        readout=args.readout,
        impl=args.impl,
    ).to(get_device())
    config = config_from(ClassifyConfig, args)
    base = {
        "majority": majority_baseline(train, val),
        "char counts": char_count_baseline(train, val),
        "char pairs": char_count_baseline(train, val, 2),
        "char trigrams": char_count_baseline(train, val, 3),
    }
    history = train_run(
        args, model, vocab, lambda: train_classifier(model, train, val, vocab, config), labels=labels, baselines=base
    )
    if isinstance(history, int):
        return history
    print(
        f"validation accuracy {history.val_acc[-1]:.1%} after {args.epochs} epochs; baselines: "
        + ", ".join(f"{k} {v:.1%}" for k, v in base.items())
    )
    warn_worse_than_uniform("validation accuracy", history.val_acc[-1], 1 / len(labels), higher_is_better=True)
    return 0


def _names_predict(ap: argparse.ArgumentParser, args) -> int:
    model, vocab, config = load(ap, args.checkpoint, "names")
    try:
        ranked = predict_names(model, args.name, vocab, config["labels"], args.top_k)
    except ValueError as e:
        ap.error(str(e))
    for name, top in zip(args.name, ranked):
        print(f"{name}: " + ", ".join(f"{lang} {p:.0%}" for lang, p in top))
    return 0

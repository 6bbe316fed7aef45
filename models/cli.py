"""``funflix train`` and ``funflix evaluate``: the two LightFM arms and their offline comparison."""

from __future__ import annotations

import json
from pathlib import Path


def _data_args(parser) -> None:
    parser.add_argument("--dataset", default="ml-latest-small", help="GroupLens release name (default: %(default)s)")
    parser.add_argument("--path", type=Path, help="explicit folder with ratings.csv and movies.csv")
    parser.add_argument("--models-dir", type=Path, help="artifact root (default: $FUNFLIX_HOME/models)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train the control and challenger LightFM models",
                                  description="Split MovieLens, train both arms, save versioned artifacts.")
    _data_args(train)
    train.add_argument("--arms", nargs="+", default=["control", "challenger"], help="arms to train (default: both)")
    train.add_argument("--threshold", type=float, default=4.0, help="rating counted as a positive (default: %(default)s)")
    train.add_argument("--quick", action="store_true", help="small fast models (tests, smoke runs)")
    train.add_argument("--seed", type=int, help="override every arm's random_state")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="compare the trained arms offline on the held-out period",
                                     description="Precision, recall, MAP, nDCG at k, AUC, coverage and novelty "
                                                 "with bootstrap intervals over users; writes a plot.")
    _data_args(evaluate)
    evaluate.add_argument("-k", type=int, default=10, help="list length (default: %(default)s)")
    evaluate.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    evaluate.add_argument("--plot", type=Path, help="plot path (default: $FUNFLIX_HOME/reports/offline_comparison.png)")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args) -> int:
    from dataclasses import replace

    from funflix.models.config import ARMS
    from funflix.models.pipeline import prepare, train_and_save

    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {sorted(ARMS)}")
    configs = [ARMS[name].quick() if args.quick else ARMS[name] for name in args.arms]
    if args.seed is not None:
        configs = [replace(c, random_state=args.seed) for c in configs]
    prepared = prepare(args.dataset, args.path, args.threshold)
    saved = train_and_save(prepared, configs, args.models_dir)
    if args.json:
        print(json.dumps(saved, indent=2, default=str))
    else:
        for name, meta in saved.items():
            print(f"{name}: {meta['version']}  P@10 {meta['metrics']['precision@10']:.4f}  -> {meta['path']}")
    return 0


def run_evaluate(args) -> int:
    from funflix import paths
    from funflix.models.pipeline import evaluate_arms
    from funflix.models.report import format_table, plot_comparison

    if args.k < 1 or args.bootstrap < 10:
        raise ValueError("-k must be >= 1 and --bootstrap >= 10")
    report = evaluate_arms(args.models_dir, k=args.k, n_boot=args.bootstrap, path=args.path)
    report["plot"] = str(plot_comparison(report, args.plot or paths.sub("reports") / "offline_comparison.png"))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
        print(f"plot: {report['plot']}")
    return 0

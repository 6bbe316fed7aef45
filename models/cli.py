"""``funflix train``, ``funflix evaluate`` and ``funflix recommend``: the two LightFM arms, their
offline comparison, and recommendations from an artifact (one user, or every user in a batch)."""

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
                                  description="Split MovieLens, train both arms, save versioned artifacts, log each "
                                              "arm as an MLflow run (MLFLOW_TRACKING_URI, else $FUNFLIX_HOME/mlruns).")
    _data_args(train)
    train.add_argument("--arms", nargs="+", default=["control", "challenger"], help="arms to train (default: both)")
    train.add_argument("--threshold", type=float, default=4.0, help="rating counted as a positive (default: %(default)s)")
    train.add_argument("--quick", action="store_true", help="small fast models (tests, smoke runs)")
    train.add_argument("--seed", type=int, help="override every arm's random_state")
    train.add_argument("--publish", action="store_true",
                       help="point each arm's LATEST at the new version (default: only for an arm that has none yet)")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="compare the trained arms offline on the held-out period",
                                     description="Precision, recall, MAP, nDCG at k, AUC, coverage and novelty "
                                                 "with bootstrap intervals over users; writes a plot.")
    _data_args(evaluate)
    evaluate.add_argument("-k", type=int, default=10, help="list length (default: %(default)s)")
    evaluate.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    evaluate.add_argument("--plot", type=Path, help="plot path (default: $FUNFLIX_HOME/reports/offline_comparison.png)")
    evaluate.set_defaults(func=run_evaluate)

    recommend = subparsers.add_parser(
        "recommend", help="top-k recommendations from a trained artifact: one user, or every user to a file",
        description="Top-k unseen items from an arm's artifact. --all writes every user's list (or those in "
                    "--users) to a Parquet or CSV file, one row per item: user_id, rank, movie_id, score, strategy.")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="every user in the artifact (or in --users), to --out")
    who.add_argument("--user", type=int, help="one user's list, printed")
    recommend.add_argument("--out", type=Path, help="output file for --all: .parquet or .csv")
    recommend.add_argument("--users", type=Path, help="with --all: file of user ids, one per line (unknown users "
                                                      "get the popularity list)")
    recommend.add_argument("--arm", default="control", help="artifact folder (default: %(default)s)")
    recommend.add_argument("--version", default="latest", help="artifact version (default: the arm's LATEST)")
    recommend.add_argument("-k", "--k", type=int, default=10, help="items per user (default: %(default)s)")
    recommend.add_argument("--chunk-size", type=int, help="users scored at once (default: ~256 MB of working memory)")
    recommend.add_argument("--models-dir", type=Path, help="artifact root (default: $FUNFLIX_HOME/models)")
    recommend.add_argument("--json", action="store_true", help="print one JSON document")
    recommend.set_defaults(func=run_recommend)


def run_train(args) -> int:
    from dataclasses import replace

    from funflix.cli import UsageError
    from funflix.models.config import ARMS
    from funflix.models.pipeline import prepare, train_and_save
    from funflix.models.tracking import TrackingError, log_training, training_experiment

    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {sorted(ARMS)}")
    configs = [ARMS[name].quick() if args.quick else ARMS[name] for name in args.arms]
    if args.seed is not None:
        configs = [replace(c, random_state=args.seed) for c in configs]
    try:
        client, experiment_id = training_experiment()  # an unusable tracking store fails before the training
        prepared = prepare(args.dataset, args.path, args.threshold)
        saved = train_and_save(prepared, configs, args.models_dir, publish=True if args.publish else None)
        for name, tracking in log_training(saved, client, experiment_id).items():
            saved[name]["tracking"] = tracking
    except TrackingError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(saved, indent=2, default=str))
    else:
        for name, meta in saved.items():
            state = ("published (LATEST)" if meta["published"] else
                     f"not published: LATEST stays {meta['latest']} (--publish moves it)")
            print(f"{name}: {meta['version']}  P@10 {meta['metrics']['precision@10']:.4f}  {state}  -> {meta['path']}")
            print(f"  MLflow run {meta['tracking']['run_id']} at {meta['tracking']['uri']}")
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


def run_recommend(args) -> int:
    from funflix.models.artifacts import load_recommender
    from funflix.models.batch import output_format, read_user_ids, write_recommendations

    if args.user is not None and (args.out or args.users):
        raise ValueError("--out and --users go with --all, not --user")
    if args.all and args.out is None:
        raise ValueError("--all needs --out FILE (.parquet or .csv)")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    if args.all:
        output_format(args.out)  # fail on a bad name before loading anything
        users = read_user_ids(args.users) if args.users else None
    recommender = load_recommender(args.arm, args.version, args.models_dir)
    if args.user is not None:
        result = recommender.recommend(args.user, args.k)
        summary = {"arm": recommender.name, "version": recommender.version, "user_id": args.user,
                   "strategy": result.strategy, "items": result.items, "scores": result.scores}
        lines = [f"{recommender.name} {recommender.version}, user {args.user} ({result.strategy}):"]
        lines += [f"{rank:>3}. {item:>7}  {score:.4f}" for rank, (item, score)
                  in enumerate(zip(result.items, result.scores), start=1)]
    else:
        summary = write_recommendations(recommender, args.out, args.k, users, args.chunk_size)
        lines = [f"{summary['rows']:,} rows for {summary['users']:,} users ({summary['cold_start_users']:,} cold start) "
                 f"from {summary['arm']} {summary['version']} in {summary['seconds']:.1f} s -> {summary['path']}"]
    print(json.dumps(summary, indent=2) if args.json else "\n".join(lines))
    return 0

"""``funflix data``: fetch, validate and summarise a MovieLens release (or write a synthetic one)."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="fetch, validate and summarise MovieLens data",
                                   description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("--dataset", default="ml-latest-small", help="GroupLens release name (default: %(default)s)")
    parser.add_argument("--path", type=Path, help="explicit folder with ratings.csv and movies.csv")
    parser.add_argument("--threshold", type=float, default=4.0, help="rating counted as a positive (default: %(default)s)")
    parser.add_argument("--synthetic", type=Path, metavar="FOLDER", help="write MovieLens-shaped synthetic data here instead")
    parser.add_argument("--users", type=int, default=162_541, help="synthetic users (default: ML-25M's %(default)s)")
    parser.add_argument("--items", type=int, default=62_423, help="synthetic movies (default: %(default)s)")
    parser.add_argument("--ratings", type=int, default=25_000_095, help="synthetic ratings (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args) -> int:
    from funflix.data.movielens import load_movies, load_ratings
    from funflix.data.sources import resolve_dataset
    from funflix.data.split import split_interactions
    from funflix.data.synthetic import write_synthetic

    if args.synthetic:
        folder = write_synthetic(args.synthetic, n_users=args.users, n_items=args.items, n_ratings=args.ratings, seed=args.seed)
        source = str(folder)
    else:
        folder = args.path or resolve_dataset(args.dataset)
        source = str(folder)
    ratings, movies = load_ratings(folder), load_movies(folder)
    summary = {
        "source": source, "users": int(ratings["userId"].nunique()), "movies": len(movies),
        "ratings": len(ratings), "rated_movies": int(ratings["movieId"].nunique()),
        "split": split_interactions(ratings, args.threshold).summary(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"MovieLens from {source}: {summary['users']:,} users, {summary['movies']:,} movies, {summary['ratings']:,} ratings")
        for key, value in summary["split"].items():
            print(f"  {key:>20}: {value:,}" if isinstance(value, int) else f"  {key:>20}: {value}")
    return 0

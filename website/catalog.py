"""The movie catalogue the site shows: titles, years, genres, average ratings, users, popularity.

Built once per app from MovieLens (``funflix.data.movielens``) and kept read-only in memory.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An|L'|Le|La|Les|Il|Der|Die|Das|El)$")

#: How many ratings a movie needs before its average counts for "top rated" lists.
MIN_RATINGS_FOR_AVERAGE = 10


@dataclass(frozen=True)
class Movie:
    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    mean_rating: float | None
    n_ratings: int

    @property
    def label(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


@dataclass(frozen=True)
class Member:
    """A MovieLens user one can sign in as."""

    id: int
    n_ratings: int
    favourite_genres: tuple[str, ...]


@dataclass
class Catalog:
    movies: dict[int, Movie]
    members: dict[int, Member]
    popular: list[int] = field(default_factory=list)
    genres: dict[str, list[int]] = field(default_factory=dict)
    _top_rated: list[int] = field(default_factory=list, repr=False)

    @classmethod
    def from_frames(cls, movies: pd.DataFrame, ratings: pd.DataFrame) -> "Catalog":
        """From ``load_movies()`` (movieId, title, genres list, year) and ``load_ratings()`` frames."""
        stats = ratings.groupby("movieId")["rating"].agg(["mean", "size"])
        mean = stats["mean"].to_dict()
        size = stats["size"].to_dict()
        catalog = {}
        for row in movies.itertuples(index=False):
            movie_id = int(row.movieId)
            year = None if pd.isna(row.year) else int(row.year)
            catalog[movie_id] = Movie(movie_id, display_title(str(row.title)), year, tuple(row.genres),
                                      round(float(mean[movie_id]), 2) if movie_id in mean else None,
                                      int(size.get(movie_id, 0)))
        # Popularity: number of ratings, ties broken by average rating then id (stable, deterministic).
        popular = sorted(catalog, key=lambda m: (-catalog[m].n_ratings, -(catalog[m].mean_rating or 0), m))
        genres: dict[str, list[int]] = {}
        for movie_id in popular:
            for genre in catalog[movie_id].genres:
                genres.setdefault(genre, []).append(movie_id)
        liked = ratings[ratings["rating"] >= 4.0]
        members = {}
        counts = ratings.groupby("userId").size().to_dict()
        liked_by_user = liked.groupby("userId")["movieId"].apply(list).to_dict()
        for user_id, n in counts.items():
            tally = Counter(g for m in liked_by_user.get(user_id, []) if m in catalog for g in catalog[m].genres)
            members[int(user_id)] = Member(int(user_id), int(n), tuple(g for g, _ in tally.most_common(3)))
        return cls(movies=catalog, members=dict(sorted(members.items())), popular=popular,
                   genres=dict(sorted(genres.items())))

    def get(self, movie_id: int) -> Movie | None:
        return self.movies.get(movie_id)

    def many(self, movie_ids) -> list[Movie]:
        """The known movies among ``movie_ids``, in order."""
        return [self.movies[m] for m in movie_ids if m in self.movies]

    def popular_items(self, k: int, exclude=()) -> list[int]:
        excluded = set(exclude)
        found = []
        for movie_id in self.popular:
            if movie_id not in excluded:
                found.append(movie_id)
                if len(found) == k:
                    break
        return found

    def top_rated(self, k: int) -> list[int]:
        """The best average ratings among movies with enough ratings (computed once)."""
        if not self._top_rated:
            rated = [m for m in self.popular if self.movies[m].n_ratings >= MIN_RATINGS_FOR_AVERAGE]
            self._top_rated = sorted(rated, key=lambda m: -(self.movies[m].mean_rating or 0))[:100]
        return self._top_rated[:k]

    def search(self, query: str, limit: int = 60) -> list[Movie]:
        """Movies whose title contains every word of ``query`` (case-insensitive), popular first."""
        words = query.casefold().split()
        if not words:
            return []
        hits = []
        for movie_id in self.popular:
            title = self.movies[movie_id].label.casefold()
            if all(w in title for w in words):
                hits.append(self.movies[movie_id])
                if len(hits) >= limit:
                    break
        return hits

    def similar_by_genre(self, movie_id: int, k: int) -> list[int]:
        """Movies sharing the most genres with ``movie_id`` (Jaccard), popular first on ties."""
        target = set(self.movies[movie_id].genres)
        if not target:
            return self.popular_items(k, exclude=[movie_id])
        scored = []
        for rank, other in enumerate(self.popular[:3000]):
            if other == movie_id:
                continue
            genres = set(self.movies[other].genres)
            overlap = len(target & genres) / len(target | genres) if genres else 0.0
            if overlap:
                scored.append((-overlap, rank, other))
        return [m for _, _, m in sorted(scored)[:k]]

    def find_members(self, query: str, limit: int = 48, offset: int = 0) -> tuple[list[Member], int]:
        """Members matching ``query`` (an id prefix or a favourite genre), and how many matched."""
        query = query.strip().casefold()
        if not query:
            matches = list(self.members.values())
        elif query.isdigit():
            matches = [m for m in self.members.values() if str(m.id).startswith(query)]
        else:
            matches = [m for m in self.members.values() if any(query in g.casefold() for g in m.favourite_genres)]
        return matches[offset: offset + limit], len(matches)


def display_title(title: str) -> str:
    """MovieLens files titles as ``"Matrix, The"``; show ``"The Matrix"``."""
    match = _TRAILING_ARTICLE.match(title)
    if not match:
        return title
    article = match["article"]
    return f"{article}{match['rest']}" if article.endswith("'") else f"{article} {match['rest']}"


def stars(mean_rating: float | None) -> str:
    """A five-star text rendering such as ``"★★★★☆"`` (rounded to whole stars)."""
    if mean_rating is None or math.isnan(mean_rating):
        return ""
    full = int(round(mean_rating))
    return "★" * full + "☆" * (5 - full)


def load_catalog(movielens_path: str | None = None, dataset: str = "ml-latest-small") -> Catalog:
    from funflix.data.movielens import load_movies, load_ratings

    return Catalog.from_frames(load_movies(movielens_path, dataset), load_ratings(movielens_path, dataset))

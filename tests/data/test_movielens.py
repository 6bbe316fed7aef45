import pytest

from funflix.data.movielens import DataFormatError, load_movies, load_ratings, parse_year, read_movies, read_ratings


def test_reads_the_real_release_with_crlf_endings(movielens_dir):
    assert b"\r\n" in (movielens_dir / "ratings.csv").read_bytes()[:200]
    ratings, movies = load_ratings(movielens_dir), load_movies(movielens_dir)
    assert (len(ratings), ratings["userId"].nunique(), len(movies)) == (100_836, 610, 9_742)
    assert ratings["rating"].between(0.5, 5.0).all()
    heat = movies.set_index("movieId").loc[6]
    assert (heat["title"], heat["year"], heat["genres"]) == ("Heat", 1995, ["Action", "Crime", "Thriller"])


@pytest.mark.parametrize(
    ("title", "year"),
    [("Toy Story (1995)", 1995), ("Babylon 5", None), ("Fawlty Towers (1975-1979)", 1975), ("Nocturnal Animals (2016) ", 2016)],
)
def test_parse_year(title, year):
    assert parse_year(title) == year


RATINGS_HEADER = "userId,movieId,rating,timestamp\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("userId,movieId,score,timestamp\n1,2,3.0,4\n", ":1: missing column(s) ['rating']"),
        (RATINGS_HEADER + "1,2,3.0,4\nx,2,3.0,4\n", ":3: column 'userId' must be an integer, got 'x'"),
        (RATINGS_HEADER + "1,2,3.0,4\n1,2,7.5,4\n", ":3: rating 7.5 is outside [0.5, 5.0]"),
        (RATINGS_HEADER + "1,2,3.0,4\n1,2\n", ":3: column 'rating' must be a number, got '<empty: truncated row?>'"),
        (RATINGS_HEADER + "1,2.5,3.0,4\n", ":2: column 'movieId' must be an integer, got '2.5'"),
        (RATINGS_HEADER + "-1,2,3.0,4\n", ":2: column 'userId' must be a non-negative id"),
        ("", ":1: file is empty"),
    ],
)
def test_bad_ratings_name_file_line_and_problem(tmp_path, body, message):
    path = tmp_path / "ratings.csv"
    path.write_text(body)
    with pytest.raises(DataFormatError) as error:
        read_ratings(path)
    assert str(error.value).startswith(f"{path}{message}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("movieId,title,genres\n1,A (1990),Drama\n1,B (1991),Drama\n", ":3: movieId 1 appears twice"),
        ("movieId,title,genres\n1,,Drama\n", ":2: empty title (truncated row?)"),
        ("movieId,title\n1,A (1990)\n", ":1: missing column(s) ['genres']"),
    ],
)
def test_bad_movies(tmp_path, body, message):
    path = tmp_path / "movies.csv"
    path.write_text(body)
    with pytest.raises(DataFormatError) as error:
        read_movies(path)
    assert str(error.value).startswith(f"{path}{message}")


def test_no_genres_listed_is_an_empty_list(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text('movieId,title,genres\r\n7,"Odd, The (2001)",(no genres listed)\r\n')
    movies = read_movies(path)
    assert movies.loc[0, "genres"] == [] and movies.loc[0, "title"] == "Odd, The" and movies.loc[0, "year"] == 2001


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_ratings(tmp_path / "ratings.csv")

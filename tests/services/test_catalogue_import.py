"""importers.catalogue: the catalogue importer, on the sample, hand-made files and broken files."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.importers import catalogue as catalogue_import
from recommender.importers.problems import MAX_PROBLEMS
from recommender.models import Genre, ImportRun, Movie, User, movie_genres
from recommender.services.errors import ImportRefused
from tests.factories import make_movie

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "catalogue"
INTEGER_TITLES = {"1776", "1941", "1408", "2012", "2046", "21", "300", "9", "54"}
BOM = b"\xef\xbb\xbf"


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of the catalogue tables, timestamps and ids included."""
    return {
        "movies": [tuple(row) for row in db.session.execute(sa.select(Movie.__table__))],
        "genres": [tuple(row) for row in db.session.execute(sa.select(Genre.__table__))],
        "links": sorted(tuple(row) for row in db.session.execute(sa.select(movie_genres))),
    }


def movie(title: str, year: int | None) -> Movie:
    return db.session.scalars(sa.select(Movie).filter_by(title=title, year=year)).one()


def years_of(title: str) -> list[int | None]:
    return sorted(db.session.scalars(sa.select(Movie.year).where(Movie.title == title)))


def last_run() -> ImportRun:
    db.session.expire_all()
    return db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()


def genre_names(title: str, year: int | None) -> list[str]:
    return [genre.name for genre in movie(title, year).genres]


# --- the sample catalogue (imported three times in all: it is the slow part) --------------------


def test_sample_import_copes_with_the_dirt_and_is_idempotent(app, tmp_path):
    raw = json.loads(catalogue_import.SAMPLE_CATALOGUE_PATH.read_text(encoding="utf-8"))

    report = catalogue_import.import_sample_catalogue(db.session)

    assert report.status == "succeeded"
    assert report.inserted + len(report.skipped) == len(raw) == 3201
    # The sample has one film without a title and no (title, year) duplicates once the
    # misread years are fixed: its 24 shared titles are all remakes.
    assert report.skipped == [{"location": "record 3054", "reason": "no title"}]
    # Ten "Major Genre" names once in the vocabulary, and Sci-Fi, Fantasy and Children from
    # the creative types.
    assert (report.updated, report.unchanged, report.genres_created) == (0, 0, 13)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Movie)) == 3200
    assert set(db.session.scalars(sa.select(Movie.title))) >= INTEGER_TITLES
    assert years_of("King Kong") == [1976, 2005]
    assert years_of("King Kong (1933)") == [1933]
    assert years_of("Ben-Hur") == [1925, 1959]
    assert years_of("Gone with the Wind") == [1939]
    assert movie("Intolerance", 1916).release_date == dt.date(1916, 9, 5)
    assert db.session.scalar(sa.select(sa.func.max(Movie.year))) == 2011
    assert genre_names("The Land Girls", 1998) == []
    assert genre_names("First Love, Last Rites", 1998) == ["Drama"]

    date_fixes = [item for item in report.corrected if "Release Date" in item["message"]]
    title_fixes = [item for item in report.corrected if item["message"].startswith("Title ")]
    assert (len(date_fixes), len(title_fixes), len(report.corrected)) == (22, 9, 31)
    assert {
        "location": "record 468",
        "message": "Release Date 'Sep 05 2016' is after 2011: read as 1916-09-05",
    } in report.corrected
    assert {
        "location": "record 22",
        "message": "Title 1776 is a number: imported as the text '1776'",
    } in report.corrected

    run = last_run()
    assert (run.id, run.kind, run.filename, run.status) == (
        report.run_id,
        "catalogue",
        "movies.json",
        "succeeded",
    )
    assert run.counts == {
        "inserted": 3200,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
        "corrected": 31,
        "repaired": 18,
        "genres_created": 13,
    }
    assert run.errors == [] and run.finished_at is not None
    assert len(run.notes) == 32 + 18
    assert {"kind": "skipped", "location": "record 3054", "reason": "no title"} in run.notes
    with_dvd_sales = sum(1 for item in raw if item["US DVD Sales"] is not None)
    stored_dvd_sales = sa.select(sa.func.count(Movie.us_dvd_sales))
    assert db.session.scalar(stored_dvd_sales) == with_dvd_sales == 564
    assert report.summary() == (
        "Imported movies.json: 3,200 inserted, 0 updated, 0 unchanged, 1 skipped, 31 corrected.\n"
        "repaired text: 18 titles, e.g. 'AstÈrix aux Jeux Olympiques' -> "
        "'Astérix aux Jeux Olympiques', \"De battre mon coeur s'est arrÍtÈ\" -> "
        "\"De battre mon coeur s'est arrêté\", 'Les BronzÈs 3: amis pour la vie' -> "
        "'Les Bronzés 3: amis pour la vie'"
    )
    assert json.loads(json.dumps(report.to_dict()))["inserted"] == 3200

    # Second run: nothing changes, down to the timestamps.
    before = dump()
    again = catalogue_import.import_sample_catalogue(db.session)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3200)
    assert again.genres_created == 0
    assert dump() == before

    # One rating edited: exactly that movie is updated, every other row stays as it was.
    assert raw[0]["Title"] == "The Land Girls" and raw[0]["IMDB Rating"] == 6.1
    raw[0]["IMDB Rating"] = 6.4
    edited = tmp_path / "movies-edited.json"
    edited.write_text(json.dumps(raw), encoding="utf-8")
    land_girls = movie("The Land Girls", 1998)
    land_girls_id, created_at, updated_at = (
        land_girls.id,
        land_girls.created_at,
        land_girls.updated_at,
    )

    third = catalogue_import.import_catalogue(
        db.session, edited, latest_year=catalogue_import.SAMPLE_LATEST_YEAR
    )

    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 3199)
    after = dump()
    changed = [row for row in after["movies"] if row not in before["movies"]]
    assert [row[0] for row in changed] == [land_girls_id]
    assert after["links"] == before["links"] and after["genres"] == before["genres"]
    db.session.expire_all()
    land_girls = movie("The Land Girls", 1998)
    assert land_girls.imdb_rating == 6.4 and land_girls.created_at == created_at
    assert land_girls.updated_at > updated_at


# --- hand-made JSON and CSV ---------------------------------------------------------------------


def test_json_file_dirt_is_tolerated_and_reported(app):
    report = catalogue_import.import_catalogue(db.session, FIXTURES / "good.json", latest_year=2011)

    assert (report.inserted, report.updated, report.unchanged) == (4, 0, 0)
    assert report.skipped == [
        {"location": "record 3", "reason": "no title"},
        {"location": "record 4", "reason": "duplicate of record 1", "title": "Alien"},
    ]
    assert report.corrected == [
        {"location": "record 2", "message": "Title 1776 is a number: imported as the text '1776'"},
        {
            "location": "record 5",
            "message": "Release Date 'Mar 06 2027' is after 2011: read as 1927-03-06",
        },
    ]
    alien = movie("Alien", 1979)  # surrounding whitespace stripped
    assert (alien.release_date, alien.runtime_min, alien.mpaa) == (dt.date(1979, 5, 25), 117, "R")
    assert (alien.imdb_rating, alien.imdb_votes, alien.rt_rating) == (8.5, 300000, 97)
    assert (alien.budget, alien.us_gross, alien.worldwide_gross) == (11000000, 80931801, 104931801)
    assert (alien.director, alien.creative_type, alien.distributor) == (
        "Ridley Scott",
        "Science Fiction",
        None,
    )
    assert movie("1776", 1972).imdb_rating == 7.0
    metropolis = movie("Metropolis", 1927)
    assert metropolis.genres == [] and metropolis.source_material == "Based on Book/Short Story"
    undated = movie("Undated", None)
    # "drama" is the canonical Drama; Alien's creative type adds Sci-Fi to its Horror.
    assert undated.release_date is None and genre_names("Undated", None) == ["Drama"]
    assert genre_names("Alien", 1979) == ["Horror", "Sci-Fi"]


def test_reimporting_matches_movies_without_a_year(app):
    catalogue_import.import_catalogue(db.session, FIXTURES / "good.json", latest_year=2011)
    before = dump()

    report = catalogue_import.import_catalogue(db.session, FIXTURES / "good.json", latest_year=2011)

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 4)
    assert dump() == before
    assert years_of("Undated") == [None]


def test_changed_values_update_only_that_movie_and_sync_its_genres(app, tmp_path):
    catalogue_import.import_catalogue(db.session, FIXTURES / "good.json", latest_year=2011)
    before = {row[0]: row for row in dump()["movies"]}
    records = json.loads((FIXTURES / "good.json").read_text())
    records[0]["Major Genre"] = "Thriller/Suspense"
    records[0]["Director"] = None  # a value gone from the file is cleared
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(records))

    report = catalogue_import.import_catalogue(db.session, edited, latest_year=2011)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 3)
    assert report.genres_created == 1
    db.session.expire_all()
    alien = movie("Alien", 1979)
    # The alias is stored as its canonical genre; the creative type still gives Sci-Fi.
    assert genre_names("Alien", 1979) == ["Sci-Fi", "Thriller"]
    assert alien.director is None and alien.imdb_rating == 8.5
    assert alien.updated_at > before[alien.id][-1]
    unchanged = {row[0]: row for row in dump()["movies"] if row[0] != alien.id}
    assert unchanged == {key: row for key, row in before.items() if key != alien.id}


def test_genre_only_change_counts_as_an_update(app, tmp_path):
    catalogue_import.import_catalogue(db.session, FIXTURES / "good.json", latest_year=2011)
    records = json.loads((FIXTURES / "good.json").read_text())
    records[1]["Major Genre"] = None
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(records))

    report = catalogue_import.import_catalogue(db.session, edited, latest_year=2011)

    assert (report.updated, report.unchanged) == (1, 3)
    db.session.expire_all()
    assert genre_names("1776", 1972) == []


def test_csv_file_imports_with_split_genres(app):
    report = catalogue_import.import_catalogue(db.session, FIXTURES / "good.csv", latest_year=2011)

    assert (report.inserted, report.skipped) == (6, [])
    assert report.corrected == [
        {
            "location": "line 8",
            "message": "release_date 'Dec 15 2039' is after 2011: read as 1939-12-15",
        }
    ]
    assert years_of("Titanic") == [1953, 1997]
    assert genre_names("Titanic", 1997) == ["Drama", "Romance"]
    titanic = movie("Titanic", 1997)
    assert (titanic.release_date, titanic.worldwide_gross, titanic.rt_rating) == (
        dt.date(1997, 12, 19),
        1842879955,
        82,
    )
    assert movie("Titanic", 1953).release_date == dt.date(1953, 4, 15)
    # " drama" is stripped and matches the "Drama" created two lines earlier.
    assert genre_names("Crouching Tiger, Hidden Dragon", 2000) == ["Action", "Adventure", "Drama"]
    assert movie("No Date Known", None).genres == []
    assert movie('A "Quoted" Title', 1999).imdb_rating is None
    assert movie("Gone with the Wind", 1939).runtime_min == 222
    assert sorted(db.session.scalars(sa.select(Genre.name))) == [
        "Action",
        "Adventure",
        "Comedy",
        "Drama",
        "Romance",
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_csv_with_bom_is_the_same_file(app, tmp_path, newline):
    content = (FIXTURES / "good.csv").read_bytes().replace(b"\n", newline)
    path = tmp_path / "bom.csv"
    path.write_bytes(BOM + content)

    report = catalogue_import.import_catalogue(db.session, path, latest_year=2011)

    assert (report.inserted, report.skipped, len(report.corrected)) == (6, [], 1)
    assert report.corrected[0]["location"] == "line 8"
    assert genre_names("Titanic", 1997) == ["Drama", "Romance"]


def test_csv_duplicates_and_missing_titles_are_skipped_by_line(app, tmp_path):
    path = tmp_path / "dups.csv"
    path.write_text('title,year\nA,2000\n"two\nlines",2001\n,2002\nA,2000\n  ,2003\n')

    report = catalogue_import.import_catalogue(db.session, path)

    assert report.inserted == 2
    assert report.skipped == [
        {"location": "line 5", "reason": "no title"},
        {"location": "line 6", "reason": "duplicate of line 2", "title": "A"},
        {"location": "line 7", "reason": "no title"},
    ]


def test_a_stream_with_an_explicit_filename_and_format(app):
    data = (FIXTURES / "good.csv").read_bytes()

    report = catalogue_import.import_catalogue(
        db.session, io.BytesIO(data), filename="upload.txt", fmt="csv", latest_year=2011
    )

    assert (report.filename, report.inserted) == ("upload.txt", 6)
    assert last_run().filename == "upload.txt"


def test_the_admin_is_recorded_on_the_run(app):
    admin = User(username="root", is_admin=True)
    db.session.add(admin)
    db.session.commit()

    report = catalogue_import.import_catalogue(
        db.session, FIXTURES / "good.json", admin_id=admin.id
    )

    assert last_run().admin_id == admin.id == db.session.get(ImportRun, report.run_id).admin_id


def test_progress_is_reported_once_per_batch(app):
    calls: list[tuple[int, int]] = []

    catalogue_import.import_catalogue(
        db.session, FIXTURES / "good.csv", progress=lambda *call: calls.append(call), batch_size=4
    )

    assert calls == [(4, 6), (6, 6)]


def test_the_current_year_is_the_default_latest_year(app, tmp_path):
    next_year = dt.date.today().year + 1
    path = tmp_path / "future.csv"
    path.write_text(f"title,release_date\nSoon,{next_year}-01-02\n")

    report = catalogue_import.import_catalogue(db.session, path)

    assert movie("Soon", next_year - 100).release_date == dt.date(next_year - 100, 1, 2)
    assert report.corrected[0]["location"] == "line 2"


# --- broken files: refused as a whole --------------------------------------------------------


def json_records(*records: Any) -> bytes:
    return json.dumps([{"Title": "Fine", "Release Date": "Jun 12 1998"}, *records]).encode()


def csv_rows(header: str, *rows: str) -> bytes:
    return "\n".join([header, "Fine,7.0", *rows, ""]).encode()


BROKEN = {
    # name: (filename, content, location, message fragment)
    "invalid json": (
        "movies.json",
        (FIXTURES / "invalid.json").read_bytes(),
        "line 3, column 42",
        "invalid JSON: Expecting property name",
    ),
    "top level object": ("movies.json", b'{"Title": "A"}', "file", "got an object"),
    "record not an object": ("movies.json", json_records(5), "record 2", "got a number"),
    "unknown key": (
        "movies.json",
        json_records({"Title": "A", "IMDB Ratng": 5}),
        "record 2",
        "unknown key 'IMDB Ratng' (did you mean 'IMDB Rating'?)",
    ),
    "rating not a number": (
        "movies.json",
        json_records({"Title": "A", "IMDB Rating": "abc"}),
        "record 2",
        "IMDB Rating must be a number from 0 to 10, got 'abc'",
    ),
    "rating NaN": (
        "movies.json",
        b'[{"Title": "A", "IMDB Rating": NaN}]',
        "record 1",
        "IMDB Rating must be a number from 0 to 10, got nan",
    ),
    "rating a boolean": (
        "movies.json",
        json_records({"Title": "A", "IMDB Votes": True}),
        "record 2",
        "IMDB Votes must be a whole number, 0 or more, got True",
    ),
    "runtime as words": (
        "movies.json",
        json_records({"Title": "A", "Running Time min": "two hours"}),
        "record 2",
        "Running Time min must be a whole number of minutes greater than 0, got 'two hours'",
    ),
    "negative budget": (
        "movies.json",
        json_records({"Title": "A", "Production Budget": -5}),
        "record 2",
        "Production Budget must be a whole number of dollars, 0 or more, got -5",
    ),
    "negative dvd sales": (
        "movies.json",
        json_records({"Title": "A", "US DVD Sales": -1}),
        "record 2",
        "US DVD Sales must be a whole number of dollars",
    ),
    "imdb above 10": (
        "movies.json",
        json_records({"Title": "A", "IMDB Rating": 10.5}),
        "record 2",
        "IMDB Rating must be a number from 0 to 10, got 10.5",
    ),
    "rt above 100": (
        "movies.json",
        json_records({"Title": "A", "Rotten Tomatoes Rating": 101}),
        "record 2",
        "Rotten Tomatoes Rating must be a whole number from 0 to 100, got 101",
    ),
    "zero runtime": (
        "movies.json",
        json_records({"Title": "A", "Running Time min": 0}),
        "record 2",
        "got 0",
    ),
    "unparseable date": (
        "movies.json",
        json_records({"Title": "A", "Release Date": "Jun 31 1998"}),
        "record 2",
        "Release Date must be a date like 'Jun 12 1998' or '1998-06-12', got 'Jun 31 1998'",
    ),
    "title a list": (
        "movies.json",
        json_records({"Title": ["A"]}),
        "record 2",
        "Title must be text of at most 300 characters, got ['A']",
    ),
    "genre a number": (
        "movies.json",
        json_records({"Title": "A", "Major Genre": 5}),
        "record 2",
        "Major Genre must be text of at most 60 characters, got 5",
    ),
    "empty json": ("movies.json", b" \n", "file", "the file is empty"),
    "empty json list": ("movies.json", b"[]", "file", "no movies in file"),
    "empty csv": ("movies.csv", b"", "file", "the file is empty"),
    "header only": ("movies.csv", b"title,year\r\n", "file", "no movies in file"),
    "invalid utf-8": (
        "movies.csv",
        b"title,imdb_rating\nFine,7\nCaf\xe9,6\n",
        "line 3",
        "invalid UTF-8: byte 0xe9 at byte offset 28",
    ),
    "invalid utf-8 after bom": (
        "movies.json",
        BOM + b'[\n{"Title": "\xff"}]',
        "line 2",
        "invalid UTF-8: byte 0xff at byte offset 16",
    ),
    "wrong field count": (
        "movies.csv",
        csv_rows("title,imdb_rating", "A,7.0,extra"),
        "line 3",
        "expected 2 fields, found 3",
    ),
    "unknown column": (
        "movies.csv",
        csv_rows("title,imdb_ratng"),
        "line 1",
        "unknown column 'imdb_ratng' (did you mean 'imdb_rating'?)",
    ),
    "duplicated column": (
        "movies.csv",
        b"title,year,Year\nA,2000,2000\n",
        "line 1",
        "duplicated column 'year'",
    ),
    "no title column": ("movies.csv", b"year\n2000\n", "line 1", "missing required column 'title'"),
    "bad rating after a multi-line cell": (
        "movies.csv",
        b'title,director,imdb_rating\nA,x,5\nB,"two\nlines",6\nC,y,abc\n',
        "line 5",
        "imdb_rating must be a number from 0 to 10, got 'abc'",
    ),
    "bad quoting": (
        "movies.csv",
        b'title,imdb_rating\nA,7\n"B"x,6\n',
        "line 3",
        "malformed CSV",
    ),
    "year and date disagree": (
        "movies.csv",
        b"title,year,release_date\nA,1998,1999-01-01\n",
        "line 2",
        "year 1998 does not match release_date 1999-01-01",
    ),
    "year too far ahead": (
        "movies.csv",
        b"title,year\nA,2500\n",
        "line 2",
        "the year 2500 is after 2011, even read as 2400",
    ),
    "year too early": (
        "movies.csv",
        b"title,year\nA,1066\n",
        "line 2",
        "year must be a year from 1870 to 9999, got '1066'",
    ),
    "date too early": (
        "movies.csv",
        b"title,release_date\nA,1500-01-01\n",
        "line 2",
        "the year 1500 is before 1870",
    ),
    "genre too long": (
        "movies.csv",
        f"title,genres\nA,Drama|{'x' * 61}\n".encode(),
        "line 2",
        "genres must be text of at most 60 characters, got 'xxxx",
    ),
    "json integer beyond python's digit limit": (
        "movies.json",
        b'[{"Title": "A", "IMDB Votes": ' + b"9" * 5000 + b"}]",
        "file",
        "invalid JSON: Exceeds the limit",
    ),
    "json nested beyond the recursion limit": (
        "movies.json",
        b"[" * 100_000,
        "file",
        "invalid JSON",
    ),
    "csv number beyond python's digit limit": (
        "movies.csv",
        b"title,budget\nA," + b"9" * 5000 + b"\n",
        "line 2",
        "budget must be a whole number of dollars, 0 or more, got '99999",
    ),
    "budget beyond bigint": (
        "movies.csv",
        b"title,budget\nA,10000000000000000000\n",
        "line 2",
        "budget must be a whole number of dollars",
    ),
    "unknown suffix": ("movies.txt", b"title\nA\n", "file", "unknown file type '.txt'"),
}


@pytest.mark.parametrize(
    ("filename", "content", "location", "fragment"), BROKEN.values(), ids=BROKEN
)
def test_broken_file_is_refused_and_nothing_is_written(
    app, tmp_path, filename, content, location, fragment
):
    make_movie("Existing", 1999, ("Drama",), imdb_rating=5.0)
    before = dump()
    path = tmp_path / filename
    path.write_bytes(content)

    with pytest.raises(ImportRefused) as refused:
        catalogue_import.import_catalogue(db.session, path, latest_year=2011)

    assert refused.value.message.startswith(f"{filename} was refused: ")
    matching = [d for d in refused.value.details if d["location"] == location]
    assert matching, refused.value.details
    assert any(fragment in d["message"] for d in matching), matching
    db.session.rollback()
    assert dump() == before
    run = last_run()
    assert (run.kind, run.filename, run.status) == ("catalogue", filename, "failed")
    assert run.errors == refused.value.details and run.finished_at is not None
    assert run.counts == {}


def test_every_problem_of_a_broken_csv_is_listed(app):
    with pytest.raises(ImportRefused) as refused:
        catalogue_import.import_catalogue(db.session, FIXTURES / "broken_values.csv")

    assert refused.value.message == "broken_values.csv was refused: 8 problems"
    assert refused.value.details == [
        {"location": "line 3", "message": "imdb_rating must be a number from 0 to 10, got 'abc'"},
        {
            "location": "line 4",
            "message": "runtime_min must be a whole number of minutes greater than 0, "
            "got 'two hours'",
        },
        {
            "location": "line 5",
            "message": "budget must be a whole number of dollars, 0 or more, got '-5'",
        },
        {"location": "line 6", "message": "imdb_rating must be a number from 0 to 10, got '11'"},
        {
            "location": "line 6",
            "message": "rt_rating must be a whole number from 0 to 100, got '101'",
        },
        {
            "location": "line 7",
            "message": "release_date must be a date like 'Jun 12 1998' or '1998-06-12', "
            "got 'Feb 30 2004'",
        },
        {
            "location": "line 7",
            "message": "runtime_min must be a whole number of minutes greater than 0, got '0'",
        },
        {"location": "line 8", "message": "year 1990 does not match release_date 1991-01-01"},
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Movie)) == 0
    assert last_run().status == "failed"


def test_every_problem_of_a_broken_json_is_listed(app):
    with pytest.raises(ImportRefused) as refused:
        catalogue_import.import_catalogue(db.session, FIXTURES / "broken_values.json")

    assert refused.value.details == [
        {"location": "record 2", "message": "IMDB Rating must be a number from 0 to 10, got 'abc'"},
        {
            "location": "record 3",
            "message": "Release Date must be a date like 'Jun 12 1998' or '1998-06-12', "
            "got '1998/06/12'",
        },
        {
            "location": "record 4",
            "message": "unknown key 'IMDB Ratng' (did you mean 'IMDB Rating'?)",
        },
        {"location": "record 5", "message": "expected a movie object, got a string"},
        {
            "location": "record 6",
            "message": "Title must be text of at most 300 characters, got ['A', 'List']",
        },
        {
            "location": "record 6",
            "message": "Rotten Tomatoes Rating must be a whole number from 0 to 100, got 12.5",
        },
    ]
    assert refused.value.message == "broken_values.json was refused: 6 problems"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Movie)) == 0


def test_problems_stop_being_collected_after_a_hundred(app, tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("title,imdb_rating\n" + "".join(f"M{n},bad\n" for n in range(150)))

    with pytest.raises(ImportRefused) as refused:
        catalogue_import.import_catalogue(db.session, path)

    assert len(refused.value.details) == MAX_PROBLEMS == 100
    assert refused.value.details[-1]["location"] == "line 101"
    assert refused.value.message == (
        "many.csv was refused: more than 100 problems (stopped after the first 100)"
    )
    assert len(last_run().errors) == 100


def test_a_crash_while_writing_rolls_everything_back_and_fails_the_run(app):
    make_movie("Existing", 1999)
    before = dump()

    def crash(done: int, total: int) -> None:
        raise RuntimeError(f"disk full after {done} of {total}")

    with pytest.raises(RuntimeError, match="disk full"):
        catalogue_import.import_catalogue(
            db.session, FIXTURES / "good.csv", progress=crash, batch_size=2
        )

    assert dump() == before
    run = last_run()
    assert run.status == "failed"
    assert run.errors == [{"location": "import", "message": "RuntimeError: disk full after 2 of 6"}]


def test_a_missing_file_fails_the_run(app, tmp_path):
    with pytest.raises(FileNotFoundError):
        catalogue_import.import_catalogue(db.session, tmp_path / "gone.json")

    run = last_run()
    assert (run.filename, run.status) == ("gone.json", "failed")
    assert run.errors[0]["message"].startswith("FileNotFoundError")


def test_an_unknown_explicit_format_is_refused(app):
    with pytest.raises(ImportRefused) as refused:
        catalogue_import.import_catalogue(db.session, io.BytesIO(b"<movies/>"), fmt="xml")

    assert refused.value.message == "upload was refused: 1 problem"
    assert refused.value.details == [
        {"location": "file", "message": "unknown format 'xml': a catalogue is a .json or .csv file"}
    ]
    assert last_run().status == "failed"

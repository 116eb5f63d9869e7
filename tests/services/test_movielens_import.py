"""importers.movielens: every layout from a folder and a zip, re-imports, broken files,
streaming."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens import sources, writer
from recommender.importers.movielens.importer import MovieLensReport, import_movielens
from recommender.importers.movielens.layouts import natural_title, split_title
from recommender.models import ImportRun, Movie, MovieExternalId, Rating, User
from recommender.services.errors import ImportRefused
from tests.factories import make_movie

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
SCALE = RatingScale(0.5, 5.0, 0.5)
# layout -> (the dataset name of the fixture folder, its ratings file, its movies file)
LAYOUTS = {
    "100k": ("ml-100k", "u.data", "u.item"),
    "1m": ("ml-1m", "ratings.dat", "movies.dat"),
    "latest": ("ml-latest", "ratings.csv", "movies.csv"),
    "recbole": ("ml-mini", "ml-mini.inter", "ml-mini.item"),
}
TOY_STORY_GENRES = ["Animation", "Children's", "Comedy"]


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Return every row the importer can touch, ids and timestamps included."""
    db.session.expire_all()
    tables = (User, Movie, Rating, MovieExternalId)
    return {
        model.__tablename__: sorted(
            tuple(row) for row in db.session.execute(sa.select(model.__table__))
        )
        for model in tables
    }


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def last_run() -> ImportRun:
    db.session.expire_all()
    return db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()


def make_catalogue() -> None:
    make_movie("Toy Story", 1995, genres=("Comedy",))
    make_movie("The Shawshank Redemption", 1994, genres=("Drama",))
    make_movie("GoldenEye", 1990)  # Another year: not the same film.


def zip_folder(folder: Path, target: Path, top: str | None = "ml-data") -> Path:
    """Zip ``folder``'s files under one top folder (or at the root when ``top`` is None)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{top}/{path.name}" if top else path.name)
    return target


def copy_layout(layout: str, tmp_path: Path) -> Path:
    target = tmp_path / layout
    shutil.copytree(FIXTURES / layout, target)
    return target


def run(source: Path | Any, **options: Any) -> MovieLensReport:
    return import_movielens(db.session, source, scale=SCALE, **options)


def versions_by_name() -> dict[str, int]:
    db.session.expire_all()
    query = sa.select(User.username, User.ratings_version)
    return {name: version for name, version in db.session.execute(query)}


# --- titles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Toy Story (1995)", ("Toy Story", 1995)),
        ("Seven (Se7en) (1995)", ("Seven (Se7en)", 1995)),
        ("Babylon 5", ("Babylon 5", None)),
        ("Fawlty Towers (1975-1979)", ("Fawlty Towers", 1975)),
        (" Padded Title (2001) ", ("Padded Title", 2001)),
    ],
)
def test_split_title_takes_the_trailing_year(raw, expected):
    assert split_title(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Shawshank Redemption, The", "The Shawshank Redemption"),
        ("Few Good Men, A", "A Few Good Men"),
        ("Misérables, Les", "Les Misérables"),
        ("Double vie de Véronique, La (Double Life of Veronique, The)",
         "La Double vie de Véronique (Double Life of Veronique, The)"),
        ("Homme et une femme, Un", "Homme et une femme, Un"),
        ("The Others", "The Others"),
    ],
)  # fmt: skip
def test_natural_title_moves_a_trailing_article_to_the_front(raw, expected):
    assert natural_title(raw) == expected


# --- each layout, from a folder and from a zip --------------------------------------------------


@pytest.mark.parametrize("packed", ["folder", "zip"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_imports_matches_the_catalogue_and_is_idempotent(app, tmp_path, layout, packed):
    make_catalogue()
    source = FIXTURES / layout
    if packed == "zip":
        source = zip_folder(source, tmp_path / f"{layout}.zip", top=None)
    dataset = LAYOUTS[layout][0] if (packed, layout) != ("zip", "latest") else "ml-latest"

    report = run(source)

    assert (report.status, report.layout, report.dataset) == ("succeeded", layout, dataset)
    assert report.counts == {
        "movies_matched_catalogue": 2,
        "movies_matched_exact": 2,
        "movies_matched_alternative_title": 0,
        "movies_matched_series": 0,
        "movies_matched_fuzzy": 0,
        "movies_possible_duplicates": 0,
        "movies_genres_filled": 0,
        "movies_inserted": 3,
        "movies_known": 0,
        "movies_merged": 0,
        "users_inserted": 3,
        "users_existing": 0,
        "ratings_inserted": 7,
        "ratings_updated": 0,
        "ratings_unchanged": 0,
        "ratings_merged": 0,
        "rating_lines": 7,
        "titles_repaired": 0,
    }
    assert count(Movie) == 6 and count(Rating) == 7 and count(MovieExternalId) == 5
    users = db.session.scalars(sa.select(User).order_by(User.username)).all()
    assert [u.username for u in users] == [f"{dataset}-1", f"{dataset}-2", f"{dataset}-3"]
    assert {(u.password_hash, u.source) for u in users} == {(None, dataset)}
    assert [u.external_id for u in users] == ["1", "2", "3"]
    assert all(u.ratings_version == 1 for u in users)
    titles = set(db.session.execute(sa.select(Movie.title, Movie.year)))
    assert titles == {
        ("Toy Story", 1995),
        ("The Shawshank Redemption", 1994),
        ("GoldenEye", 1990),
        ("GoldenEye", 1995),
        ("Les Misérables", 1995),
        ("Unseen Film", 2019),
    }
    golden = db.session.scalars(sa.select(Movie).filter_by(title="GoldenEye", year=1995)).one()
    assert [g.name for g in golden.genres] == ["Action", "Adventure", "Thriller"]
    unseen = db.session.scalars(sa.select(Movie).filter_by(title="Unseen Film")).one()
    assert [g.name for g in unseen.genres] == (["Documentary"] if layout == "1m" else [])
    # A matched catalogue movie keeps its own attributes.
    toy = db.session.scalars(sa.select(Movie).filter_by(title="Toy Story")).one()
    assert [g.name for g in toy.genres] == ["Comedy"]
    rating = db.session.get(Rating, (users[0].id, toy.id))
    assert rating.rating == (4.5 if layout == "latest" else 5.0)
    rated_at = rating.rated_at
    assert (
        (rated_at.tzinfo and rated_at) or rated_at.replace(tzinfo=dt.UTC)
    ).timestamp() == 874965758
    assert last_run().status == "succeeded" and last_run().counts == report.counts

    before = dump()
    again = run(source)

    assert dump() == before
    assert again.counts["ratings_unchanged"] == 7
    assert again.counts["movies_known"] == 5 and again.counts["users_existing"] == 3
    assert sum(again.counts[k] for k in ("ratings_inserted", "ratings_updated")) == 0


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_one_changed_rating_is_one_update_and_bumps_that_users_version(app, tmp_path, layout):
    folder = copy_layout(layout, tmp_path)
    run(folder)
    dataset, ratings_file, _ = LAYOUTS[layout]
    path = folder / ratings_file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    number = 4 if layout in ("latest", "recbole") else 3  # user 2's rating of movie 1
    separator = {"100k": "\t", "1m": "::", "latest": ",", "recbole": "\t"}[layout]
    fields = lines[number].split(separator)
    fields[2] = "2"
    lines[number] = separator.join(fields)
    path.write_text("".join(lines), encoding="utf-8")
    versions = versions_by_name()

    report = run(folder)

    assert (report.counts["ratings_updated"], report.counts["ratings_unchanged"]) == (1, 6)
    db.session.expire_all()
    after = versions_by_name()
    assert {name: after[name] - versions[name] for name in after} == {
        f"{dataset}-1": 0,
        f"{dataset}-2": 1,
        f"{dataset}-3": 0,
    }
    user = db.session.scalars(sa.select(User).filter_by(username=f"{dataset}-2")).one()
    assert sorted(r.rating for r in user.ratings) == [2.0, 2.0 if layout != "latest" else 2.5]


def test_a_zip_with_one_top_folder_names_the_dataset(app, tmp_path):
    archive = zip_folder(FIXTURES / "latest", tmp_path / "upload.zip", top="ml-latest-small")
    report = run(archive)
    assert report.dataset == "ml-latest-small"
    assert db.session.scalar(sa.select(sa.func.min(User.username))) == "ml-latest-small-1"


def test_two_dataset_ids_of_one_movie_merge_and_the_latest_rating_wins(app, tmp_path):
    folder = copy_layout("1m", tmp_path)
    with (folder / "movies.dat").open("a", encoding="latin-1") as movies:
        movies.write("6::Toy Story (1995)::Animation\n")
    with (folder / "ratings.dat").open("a") as ratings:
        ratings.write("1::6::2::999999999\n2::6::1::800000000\n")

    report = run(folder)

    assert report.counts["movies_merged"] == 1 and report.counts["ratings_merged"] == 2
    assert report.counts["ratings_inserted"] == 7
    toy = db.session.scalars(sa.select(Movie).filter_by(title="Toy Story")).one()
    ratings = db.session.scalars(sa.select(Rating).filter_by(movie_id=toy.id))
    by_user = {rating.user.external_id: rating.rating for rating in ratings}
    assert by_user == {"1": 2.0, "2": 4.0}
    notes = last_run().notes
    assert notes[0]["kind"] == "merged" and notes[0]["location"] == "movies.dat line 6"
    before = dump()
    assert run(folder).counts["ratings_unchanged"] == 7
    assert dump() == before


# --- refusals: nothing written, the run failed with the problems ----------------------------------


def edit_line(path: Path, number: int, text: str, encoding: str = "utf-8") -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = text.encode(encoding)
    path.write_bytes(b"\n".join(lines))


BROKEN = [
    # layout, file, line, new text (None: delete the file), expected location, message part
    ("100k", "u.data", 2, "1\t2\t3", "u.data line 2", "expected 4 '\\t'-separated fields"),
    ("100k", "u.data", 3, "1\t3\tfour\t878542960", "u.data line 3", "rating must be a number"),
    ("100k", "u.data", 4, "2\t99\t4\t888550871", "u.data line 4", "movie id 99 is not in u.item"),
    ("100k", "u.data", 5, "2\t4\t6\t888551000", "u.data line 5", "Rating must be from 0.5 to 5"),
    ("100k", "u.data", 6, "3\t2\t0\t889751712", "u.data line 6", "greater than 0"),
    ("100k", "u.data", 7, "3\t3\t5\tyesterday", "u.data line 7", "timestamp must be seconds"),
    ("100k", "u.item", 2, "2|GoldenEye (1995)|x", "u.item line 2", "expected 24 '|'-separated"),
    ("100k", "u.item", None, None, "dataset", "missing required files for layout 100k"),
    ("1m", "ratings.dat", 3, "1::3::4.25::978300760", "ratings.dat line 3", "multiple of 0.5"),
    ("1m", "ratings.dat", 1, "1::1::5", "ratings.dat line 1", "expected 4 '::'-separated"),
    ("1m", "movies.dat", 2, "2::GoldenEye (1995)", "movies.dat line 2", "expected 3"),
    ("1m", "movies.dat", None, None, "dataset", "missing required files for layout 1m"),
    ("latest", "ratings.csv", 1, "user,movie,rating,time", "ratings.csv line 1",
     "expected the header 'userId,movieId,rating,timestamp'"),
    ("latest", "ratings.csv", 3, "1,2,3.25,876893171", "ratings.csv line 3", "multiple of 0.5"),
    ("latest", "movies.csv", 1, "id,title,genres", "movies.csv line 1", "expected the header"),
    ("latest", "movies.csv", 3, '2,"GoldenEye (1995),Action', "movies.csv line 3", "malformed"),
    ("recbole", "ml-mini.inter", 1, "user_id\titem_id\trating\ttimestamp", "ml-mini.inter line 1",
     "has no type"),
    ("recbole", "ml-mini.inter", 1, "user_id:token\titem_id:token\tscore:float\tts:float",
     "ml-mini.inter line 1", "the header lacks rating"),
    ("recbole", "ml-mini.inter", 8, "3\t3\t11\t889751800", "ml-mini.inter line 8", "at most 10"),
    ("recbole", "ml-mini.item", 3, "2\tGoldenEye\t1995", "ml-mini.item line 3", "expected 4"),
]  # fmt: skip


@pytest.mark.parametrize(("layout", "filename", "line", "text", "location", "message"), BROKEN)
def test_a_broken_file_is_refused_with_file_line_and_reason_and_nothing_changes(
    app, tmp_path, layout, filename, line, text, location, message
):
    make_catalogue()
    folder = copy_layout(layout, tmp_path)
    if text is None:
        (folder / filename).unlink()
    else:
        edit_line(folder / filename, line, text)
    before = dump()

    with pytest.raises(ImportRefused) as refused:
        run(folder, layout=layout)

    problems = refused.value.details
    assert [p["location"] for p in problems] == [location], problems
    assert message in problems[0]["message"], problems
    assert dump() == before
    failed = last_run()
    assert (failed.status, failed.errors, failed.kind) == ("failed", problems, "movielens")


@pytest.mark.parametrize(
    ("layout", "filename", "encoding"),
    [("latest", "movies.csv", "UTF-8"), ("recbole", "ml-mini.inter", "UTF-8")],
)
def test_bad_encoding_is_refused_with_its_line(app, tmp_path, layout, filename, encoding):
    folder = copy_layout(layout, tmp_path)
    edit_line(folder / filename, 3, "2,Gold\xe9nEye (1995),Action", encoding="latin-1")
    before = dump()
    with pytest.raises(ImportRefused) as refused:
        run(folder)
    assert refused.value.details == [
        {"location": f"{filename} line 3", "message": f"invalid {encoding}: byte 0xe9 at column 7"}
    ]
    assert dump() == before


def test_latin1_layouts_read_accented_titles(app):
    run(FIXTURES / "100k")
    assert db.session.scalar(sa.select(Movie.title).where(Movie.title.like("Les%"))) == (
        "Les Misérables"
    )


def test_a_problem_after_the_first_batch_rolls_back_the_batches_written(app, tmp_path):
    folder = copy_layout("100k", tmp_path)
    edit_line(folder / "u.data", 7, "3\t3\t9\t889751800")
    with pytest.raises(ImportRefused, match="1 problem"):
        run(folder, batch_size=2)
    assert count(Rating) == count(User) == count(Movie) == 0


def test_every_problem_is_listed_not_only_the_first(app, tmp_path):
    folder = copy_layout("1m", tmp_path)
    edit_line(folder / "ratings.dat", 2, "1::2::x::1")
    edit_line(folder / "ratings.dat", 6, "3::77::1::889751712")
    with pytest.raises(ImportRefused) as refused:
        run(folder, batch_size=1)
    assert [p["location"] for p in refused.value.details] == [
        "ratings.dat line 2",
        "ratings.dat line 6",
    ]


def test_a_dataset_username_taken_by_a_local_account_is_refused(app):
    db.session.add(User(username="ml-1m-2", password_hash="x", source="local"))
    db.session.commit()
    before = dump()
    with pytest.raises(ImportRefused) as refused:
        run(FIXTURES / "1m")
    message = "user 2 would be 'ml-1m-2', a name already taken"
    assert refused.value.details == [{"location": "ratings.dat line 4", "message": message}]
    assert dump() == before


def test_an_unrecognised_folder_lists_what_was_looked_for(app, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImportRefused) as refused:
        run(tmp_path)
    message = refused.value.details[0]["message"]
    assert message.startswith("no MovieLens layout recognised: looked for u.data + u.item (100k)")
    assert "NAME.inter + NAME.item (recbole); found notes.txt" in message
    assert last_run().status == "failed"


def test_a_wrong_layout_says_which_files_it_needs(app):
    with pytest.raises(ImportRefused) as refused:
        run(FIXTURES / "100k", layout="latest")
    assert "needs ratings.csv + movies.csv (latest)" in refused.value.details[0]["message"]


# --- archives ---------------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (io.BytesIO(b"userId,movieId\n1,2\n"), "not a folder or a zip file"),
        (zip_bytes({"../../x/u.data": b"1\t1\t5\t1\n"}), "points outside the archive"),
        (zip_bytes({"/etc/u.data": b"1\t1\t5\t1\n"}), "points outside the archive"),
    ],
)
def test_unsafe_or_non_zip_uploads_are_refused(app, source, message):
    with pytest.raises(ImportRefused) as refused:
        run(source, filename="upload.zip")
    assert message in refused.value.details[0]["message"]
    assert count(Rating) == count(User) == 0


def test_a_zip_unpacking_past_the_cap_is_refused_before_reading(app, monkeypatch):
    monkeypatch.setattr(sources, "MAX_UNCOMPRESSED_BYTES", 1000)
    bomb = zip_bytes({"u.data": b"1\t1\t5\t1\n" * 200, "u.item": b""})
    with pytest.raises(ImportRefused) as refused:
        run(bomb, filename="bomb.zip")
    assert refused.value.details == [
        {"location": "archive",
         "message": "the zip unpacks to 1,600 bytes, more than the limit of 1,000 bytes"}
    ]  # fmt: skip


def test_a_zip_with_too_many_members_is_refused(app, monkeypatch):
    monkeypatch.setattr(sources, "MAX_MEMBERS", 3)
    crowd = zip_bytes({f"f{n}.txt": b"" for n in range(4)})
    with pytest.raises(ImportRefused, match="refused") as refused:
        run(crowd, filename="crowd.zip")
    assert "4 members, more than 3" in refused.value.details[0]["message"]


# --- streaming --------------------------------------------------------------------------------


def test_ratings_are_streamed_in_batches_not_read_whole(app, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n" + "".join(f"{n},Film {n} (2000),Drama\n" for n in range(1, 51))
    )
    lines = (
        f"{n // 50 + 1},{n % 50 + 1},{(n % 10 + 1) / 2},{1_000_000 + n}\n" for n in range(200_000)
    )
    with (folder / "ratings.csv").open("w") as out:
        out.write("userId,movieId,rating,timestamp\n")
        out.writelines(lines)
    # A broken first rating stops any writing: the scan that remains is the parser alone.
    edit_line(folder / "ratings.csv", 2, "1,1,oops,1000000")
    size = (folder / "ratings.csv").stat().st_size
    calls: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        with pytest.raises(ImportRefused, match="1 problem"):
            run(folder, batch_size=1000, progress=lambda done, total: calls.append((done, total)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert size > 3_500_000
    # Memory follows the batch size, not the file: a batch of 1,000 lines is about 0.6 MB.
    assert peak < size / 2, f"peak {peak:,} bytes for a {size:,}-byte file"
    assert len(calls) == 200  # Once per batch of 1,000 valid lines, then once at the end.
    assert calls[-1] == (size, size)


def test_progress_is_reported_once_per_batch(app, tmp_path):
    calls: list[tuple[int, int]] = []
    run(FIXTURES / "100k", batch_size=3, progress=lambda done, total: calls.append((done, total)))
    size = (FIXTURES / "100k" / "u.data").stat().st_size
    assert len(calls) == 3  # 3 + 3 + 1 ratings
    assert calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


# --- the write path: blind inserts, batches, timestamps, COPY ----------------------------------


def write_100k(folder: Path, movies: int, ratings: list[str]) -> Path:
    """Write a 100K-layout dataset of ``movies`` films and the given u.data lines."""
    folder.mkdir()
    flags = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)  # Drama
    (folder / "u.item").write_text(
        "".join(
            f"{n}|Film {n} (1990)|01-Jan-1990||http://x/{n}|{flags}\n" for n in range(1, movies + 1)
        )
    )
    (folder / "u.data").write_text("".join(f"{line}\n" for line in ratings))
    return folder


def test_a_broken_line_in_the_third_batch_leaves_nothing_of_the_two_written(
    app, tmp_path, monkeypatch
):
    lines = [f"{n // 3 + 1}\t{n % 3 + 1}\t4\t{880000000 + n}" for n in range(9)]
    lines[7] = "3\t2\tfour\t880000007"  # Line 8: the third batch of three.
    folder = write_100k(tmp_path / "ml", 3, lines)
    inserted: list[int] = []
    real_insert = writer.Writer.insert_rows

    def counting_insert(self: Any, rows: list[Any]) -> None:
        inserted.append(len(rows))
        real_insert(self, rows)

    monkeypatch.setattr(writer.Writer, "insert_rows", counting_insert)
    with pytest.raises(ImportRefused) as refused:
        run(folder, batch_size=3)

    # PostgreSQL writes as it reads: two batches were in the transaction when line 8 was read.
    # SQLite stages its writes for one final transaction, which a refused file never reaches.
    assert inserted == ([] if db.engine.dialect.name == "sqlite" else [3, 3])
    assert refused.value.details == [
        {"location": "u.data line 8", "message": "rating must be a number, got 'four'"}
    ]
    assert count(Rating) == count(User) == count(Movie) == count(MovieExternalId) == 0
    assert last_run().status == "failed"


def test_timestamps_are_stored_as_the_orm_stores_them(app, tmp_path):
    lines = ["1\t1\t5\t881250949", "1\t2\t3\t 881250950 ", "2\t1\t4\t881250951.25"]
    folder = write_100k(tmp_path / "ml", 2, lines)
    run(folder)

    expected = [
        dt.datetime(1997, 12, 4, 15, 55, 49, tzinfo=dt.UTC),
        dt.datetime(1997, 12, 4, 15, 55, 50, tzinfo=dt.UTC),
        dt.datetime(1997, 12, 4, 15, 55, 51, 250000, tzinfo=dt.UTC),
    ]
    query = sa.select(Rating.rated_at).order_by(Rating.rated_at)
    assert [value.replace(tzinfo=dt.UTC) for value in db.session.scalars(query)] == expected
    dialect = db.engine.dialect
    if dialect.name == "sqlite":  # The text itself: what the ORM's bind processor writes.
        bind = Rating.__table__.c.rated_at.type.dialect_impl(dialect).bind_processor(dialect)
        raw = db.session.execute(sa.text("SELECT rated_at FROM ratings ORDER BY rated_at"))
        assert [text for (text,) in raw] == [bind(value) for value in expected]
    # Lookups compare them equal: nothing changes the second time.
    assert run(folder).counts["ratings_unchanged"] == 3


def test_ratings_go_by_copy_on_postgresql_and_executemany_elsewhere(app, tmp_path, monkeypatch):
    lines = [f"{n // 10 + 1}\t{n % 10 + 1}\t{n % 5 + 1}\t{880000000 + n}" for n in range(250)]
    folder = write_100k(tmp_path / "ml", 10, lines)
    statements: list[str] = []
    monkeypatch.setattr(writer, "COPY_MIN_ROWS", 100)
    if db.engine.dialect.name == "postgresql":
        real_copy = psycopg.Cursor.copy

        def spying_copy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(statement))
            return real_copy(self, statement, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "copy", spying_copy)

    report = run(folder, batch_size=120)  # Batches of 120, 120 and 10 rows.

    assert report.counts["ratings_inserted"] == 250
    if db.engine.dialect.name == "postgresql":
        assert len(statements) == 2, statements  # The last 10 rows: executemany.
        assert all(s.startswith("COPY ratings") for s in statements)
    else:
        assert statements == []
    stored = db.session.execute(
        sa.select(User.external_id, MovieExternalId.external_id, Rating.rating, Rating.rated_at)
        .join(User, User.id == Rating.user_id)
        .join(MovieExternalId, MovieExternalId.movie_id == Rating.movie_id)
    ).all()
    expected = {
        (str(n // 10 + 1), str(n % 10 + 1), float(n % 5 + 1), 880000000 + n) for n in range(250)
    }
    assert {(u, m, r, int(t.replace(tzinfo=dt.UTC).timestamp())) for u, m, r, t in stored} == (
        expected
    )


def test_postgresql_statistics_are_refreshed_after_an_import(app, tmp_path):
    """A bulk-loaded table without statistics was planned as 125,000 rows a user (a parallel
    scan with JIT for 71 ratings at 25M): the import runs ANALYZE on PostgreSQL. SQLite's
    ANALYZE reads whole tables, and its planner needs none for these lookups: not run there."""
    lines = [f"{n // 10 + 1}\t{n % 10 + 1}\t{n % 5 + 1}\t{880000000 + n}" for n in range(60)]
    folder = write_100k(tmp_path / "ml", 10, lines)

    def manual_analyses() -> int:
        db.session.commit()  # a fresh snapshot of the statistics views
        return db.session.scalar(
            sa.text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'ratings'")
        )

    if db.engine.dialect.name == "postgresql":
        before = manual_analyses()
        run(folder)
        assert manual_analyses() == before + 1
        estimate = db.session.scalar(
            sa.text("SELECT reltuples FROM pg_class WHERE relname = 'ratings'")
        )
        assert estimate == count(Rating) == 60
    else:
        run(folder)
        assert count(Rating) == 60
        assert not db.session.scalar(
            sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        )


def test_a_known_users_new_pair_repeated_batches_apart_is_never_a_database_error(app, tmp_path):
    run(write_100k(tmp_path / "first", 3, ["1\t1\t4\t880000000"]))
    # User 1 is known now; (1, 2) is new to the database and on two lines, batches apart.
    lines = ["1\t2\t3\t880000001", "1\t3\t3\t880000002", "1\t2\t5\t880000003"]
    folder = write_100k(tmp_path / "second", 3, lines)
    if db.engine.dialect.name == "sqlite":
        # Staged: both lines are inserts into the final transaction, refused as a repeat.
        with pytest.raises(ImportRefused) as refused:
            run(folder, batch_size=2)
        assert "on two lines" in refused.value.details[0]["message"]
        assert count(Rating) == 1
    else:
        # Streamed: the second batch finds the first's row and updates it (README's known gap).
        run(folder, batch_size=2)
        assert db.session.scalar(sa.select(Rating.rating).where(Rating.movie_id != 1).limit(1))
    assert last_run().status in ("failed", "succeeded")


def test_postgresql_writes_batch_by_batch_as_it_reads(app, tmp_path, monkeypatch):
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite stages every import (tests/services/test_import_in_steps.py)")
    lines = [f"{n // 3 + 1}\t{n % 3 + 1}\t4\t{880000000 + n}" for n in range(9)]
    inserted: list[int] = []
    real_insert = writer.Writer.insert_rows

    def counting_insert(self: Any, rows: list[Any]) -> None:
        inserted.append(len(rows))
        real_insert(self, rows)

    monkeypatch.setattr(writer.Writer, "insert_rows", counting_insert)
    report = run(write_100k(tmp_path / "ml", 3, lines), batch_size=3)
    assert inserted == [3, 3, 3]
    assert report.write_seconds == 0.0 and count(Rating) == 9

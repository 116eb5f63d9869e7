"""The corpus of broken import files: one table, shared by the service, CLI and API tests.

Each ``Case`` builds its file (or dataset folder, or zip) under a temporary directory at test
time: most are a few bytes written from the table, the good MovieLens fixtures with one file
replaced, or zips made on the spot. The big ones (a 50 MB line, a zip bomb) are generated,
never committed. ``expected`` lists fragments of the refusal's details, each rendered as
``location: message`` (the CLI prints them the same way, indented), so every fragment pins the
file, the line where one is at fault, and the reason.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Genre, ImportRun, Movie, MovieExternalId, Rating, User

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MOVIELENS = FIXTURES / "movielens"
HUGE_LINE_BYTES = 50 * 1000 * 1000
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"

Builder = Callable[[Path], Path]


@dataclass(frozen=True)
class Case:
    name: str
    kind: Literal["catalogue", "movielens"]
    build: Builder
    expected: tuple[str, ...]
    # False where the API cannot take the file as it is (a 50 MB body is a 413, not this case).
    api: bool = True


def file(filename: str, content: bytes | Callable[[], bytes]) -> Builder:
    """Build one file called ``filename``."""

    def build(tmp: Path) -> Path:
        path = tmp / filename
        path.write_bytes(content() if callable(content) else content)
        return path

    return build


def huge_line_file(filename: str, head: bytes) -> Builder:
    """Build ``filename``: ``head`` then 50 MB without a newline, written in 1 MB chunks."""

    def build(tmp: Path) -> Path:
        path = tmp / filename
        chunk = b"1" * 1_000_000
        with path.open("wb") as out:
            out.write(head)
            for _ in range(HUGE_LINE_BYTES // len(chunk)):
                out.write(chunk)
        return path

    return build


# Keyword -> file name for ``dataset``: ``u_data=`` replaces u.data.
FILE_NAMES = {
    "u_data": "u.data",
    "u_item": "u.item",
    "ratings_dat": "ratings.dat",
    "ratings_csv": "ratings.csv",
    "movies_csv": "movies.csv",
    "ml_mini_inter": "ml-mini.inter",
    "ml_mini_item": "ml-mini.item",
}


def dataset(layout: str, **replaced: bytes) -> Builder:
    """Build the good fixture dataset of ``layout`` (folder ml-broken) with files replaced."""

    def build(tmp: Path) -> Path:
        folder = tmp / "ml-broken"
        shutil.copytree(MOVIELENS / layout, folder)
        for keyword, content in replaced.items():
            (folder / FILE_NAMES[keyword]).write_bytes(content)
        return folder

    return build


def dataset_with_huge_line(layout: str, filename: str, head: bytes) -> Builder:
    """Build the good fixture dataset of ``layout`` whose ``filename`` is one 50 MB line."""

    def build(tmp: Path) -> Path:
        folder = dataset(layout)(tmp)
        huge_line_file(filename, head)(folder)
        return folder

    return build


def fixture(layout: str, name: str) -> bytes:
    return (MOVIELENS / layout / name).read_bytes()


def edited(layout: str, name: str, old: bytes, new: bytes) -> bytes:
    """Return fixture file ``name`` with ``old`` replaced (once, and it must be there)."""
    content = fixture(layout, name)
    assert old in content, (layout, name, old)
    return content.replace(old, new, 1)


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def fixture_members(layout: str, top: str | None = None) -> dict[str, bytes]:
    prefix = f"{top}/" if top else ""
    return {
        prefix + path.name: path.read_bytes() for path in sorted((MOVIELENS / layout).iterdir())
    }


def damaged_zip() -> bytes:
    """A stored (uncompressed) zip whose u.data bytes were changed after its CRC was taken."""
    data = zip_bytes(fixture_members("100k"), zipfile.ZIP_STORED)
    line = b"1\t1\t5\t874965758"
    assert data.count(line) == 1
    return data.replace(line, b"1\t1\t4\t874965758")


def zip_bomb() -> bytes:
    """u.data of 20 MB of one repeated line: it deflates about 1,000 times."""
    return zip_bytes({"ml/u.data": b"1\t1\t5\t874965758\n" * 1_250_000, "ml/u.item": b""})


U_DATA = fixture("100k", "u.data")
RATINGS_CSV = fixture("latest", "ratings.csv")
TAB = "'\\t'"  # how a tab separator is quoted in messages

CASES = [
    # ---- catalogue: JSON ---------------------------------------------------------------
    Case(
        "json truncated",
        "catalogue",
        file("movies.json", b'[{"Title": "Heat", "Release Date": "Dec 15 1995"'),
        ("line 1, column 49: invalid JSON: Expecting ',' delimiter",),
    ),
    Case("json empty", "catalogue", file("movies.json", b""), ("file: the file is empty",)),
    Case(
        "json top level not a list",
        "catalogue",
        file("movies.json", b'{"Title": "Heat"}'),
        ("file: expected a list of movie objects, got an object",),
    ),
    Case(
        "json record not an object",
        "catalogue",
        file("movies.json", b'[{"Title": "Heat"}, 7]'),
        ("record 2: expected a movie object, got a number",),
    ),
    Case(
        "json deeply nested",
        "catalogue",
        file("movies.json", b"[" * 100_000 + b"]" * 100_000),
        ("file: invalid JSON: nested too deeply",),
    ),
    Case(
        "json duplicate key",
        "catalogue",
        file("movies.json", b'[{"Title": "Heat"}, {"Title": "Heat", "Title": "Alien"}]'),
        ("record 2: duplicated key 'Title': which value is meant?",),
    ),
    Case(
        "json in UTF-16",
        "catalogue",
        file("movies.json", '[{"Title": "Heat"}]'.encode("utf-16")),
        ("line 1: invalid UTF-8: byte 0xff at byte offset 0 (the file is UTF-16",),
    ),
    Case(
        "json NUL byte",
        "catalogue",
        file("movies.json", b'[{"Title": "Heat"},\n {"Title": "Al\x00ien"}]'),
        ("line 2: NUL byte (0x00): not a text file",),
    ),
    Case(
        "json value off the scale",
        "catalogue",
        file("movies.json", b'[{"Title": "Heat", "IMDB Rating": 11}]'),
        ("record 1: IMDB Rating must be a number from 0 to 10, got 11",),
    ),
    # ---- catalogue: CSV ----------------------------------------------------------------
    Case(
        "csv truncated mid-quote",
        "catalogue",
        file("movies.csv", b'title,year\nHeat,1995\n"Alien,1979\n'),
        ("malformed CSV: unexpected end of data",),
    ),
    Case("csv empty", "catalogue", file("movies.csv", b""), ("file: the file is empty",)),
    Case(
        "csv only a header",
        "catalogue",
        file("movies.csv", b"title,year\r\n"),
        ("file: no movies in file",),
    ),
    Case(
        "csv in Latin-1",
        "catalogue",
        file("movies.csv", "title,year\nAmélie,2001\n".encode("latin-1")),
        ("line 2: invalid UTF-8: byte 0xe9 at byte offset 13 (Latin-1 or Windows-1252?",),
    ),
    Case(
        "csv invalid UTF-8 sequence",
        "catalogue",
        file("movies.csv", b"title,year\nHeat,1995\nAlien\xc3\x28,1979\n"),
        ("line 3: invalid UTF-8: byte 0xc3 at byte offset 26",),
    ),
    Case(
        "csv BOM twice",
        "catalogue",
        file("movies.csv", b"\xef\xbb\xbf\xef\xbb\xbftitle,year\nHeat,1995\n"),
        ("line 1: unknown column '\\ufefftitle' (did you mean 'title'?)",),
    ),
    Case(
        "csv semicolon-separated",
        "catalogue",
        file("movies.csv", b"title;year\nHeat;1995\n"),
        ("line 1: the header has no commas but ';': a CSV is comma-separated",),
    ),
    Case(
        "csv tab-separated",
        "catalogue",
        file("movies.csv", b"title\tyear\nHeat\t1995\n"),
        (f"line 1: the header has no commas but {TAB}",),
    ),
    Case(
        "csv wrong field count",
        "catalogue",
        file("movies.csv", b"title,year\nHeat,1995\nAlien,1979,Scott\n"),
        ("line 3: expected 2 fields, found 3",),
    ),
    Case(
        "csv missing required column",
        "catalogue",
        file("movies.csv", b"year,genres\n1995,Drama\n"),
        ("line 1: missing required column 'title'",),
    ),
    Case(
        "csv duplicate header column",
        "catalogue",
        file("movies.csv", b"title,year,Year\nHeat,1995,1995\n"),
        ("line 1: duplicated column 'year'",),
    ),
    Case(
        "csv NUL byte",
        "catalogue",
        file("movies.csv", b"title,year\nHeat,1995\nAl\x00ien,1979\n"),
        ("line 3: NUL byte (0x00): not a text file",),
    ),
    Case(
        "csv is a PNG image",
        "catalogue",
        file("poster.csv", PNG),
        ("file: this is a PNG image, not a text file",),
    ),
    Case(
        "csv is a zip archive",
        "catalogue",
        file("movies.csv", lambda: zip_bytes({"movies.csv": b"title\nHeat\n"})),
        ("file: this is a zip archive, not a text file",),
    ),
    Case(
        "csv 50 MB line",
        "catalogue",
        huge_line_file("movies.csv", b"title,budget\nHeat,"),
        ("line 2: line longer than 65,536 bytes: not a catalogue CSV",),
        api=False,
    ),
    Case(
        "csv value off the scale",
        "catalogue",
        file("movies.csv", b"title,rt_rating\nHeat,101\n"),
        ("line 2: rt_rating must be a whole number from 0 to 100, got '101'",),
    ),
    Case(
        "catalogue wrong file type",
        "catalogue",
        file("movies.xlsx", b"title\nHeat\n"),
        ("file: unknown file type '.xlsx': a catalogue is a .json or .csv file",),
    ),
    # ---- MovieLens: separators, columns, headers ----------------------------------------
    Case(
        "u.data comma-separated",
        "movielens",
        dataset("100k", u_data=U_DATA.replace(b"\t", b",")),
        (f"u.data line 1: expected 4 {TAB}-separated fields, found 1 (the line holds ','",),
    ),
    Case(
        "ratings.csv tab-separated",
        "movielens",
        dataset("latest", ratings_csv=RATINGS_CSV.replace(b",", b"\t")),
        ("ratings.csv line 1: expected the header 'userId,movieId,rating,timestamp'",),
    ),
    Case(
        "ratings.dat with | instead of ::",
        "movielens",
        dataset("1m", ratings_dat=fixture("1m", "ratings.dat").replace(b"::", b"|")),
        ("ratings.dat line 1: expected 4 '::'-separated fields, found 1 (the line holds '|'",),
    ),
    Case(
        "u.data wrong field count",
        "movielens",
        dataset("100k", u_data=edited("100k", "u.data", b"1\t2\t3\t876893171", b"1\t2\t3")),
        (f"u.data line 2: expected 4 {TAB}-separated fields, found 3",),
    ),
    Case(
        "ratings.csv header lacks a column",
        "movielens",
        dataset("latest", ratings_csv=edited("latest", "ratings.csv", b"rating,", b"")),
        ("ratings.csv line 1: expected the header 'userId,movieId,rating,timestamp', found",),
    ),
    Case(
        "RecBole header repeats a column",
        "movielens",
        dataset(
            "recbole",
            ml_mini_inter=edited("recbole", "ml-mini.inter", b"timestamp:float", b"rating:float"),
        ),
        ("ml-mini.inter line 1: duplicated column 'rating'",),
    ),
    # ---- MovieLens: values ----------------------------------------------------------
    Case(
        "u.data same (user, movie) twice",
        "movielens",
        dataset("100k", u_data=U_DATA + b"1\t1\t2\t884965758\n"),
        ("u.data line 8: user 1 rated movie 1 on an earlier line too",),
    ),
    Case(
        "u.item duplicate movie id",
        "movielens",
        dataset("100k", u_item=fixture("100k", "u.item") + fixture("100k", "u.item")[:200]),
        ("u.item line 6: movie id 1 repeats u.item line 1",),
    ),
    Case(
        "rating off the scale",
        "movielens",
        dataset("100k", u_data=edited("100k", "u.data", b"1\t2\t3\t", b"1\t2\t7\t")),
        ("u.data line 2: Rating must be from 0.5 to 5, got 7",),
    ),
    Case(
        "non-numeric user id",
        "movielens",
        dataset("1m", ratings_dat=edited("1m", "ratings.dat", b"1::2::", b"alice::2::")),
        ("ratings.dat line 2: user id must be a whole number, got 'alice'",),
    ),
    Case(
        "negative movie id",
        "movielens",
        dataset("latest", ratings_csv=edited("latest", "ratings.csv", b"1,2,", b"1,-2,")),
        ("ratings.csv line 3: movie id must be a whole number, got '-2'",),
    ),
    Case(
        "non-numeric movie id in movies.csv",
        "movielens",
        dataset("latest", movies_csv=edited("latest", "movies.csv", b"\n2,", b"\nB2,")),
        ("movies.csv line 3: movie id must be a whole number, got 'B2'",),
    ),
    Case(
        "timestamp past year 9999",
        "movielens",
        dataset("100k", u_data=edited("100k", "u.data", b"876893171", b"99999999999999")),
        ("u.data line 2: timestamp must be seconds since 1970, up to now, got '99999999999999'",),
    ),
    Case(
        "timestamp before 1970",
        "movielens",
        dataset("1m", ratings_dat=edited("1m", "ratings.dat", b"::876893171", b"::-86400")),
        ("ratings.dat line 2: timestamp must be seconds since 1970, up to now, got '-86400'",),
    ),
    Case(
        "rating of an unknown movie",
        "movielens",
        dataset("100k", u_data=edited("100k", "u.data", b"1\t2\t3\t", b"1\t99\t3\t")),
        ("u.data line 2: movie id 99 is not in u.item",),
    ),
    # ---- MovieLens: empty, encodings, binary, huge -----------------------------------
    Case(
        "u.data empty",
        "movielens",
        dataset("100k", u_data=b""),
        ("u.data: no ratings in the file",),
    ),
    Case(
        "ratings.csv only a header",
        "movielens",
        dataset("latest", ratings_csv=b"userId,movieId,rating,timestamp\n"),
        ("ratings.csv: no ratings in the file",),
    ),
    Case(
        "ratings.csv in UTF-16",
        "movielens",
        dataset("latest", ratings_csv=RATINGS_CSV.decode().encode("utf-16")),
        ("ratings.csv line 1: invalid UTF-8: byte 0xff at column 1 (the file is UTF-16",),
    ),
    Case(
        "movies.csv in Latin-1",
        "movielens",
        dataset(
            "latest",
            movies_csv=edited("latest", "movies.csv", b"GoldenEye", "GöldenEye".encode("latin-1")),
        ),
        ("movies.csv line 3: invalid UTF-8: byte 0xf6 at column 4",),
    ),
    Case(
        "RecBole item invalid UTF-8",
        "movielens",
        dataset(
            "recbole", ml_mini_item=edited("recbole", "ml-mini.item", b"GoldenEye", b"Gold\xffEye")
        ),
        ("ml-mini.item line 3: invalid UTF-8: byte 0xff at column 7",),
    ),
    Case(
        "u.data NUL byte",
        "movielens",
        dataset("100k", u_data=edited("100k", "u.data", b"1\t2\t3", b"1\t2\x00\t3")),
        ("u.data line 2: NUL byte (0x00): not a text file",),
    ),
    Case(
        "ratings.csv is a PNG image",
        "movielens",
        dataset("latest", ratings_csv=PNG),
        ("ratings.csv line 1: this is a PNG image, not a text file",),
    ),
    # ---- MovieLens: archives ---------------------------------------------------------
    Case(
        "zip truncated",
        "movielens",
        file("ml-100k.zip", lambda: zip_bytes(fixture_members("100k", "ml-100k"))[:300]),
        ("file: not a folder or a zip file (File is not a zip file)",),
    ),
    Case(
        "zip empty file",
        "movielens",
        file("ml-100k.zip", b""),
        ("file: not a folder or a zip file",),
    ),
    Case(
        "zip bomb",
        "movielens",
        file("bomb.zip", zip_bomb),
        ("archive: member 'ml/u.data' expands", "times (a zip bomb?): the limit is 100"),
    ),
    Case(
        "zip path traversal",
        "movielens",
        file("evil.zip", lambda: zip_bytes({"../u.data": U_DATA, "u.item": b""})),
        ("archive: member '../u.data' points outside the archive",),
    ),
    Case(
        "zip inside a zip",
        "movielens",
        file(
            "outer.zip",
            lambda: zip_bytes({"ml-100k.zip": zip_bytes(fixture_members("100k", "ml-100k"))}),
        ),
        ("found ml-100k.zip (a zip inside the zip: import the inner zip itself)",),
    ),
    Case(
        "zip with two dataset folders",
        "movielens",
        file(
            "two.zip",
            lambda: zip_bytes(fixture_members("100k", "ml-100k") | fixture_members("1m", "ml-1m")),
        ),
        ("archive: the zip holds 2 top folders (ml-100k, ml-1m): one dataset per zip",),
    ),
    Case(
        "zip with two layouts at its root",
        "movielens",
        file("two.zip", lambda: zip_bytes(fixture_members("100k") | fixture_members("latest"))),
        ("dataset: the files of several layouts are present (100k, latest): choose one",),
    ),
    Case(
        "zip member damaged (bad CRC)",
        "movielens",
        file("ml-100k.zip", damaged_zip),
        ("u.data: the zip member is damaged: Bad CRC-32 for file 'u.data'",),
    ),
    Case(
        "zip without a dataset",
        "movielens",
        file("notes.zip", lambda: zip_bytes({"README.txt": b"hi"})),
        ("dataset: no MovieLens layout recognised: looked for u.data + u.item (100k)",),
    ),
    Case(
        "u.data 50 MB line",
        "movielens",
        dataset_with_huge_line("100k", "u.data", b"1\t1\t5\t"),
        ("u.data line 1: line longer than 65,536 bytes: not a MovieLens file",),
        # Zipped for the API, 50 MB of one byte is refused as a zip bomb instead (tested above).
        api=False,
    ),
]


def refusal_text(message: str, details: list[dict[str, str]]) -> str:
    """Return a refusal as the CLI prints it: the message, then ``location: message`` lines."""
    return "\n".join([message, *(f"  {d['location']}: {d['message']}" for d in details)])


def snapshot() -> dict[str, Any]:
    """Return every row an import may touch (ids, values, timestamps), table by table."""
    db.session.expire_all()
    tables = (Movie, Genre, User, Rating, MovieExternalId)
    rows = {
        model.__tablename__: sorted(
            tuple(map(str, row)) for row in db.session.execute(sa.select(model.__table__))
        )
        for model in tables
    }
    rows["succeeded runs"] = db.session.scalar(
        sa.select(sa.func.count()).where(ImportRun.status != "failed")
    )
    return rows


def failed_runs() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).where(ImportRun.status == "failed"))


def by_id(cases: list[Case]) -> dict[str, Any]:
    return {"argvalues": cases, "ids": [case.name for case in cases]}

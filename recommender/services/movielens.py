"""Import a MovieLens rating dataset (100K, 1M, latest/25M or RecBole atomic files), all or nothing.

The module has three parts:

* sources: a folder or a zip (files at its root or under one top folder), guarded against zip
  bombs and paths escaping the archive (``open_dataset``);
* layouts: the file names of each layout and one parser per file, yielding ``DatasetMovie``
  values and ``RatingFields`` tuples with their line numbers;
* writing: movies matched to the catalogue (title + year, case-insensitive, ", The" moved to
  the front) or inserted; users created on first sight; ratings streamed in batches, keyed by
  (user, movie), through Core and the driver (executemany, COPY on PostgreSQL), never the ORM.

One pass over the ratings both validates and writes inside one transaction: after the first
problem nothing more is written, the scan goes on to collect up to ``MAX_PROBLEMS`` problems,
and the transaction is rolled back, so a refused file leaves the data as it was.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.engine.scale import RatingScale
from recommender.importers.problems import Problems, TooManyProblems, refusal
from recommender.importers.runs import Progress, finish_run, tracked_run
from recommender.importers.text import NUMBER, UTF16_BOMS, binary_kind, encoding_hint
from recommender.models import Genre, Movie, MovieExternalId, Rating, User, movie_genres, utcnow

KIND = "movielens"
LAYOUTS = ("100k", "1m", "latest", "recbole")
# Guards for uploaded archives: MovieLens 25M is about 1.1 GB unpacked, 7 files.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_MEMBERS = 1000
# Text deflates 3-5 times (ML-25M's ratings.csv: 4x); a member that claims far more is a bomb.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 1024**2
# The longest line of ML-25M is under 300 bytes: a longer one is the wrong file (or no newlines
# at all), refused after reading this much of it rather than the whole.
MAX_LINE_BYTES = 64 * 1024
# What a damaged member raises while it is read (bad CRC, cut deflate stream).
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)
# MovieLens ids (100k, 1m, latest) are whole numbers; RecBole's are free tokens.
WHOLE_ID = re.compile(r"\s*\d{1,18}\s*")
MAX_EXTERNAL_ID = 64
EXTERNAL_ID = re.compile(rf"\S{{1,{MAX_EXTERNAL_ID}}}")
# The genre flags of ML-100K's u.item, in order, when the folder has no u.genre.
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRE = {"unknown", "(no genres listed)"}
TITLE_YEAR = re.compile(r"(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-\u2013]\d{0,4})?\)\s*")
# "Shawshank Redemption, The" and "Double vie de Véronique, La (Double Life of ...)":
# MovieLens moves articles to the end; the catalogue keeps them in front.
ARTICLE_AT_END = re.compile(
    r"(?P<rest>.+), (?P<article>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El|Los|Las)"
    r"(?P<alt> \(.*\))?"
)
ML100K_DATE = re.compile(r"\d{1,2}-[A-Za-z]{3}-(?P<year>\d{4})")


class _RepeatedRating(Exception):
    """Two lines of one (user, movie), further apart than a batch, met at the primary key."""


class _DatasetRefused(Exception):
    """A dataset that cannot be read at all (not a zip, no layout): one problem, no lines."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


# --------------------------------------------------------------------------------------------
# Sources: a folder or a zip
# --------------------------------------------------------------------------------------------


class DatasetFiles:
    """The files of a dataset by bare name, whether in a folder or a zip."""

    def __init__(self, name: str, sizes: dict[str, int], opener: Callable[[str], IO[bytes]]):
        self.name = name
        self.sizes = sizes
        self._opener = opener

    def open(self, filename: str) -> IO[bytes]:
        """Open ``filename`` for reading bytes."""
        return self._opener(filename)


def _folder_files(path: Path) -> DatasetFiles:
    """Return the files of a folder, or of its one subfolder when it holds nothing else."""
    entries = [entry for entry in path.iterdir() if not entry.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        path = entries[0]
    files = {entry.name: entry for entry in path.iterdir() if entry.is_file()}
    sizes = {name: entry.stat().st_size for name, entry in files.items()}
    return DatasetFiles(path.name, sizes, lambda name: files[name].open("rb"))


def _zip_files(archive: zipfile.ZipFile, name: str) -> DatasetFiles:
    """Return the files of a zip after checking it is safe to read; raise ``_DatasetRefused``."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise _DatasetRefused(
            "archive", f"the zip holds {len(members):,} members, more than {MAX_MEMBERS:,}"
        )
    total = 0
    paths: dict[PurePosixPath, zipfile.ZipInfo] = {}
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", member.filename):
            raise _DatasetRefused(
                "archive", f"member {member.filename!r} points outside the archive"
            )
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECKED_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise _DatasetRefused(
                "archive",
                f"member {member.filename!r} expands {ratio:,.0f} times (a zip bomb?): "
                f"the limit is {MAX_COMPRESSION_RATIO}",
            )
        if not member.is_dir() and path.parts[0] != "__MACOSX":
            paths[path] = member
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _DatasetRefused(
            "archive",
            f"the zip unpacks to {total:,} bytes, more than the limit of "
            f"{MAX_UNCOMPRESSED_BYTES:,} bytes",
        )
    tops = {path.parts[0] for path in paths if len(path.parts) > 1}
    at_root = [path for path in paths if len(path.parts) == 1]
    if len(tops) > 1 and not at_root:
        raise _DatasetRefused(
            "archive",
            f"the zip holds {len(tops)} top folders ({', '.join(sorted(tops))}): "
            "one dataset per zip",
        )
    if len(tops) == 1 and not at_root:
        top = tops.pop()
        files = {p.name: m for p, m in paths.items() if len(p.parts) == 2 and p.parts[0] == top}
        name = top
    else:
        files = {path.name: member for path, member in paths.items() if len(path.parts) == 1}
    sizes = {filename: member.file_size for filename, member in files.items()}
    # ZipExtFile never yields more than the declared file_size (checked above) and fails
    # on a CRC mismatch, so a member cannot inflate past the limit.
    return DatasetFiles(name, sizes, lambda filename: archive.open(files[filename]))


def open_dataset(source: Path | BinaryIO, name: str, stack: ExitStack) -> DatasetFiles:
    """Return the files of a dataset folder or zip (a path or a stream); closed by ``stack``."""
    if isinstance(source, Path) and source.is_dir():
        return _folder_files(source)
    if isinstance(source, Path) and not source.exists():
        raise _DatasetRefused("file", f"{source} does not exist")
    try:
        archive = stack.enter_context(zipfile.ZipFile(source))
    except (zipfile.BadZipFile, OSError) as error:
        raise _DatasetRefused(
            "file", f"not a folder or a zip file ({error}): a dataset is a folder or a .zip"
        ) from None
    return _zip_files(archive, Path(name).stem)


# --------------------------------------------------------------------------------------------
# Layouts: file names and line parsers
# --------------------------------------------------------------------------------------------


@dataclass
class DatasetMovie:
    location: str
    external_id: str
    title: str
    year: int | None
    genres: tuple[str, ...]
    # What was ignored or corrected on the way, for the run's notes.
    notes: list[str] = field(default_factory=list)


# One ratings line as read: (line number, user id, movie id, rating, timestamp or None), raw
# text. A plain tuple, not an object: the 25M layout yields 25 million of them.
RatingFields = tuple[int, str, str, str, str | None]


@dataclass(frozen=True)
class Layout:
    """A dataset layout: its ratings and movies files and their text encoding."""

    name: str
    ratings: str
    movies: str
    encoding: str


def _layout(name: str, files: DatasetFiles) -> Layout | None:
    """Return layout ``name`` if ``files`` has its required files, else None."""
    present = set(files.sizes)
    if name == "recbole":
        stems = {Path(f).stem for f in present if f.endswith(".inter")}
        stems &= {Path(f).stem for f in present if f.endswith(".item")}
        if len(stems) != 1:
            return None
        stem = stems.pop()
        return Layout("recbole", f"{stem}.inter", f"{stem}.item", "utf-8")
    ratings, movies, encoding = {
        "100k": ("u.data", "u.item", "latin-1"),
        "1m": ("ratings.dat", "movies.dat", "latin-1"),
        "latest": ("ratings.csv", "movies.csv", "utf-8"),
    }[name]
    if {ratings, movies} <= present:
        return Layout(name, ratings, movies, encoding)
    return None


LOOKED_FOR = (
    "u.data + u.item (100k), ratings.dat + movies.dat (1m), ratings.csv + movies.csv (latest), "
    "NAME.inter + NAME.item (recbole)"
)


def choose_layout(files: DatasetFiles, wanted: str) -> Layout:
    """Return the layout ``wanted`` (or the first that fits for "auto"); refuse otherwise."""
    found = ", ".join(sorted(files.sizes)) or "no files"
    if wanted == "auto":
        fitting = [layout for name in LAYOUTS if (layout := _layout(name, files)) is not None]
        if len(fitting) > 1:
            names = ", ".join(layout.name for layout in fitting)
            raise _DatasetRefused(
                "dataset", f"the files of several layouts are present ({names}): choose one"
            )
        if fitting:
            return fitting[0]
        if any(name.lower().endswith(".zip") for name in files.sizes):
            found += " (a zip inside the zip: import the inner zip itself)"
        raise _DatasetRefused(
            "dataset", f"no MovieLens layout recognised: looked for {LOOKED_FOR}; found {found}"
        )
    if wanted not in LAYOUTS:
        raise _DatasetRefused("dataset", f"unknown layout {wanted!r}: one of {', '.join(LAYOUTS)}")
    layout = _layout(wanted, files)
    if layout is None:
        needs = next(part for part in LOOKED_FOR.split(", ") if f"({wanted})" in part)
        raise _DatasetRefused(
            "dataset", f"missing required files for layout {wanted}: needs {needs}; found {found}"
        )
    return layout


def _dataset_name(layout: Layout, files: DatasetFiles) -> str:
    """Return the dataset's name: the users' source and their usernames' prefix."""
    if layout.name in ("100k", "1m"):
        return f"ml-{layout.name}"
    if layout.name == "recbole":
        name = Path(layout.ratings).stem
    else:
        name = files.name if files.name.lower().startswith("ml-") else "ml-latest"
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)[:30]


def _lines(
    files: DatasetFiles, filename: str, encoding: str, problems: Problems, counter: list[int]
) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of the non-blank lines of ``filename``, one at a time.

    Bytes read are added to ``counter[0]`` for progress; an undecodable line is a problem, and
    so are a binary file, a NUL byte, a line over ``MAX_LINE_BYTES`` and a damaged zip member
    (the last three stop the file).
    """
    with files.open(filename) as opened:
        # A BufferedReader's readline(limit) is C; a bare zip member's is a Python loop.
        stream = opened if isinstance(opened, io.BufferedReader) else io.BufferedReader(opened)
        try:
            # A PNG's magic number spans its first line break: look before splitting lines.
            if (kind := binary_kind(stream.peek(16)[:16])) is not None:
                problems.add(f"{filename} line 1", f"this is {kind}, not a text file")
                return
            # partial + iter keep the loop in C: a `while readline()` costs 1.5x per line.
            for number, raw in enumerate(
                iter(partial(stream.readline, MAX_LINE_BYTES + 1), b""), 1
            ):
                counter[0] += len(raw)
                if number == 1:
                    # Cut as bytes: Latin-1 would read a UTF-8 BOM as three letters.
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                if len(raw) > MAX_LINE_BYTES:
                    problems.add(
                        f"{filename} line {number}",
                        f"line longer than {MAX_LINE_BYTES:,} bytes: not a MovieLens file",
                    )
                    return
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as error:
                    problems.add(
                        f"{filename} line {number}",
                        f"invalid {encoding.upper()}: byte 0x{raw[error.start]:02x} at column "
                        f"{error.start + 1}{encoding_hint(raw) if number == 1 else ''}",
                    )
                    if raw.startswith(UTF16_BOMS):
                        return  # Every line of a UTF-16 file would say the same.
                    continue
                if "\x00" in text:
                    problems.add(f"{filename} line {number}", "NUL byte (0x00): not a text file")
                    return
                text = text.rstrip("\r\n")
                if text.strip():
                    yield number, text
        except ZIP_READ_ERRORS as error:
            problems.add(filename, f"the zip member is damaged: {error}")


def _split(
    filename: str, number: int, text: str, separator: str, count: int, problems: Problems
) -> list[str] | None:
    """Return the ``count`` fields of a line, or None after a problem."""
    fields = text.split(separator)
    if len(fields) != count:
        others = [s for s in ("\t", ",", ";", "::", "|") if s not in separator and s in text]
        hint = (
            f" (the line holds {others[0]!r}: wrong separator?)"
            if len(fields) == 1 and others
            else ""
        )
        problems.add(
            f"{filename} line {number}",
            f"expected {count} {separator!r}-separated fields, found {len(fields)}{hint}",
        )
        return None
    return fields


def _empty(filename: str, problems: Problems) -> None:
    """Add "the file is empty" unless reading ``filename`` already failed (binary, damaged)."""
    if not any(item["location"].startswith(filename) for item in problems.items):
        problems.add(f"{filename} line 1", "the file is empty")


def _header(
    filename: str, lines: Iterator[tuple[int, str]], expected: list[str], problems: Problems
) -> bool:
    """Check the first line is the header ``expected``; return whether it is."""
    first = next(lines, None)
    if first is None:
        _empty(filename, problems)
        return False
    number, text = first
    found = [cell.strip() for cell in next(csv.reader([text]))]
    if found != expected:
        problems.add(
            f"{filename} line {number}",
            f"expected the header {','.join(expected)!r}, found {text[:100]!r}",
        )
        return False
    return True


def split_title(title: str) -> tuple[str, int | None]:
    """Return ("Toy Story", 1995) for "Toy Story (1995)"; the year is None when absent."""
    match = TITLE_YEAR.fullmatch(title)
    if match is None:
        return title.strip(), None
    return match["title"].strip(), int(match["year"])


def natural_title(title: str) -> str:
    """Return "The Shawshank Redemption" for "Shawshank Redemption, The"; others unchanged."""
    match = ARTICLE_AT_END.fullmatch(title)
    if match is None:
        return title
    article = match["article"]
    joiner = "" if article.endswith("'") else " "
    return f"{article}{joiner}{match['rest']}{match['alt'] or ''}"


def _movie(
    location: str, external_id: str, title: str, year: int | None, genres: list[str]
) -> DatasetMovie:
    names = tuple(dict.fromkeys(g.strip() for g in genres if g.strip() and g not in NO_GENRE))
    return DatasetMovie(location, external_id.strip(), natural_title(title.strip()), year, names)


def _movies_100k(
    files: DatasetFiles, layout: Layout, problems: Problems, counter: list[int]
) -> Iterator[DatasetMovie]:
    genres = list(ML100K_GENRES)
    if "u.genre" in files.sizes:
        named = {}
        for number, text in _lines(files, "u.genre", layout.encoding, problems, counter):
            if (fields := _split("u.genre", number, text, "|", 2, problems)) is not None:
                named[fields[1]] = fields[0]
        genres = [named.get(str(index), name) for index, name in enumerate(ML100K_GENRES)]
    flags_at = 5
    for number, text in _lines(files, layout.movies, layout.encoding, problems, counter):
        fields = _split(layout.movies, number, text, "|", flags_at + len(genres), problems)
        if fields is None:
            continue
        location = f"{layout.movies} line {number}"
        flags = fields[flags_at:]
        if any(flag not in ("0", "1") for flag in flags):
            problems.add(location, f"genre flags must be 0 or 1, got {'|'.join(flags)!r}")
            continue
        title, year = split_title(fields[1])
        if year is None and (date := ML100K_DATE.fullmatch(fields[2].strip())):
            year = int(date["year"])
        chosen = [name for name, flag in zip(genres, flags, strict=True) if flag == "1"]
        yield _movie(location, fields[0], title, year, chosen)


def _movies_1m(
    files: DatasetFiles, layout: Layout, problems: Problems, counter: list[int]
) -> Iterator[DatasetMovie]:
    for number, text in _lines(files, layout.movies, layout.encoding, problems, counter):
        if (fields := _split(layout.movies, number, text, "::", 3, problems)) is not None:
            title, year = split_title(fields[1])
            location = f"{layout.movies} line {number}"
            yield _movie(location, fields[0], title, year, fields[2].split("|"))


def _movies_latest(
    files: DatasetFiles, layout: Layout, problems: Problems, counter: list[int]
) -> Iterator[DatasetMovie]:
    lines = _lines(files, layout.movies, layout.encoding, problems, counter)
    if not _header(layout.movies, lines, ["movieId", "title", "genres"], problems):
        return
    for number, text in lines:
        location = f"{layout.movies} line {number}"
        try:
            fields = next(csv.reader([text], strict=True))
        except csv.Error as error:
            problems.add(location, f"malformed CSV: {error}")
            continue
        if len(fields) != 3:
            problems.add(location, f"expected 3 comma-separated fields, found {len(fields)}")
            continue
        title, year = split_title(fields[1])
        yield _movie(location, fields[0], title, year, fields[2].split("|"))


def _recbole_columns(
    filename: str, lines: Iterator[tuple[int, str]], required: list[str], problems: Problems
) -> dict[str, int] | None:
    """Return column name -> index of a typed RecBole header, or None after a problem."""
    first = next(lines, None)
    if first is None:
        _empty(filename, problems)
        return None
    number, text = first
    columns = {}
    for index, cell in enumerate(text.split("\t")):
        name, _, kind = cell.partition(":")
        if not kind:
            problems.add(
                f"{filename} line {number}",
                f"header field {cell!r} has no type: expected NAME:TYPE like 'user_id:token'",
            )
            return None
        if name.strip() in columns:
            problems.add(f"{filename} line {number}", f"duplicated column {name.strip()!r}")
            return None
        columns[name.strip()] = index
    missing = [name for name in required if name not in columns]
    if missing:
        problems.add(
            f"{filename} line {number}",
            f"the header lacks {', '.join(missing)}: found {text[:100]!r}",
        )
        return None
    return columns


def _movies_recbole(
    files: DatasetFiles, layout: Layout, problems: Problems, counter: list[int]
) -> Iterator[DatasetMovie]:
    lines = _lines(files, layout.movies, layout.encoding, problems, counter)
    columns = _recbole_columns(layout.movies, lines, ["item_id", "movie_title"], problems)
    if columns is None:
        return
    for number, text in lines:
        fields = _split(layout.movies, number, text, "\t", len(columns), problems)
        if fields is None:
            continue
        location = f"{layout.movies} line {number}"
        title, year = split_title(fields[columns["movie_title"]])
        notes = []
        if "release_year" in columns and (given := fields[columns["release_year"]].strip()):
            if re.fullmatch(r"\d{4}", given):
                year = int(given)
            else:
                # ML-100K's RecBole files say "unkonwn" and "V" here: dirt, not a reason to refuse.
                notes.append(f"release_year {given!r} is not a year: ignored")
        genres = fields[columns["class"]].split() if "class" in columns else []
        movie = _movie(location, fields[columns["item_id"]], title, year, genres)
        movie.notes = notes
        yield movie


def _ratings_split(
    files: DatasetFiles,
    layout: Layout,
    separator: str,
    header: list[str] | None,
    problems: Problems,
    counter: list[int],
) -> Iterator[RatingFields]:
    filename = layout.ratings
    lines = _lines(files, filename, layout.encoding, problems, counter)
    if header is not None and not _header(filename, lines, header, problems):
        return
    for number, text in lines:
        fields = text.split(separator)
        if len(fields) == 4:
            yield number, *fields
        else:  # _split words the problem.
            _split(filename, number, text, separator, 4, problems)


def _whole_ids(location: str, user: str, item: str, problems: Problems) -> bool:
    """Return whether both ids of a MovieLens line are whole numbers; add a problem if not."""
    ok = True
    for what, value in (("user id", user), ("movie id", item)):
        if not WHOLE_ID.fullmatch(value):
            problems.add(location, f"{what} must be a whole number, got {value[:40]!r}")
            ok = False
    return ok


def _ratings_recbole(
    files: DatasetFiles, layout: Layout, problems: Problems, counter: list[int]
) -> Iterator[RatingFields]:
    filename = layout.ratings
    lines = _lines(files, filename, layout.encoding, problems, counter)
    columns = _recbole_columns(filename, lines, ["user_id", "item_id", "rating"], problems)
    if columns is None:
        return
    user, item, rating = columns["user_id"], columns["item_id"], columns["rating"]
    stamp = columns.get("timestamp")
    width = len(columns)
    for number, text in lines:
        fields = text.split("\t")
        if len(fields) != width:
            _split(filename, number, text, "\t", width, problems)
            continue
        yield (
            number,
            fields[user],
            fields[item],
            fields[rating],
            None if stamp is None else fields[stamp],
        )


MOVIE_PARSERS = {
    "100k": _movies_100k,
    "1m": _movies_1m,
    "latest": _movies_latest,
    "recbole": _movies_recbole,
}


def rating_lines(
    files: DatasetFiles, layout: Layout, problems: Problems, counter: list[int]
) -> Iterator[RatingFields]:
    """Yield the ratings file's lines one at a time (never the whole file)."""
    if layout.name == "100k":
        return _ratings_split(files, layout, "\t", None, problems, counter)
    if layout.name == "1m":
        return _ratings_split(files, layout, "::", None, problems, counter)
    if layout.name == "latest":
        header = ["userId", "movieId", "rating", "timestamp"]
        return _ratings_split(files, layout, ",", header, problems, counter)
    return _ratings_recbole(files, layout, problems, counter)


# --------------------------------------------------------------------------------------------
# Validation of one rating line
# --------------------------------------------------------------------------------------------


def _check_id(location: str, what: str, value: str, problems: Problems) -> str | None:
    value = value.strip()
    if not EXTERNAL_ID.fullmatch(value):
        problems.add(location, f"{what} must be an id of 1 to {MAX_EXTERNAL_ID} characters")
        return None
    return value


def _check_rating(location: str, text: str, scale: RatingScale, problems: Problems) -> float | None:
    text = text.strip()
    if not NUMBER.fullmatch(text) or not math.isfinite(value := float(text)):
        problems.add(location, f"rating must be a number, got {text[:40]!r}")
        return None
    if not 0 < value <= 10:
        problems.add(location, f"rating must be greater than 0 and at most 10, got {value:g}")
        return None
    if (problem := scale.problem(value)) is not None:
        problems.add(location, problem)
        return None
    return value


def _check_timestamp(location: str, text: str | None, problems: Problems) -> dt.datetime | None:
    if text is None:
        return None
    text = text.strip()
    try:
        seconds = float(text) if NUMBER.fullmatch(text) else math.nan
        # A rating cannot predate 1970 (MovieLens began in 1997) nor be given tomorrow.
        if not 0 <= seconds <= time.time() + 86400:
            raise ValueError
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (ValueError, OverflowError, OSError):
        problems.add(
            location, f"timestamp must be seconds since 1970, up to now, got {text[:40]!r}"
        )
        return None


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@dataclass
class MovieLensReport:
    run_id: int
    kind: str
    filename: str
    status: str
    layout: str
    dataset: str
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """Return the lines saying what the import did."""
        c = self.counts
        return (
            f"Imported {self.filename} ({self.layout} layout, dataset {self.dataset}):\n"
            f"  movies: {c['movies_matched_catalogue']:,} matched with the catalogue, "
            f"{c['movies_inserted']:,} inserted, {c['movies_known']:,} known from an earlier "
            f"import, {c['movies_merged']:,} merged as duplicates\n"
            f"  users: {c['users_inserted']:,} inserted, {c['users_existing']:,} existing\n"
            f"  ratings: {c['ratings_inserted']:,} inserted, {c['ratings_updated']:,} updated, "
            f"{c['ratings_unchanged']:,} unchanged, {c['ratings_merged']:,} merged "
            f"(one user, two ids of one movie)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return asdict(self)


def _match_key(title: str, year: int | None) -> tuple[str, int | None]:
    return (natural_title(title).casefold(), year)


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; every timestamp here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# A rating's time as the loop keeps it: whole seconds since 1970 (the usual line, read without
# building a datetime), a datetime (fractional or unusual text), or None (the layout has none).
Stamp = int | dt.datetime | None
# SQLAlchemy's SQLite storage text of a DateTime with no microseconds, made by SQLite from
# whole seconds: byte-for-byte what the bind processor writes, at a fraction of the cost of a
# datetime per row in Python (and cheaper than strftime()).
SQLITE_WHOLE_SECONDS = "datetime(?, 'unixepoch') || '.000000'"
# Fewer rows than this go through executemany on PostgreSQL: COPY's setup is not worth it.
COPY_MIN_ROWS = 100
RATING_COLUMNS = "user_id, movie_id, rating, rated_at"


def _as_datetime(stamp: int | dt.datetime) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, dt.UTC) if type(stamp) is int else stamp


class _Writer:
    """Write one dataset's movies, users and ratings; counts go into ``counts``.

    Everything goes through Core statements or the DBAPI cursor of the session's connection,
    inside the session's one transaction: the ORM's unit of work costs more per row than the
    database does.
    """

    def __init__(self, session: Session, dataset: str, batch_size: int) -> None:
        self.session = session
        self.dataset = dataset
        self.batch_size = batch_size
        self.now = utcnow()
        self.counts = dict.fromkeys(
            (
                "movies_matched_catalogue",
                "movies_inserted",
                "movies_known",
                "movies_merged",
                "users_inserted",
                "users_existing",
                "ratings_inserted",
                "ratings_updated",
                "ratings_unchanged",
                "ratings_merged",
                "rating_lines",
            ),
            0,
        )
        self.notes: list[dict[str, Any]] = []
        self.movie_of_item: dict[str, int] = {}
        self.merged_movies: set[int] = set()
        users = sa.select(User.external_id, User.id).where(User.source == dataset)
        self.user_ids: dict[str, int] = {
            external: user_id for external, user_id in session.execute(users)
        }
        # Users this import created: their ratings cannot be in the database from before.
        self.new_user_ids: set[int] = set()
        self.seen_users: set[str] = set()
        self.changed_users: set[int] = set()
        dialect = session.get_bind().dialect
        self.dialect_name = dialect.name
        self.placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        rated_at = Rating.__table__.c.rated_at.type
        self._bind_stamp = rated_at.dialect_impl(dialect).bind_processor(dialect)
        self._read_stamp = rated_at.dialect_impl(dialect).result_processor(dialect, None)
        self._integrity_errors: tuple[type[Exception], ...] = (sa.exc.IntegrityError,)
        if dialect.loaded_dbapi is not None:  # COPY raises the driver's error, not SQLAlchemy's
            self._integrity_errors += (dialect.loaded_dbapi.IntegrityError,)

    def db_stamp(self, stamp: Stamp) -> Any:
        """Return ``stamp`` (None: now) as the DBAPI parameter of ``ratings.rated_at``."""
        value = self.now if stamp is None else _as_datetime(stamp)
        return value if self._bind_stamp is None else self._bind_stamp(value)

    # --- movies -------------------------------------------------------------------------------

    def write_movies(self, movies: list[DatasetMovie]) -> None:
        """Map every dataset movie to a movie row: linked before, matched, merged or new."""
        session = self.session
        links = sa.select(MovieExternalId.external_id, MovieExternalId.movie_id).where(
            MovieExternalId.source == self.dataset
        )
        linked = {external: movie_id for external, movie_id in session.execute(links)}
        catalogue = {
            _match_key(title, year): movie_id
            for movie_id, title, year in session.execute(
                sa.select(Movie.id, Movie.title, Movie.year)
            )
        }
        # The first dataset movie of each movie row (by id, or by key for rows not yet written).
        first_of: dict[int, DatasetMovie] = {}
        new_by_key: dict[tuple[str, int | None], DatasetMovie] = {}
        pending: list[tuple[DatasetMovie, tuple[str, int | None]]] = []
        new_links: list[tuple[str, int]] = []
        for movie in movies:
            key = _match_key(movie.title, movie.year)
            movie_id = linked.get(movie.external_id) or catalogue.get(key)
            if movie_id is None:
                if key in new_by_key:
                    self._note_merge(movie, new_by_key[key])
                else:
                    new_by_key[key] = movie
                    self.counts["movies_inserted"] += 1
                pending.append((movie, key))
                continue
            if movie.external_id not in linked:
                new_links.append((movie.external_id, movie_id))
            if movie_id in first_of:
                self._note_merge(movie, first_of[movie_id])
            else:
                first_of[movie_id] = movie
                known = movie.external_id in linked
                self.counts["movies_known" if known else "movies_matched_catalogue"] += 1
            self.movie_of_item[movie.external_id] = movie_id
        id_of_key = self._insert_movies(new_by_key)
        for movie, key in pending:
            self.movie_of_item[movie.external_id] = id_of_key[key]
            new_links.append((movie.external_id, id_of_key[key]))
        self._executemany(
            "movie_external_ids (source, external_id, movie_id)",
            [(self.dataset, external_id, movie_id) for external_id, movie_id in new_links],
        )
        seen: set[int] = set()
        for movie_id in self.movie_of_item.values():
            if movie_id in seen:
                self.merged_movies.add(movie_id)
            seen.add(movie_id)

    def _insert_movies(
        self, new_by_key: dict[tuple[str, int | None], DatasetMovie]
    ) -> dict[tuple[str, int | None], int]:
        """Insert one movie row per key with its genres; return key -> new movie id."""
        if not new_by_key:
            return {}
        connection = self.session.connection()
        movies = Movie.__table__
        statement = sa.insert(movies).returning(movies.c.id, sort_by_parameter_order=True)
        rows = [{"title": m.title, "year": m.year} for m in new_by_key.values()]
        ids = connection.execute(statement, rows).scalars().all()
        id_of_key = dict(zip(new_by_key, ids, strict=True))
        genre_ids = self._genre_ids({name for m in new_by_key.values() for name in m.genres})
        links = [
            (movie_id, genre_id)
            for movie_id, movie in zip(ids, new_by_key.values(), strict=True)
            # Two spellings of one genre ("Drama", "drama") are one link.
            for genre_id in dict.fromkeys(genre_ids[name.casefold()] for name in movie.genres)
        ]
        self._executemany(f"{movie_genres.name} (movie_id, genre_id)", links)
        return id_of_key

    def _executemany(self, into: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` into ``into`` ("table (columns)") with the driver's executemany."""
        if rows:
            values = ", ".join([self.placeholder] * len(rows[0]))
            self.session.connection().exec_driver_sql(f"INSERT INTO {into} VALUES ({values})", rows)

    def _genre_ids(self, names: set[str]) -> dict[str, int]:
        """Return casefolded name -> genre id for ``names``, creating the missing genres."""
        connection = self.session.connection()
        genres = Genre.__table__
        ids = {
            name.casefold(): genre_id
            for genre_id, name in connection.execute(sa.select(genres.c.id, genres.c.name))
        }
        missing = list(
            {name.casefold(): name for name in sorted(names) if name.casefold() not in ids}.values()
        )
        if missing:
            statement = sa.insert(genres).returning(genres.c.id, sort_by_parameter_order=True)
            created = connection.execute(statement, [{"name": name} for name in missing])
            for name, genre_id in zip(missing, created.scalars().all(), strict=True):
                ids[name.casefold()] = genre_id
        return ids

    def _note_merge(self, movie: DatasetMovie, first: DatasetMovie) -> None:
        self.counts["movies_merged"] += 1
        if len(self.notes) < 100:
            message = (
                f"movie {movie.external_id} ({movie.title!r}, {movie.year}) is the same movie "
                f"as {first.external_id} ({first.location}): their ratings rate one movie"
            )
            self.notes.append({"kind": "merged", "location": movie.location, "message": message})

    # --- users --------------------------------------------------------------------------------

    def create_users(self, first_lines: dict[str, str], problems: Problems) -> bool:
        """Create the users ``first_lines`` names (external id -> where first seen).

        Return False after a problem: a username already taken by another account.
        """
        if not first_lines:
            return True
        new = sorted(first_lines)
        names = {f"{self.dataset}-{external}": external for external in new}
        taken = self.session.scalars(sa.select(User.username).where(User.username.in_(names)))
        ok = True
        for username in taken:
            external = names[username]
            problems.add(
                first_lines[external],
                f"user {external} would be {username!r}, a name already taken",
            )
            ok = False
        if not ok:
            return False
        users = User.__table__
        statement = sa.insert(users).returning(users.c.id, sort_by_parameter_order=True)
        rows = [
            {
                "username": username,
                "password_hash": None,  # No password: dataset users cannot sign in.
                "source": self.dataset,
                "external_id": external,
            }
            for username, external in names.items()
        ]
        ids = self.session.connection().execute(statement, rows).scalars().all()
        for external, user_id in zip(names.values(), ids, strict=True):
            self.user_ids[external] = user_id
            self.new_user_ids.add(user_id)
        self.counts["users_inserted"] += len(new)
        return True

    # --- ratings ------------------------------------------------------------------------------

    def write_batch(self, batch: dict[tuple[str, int], tuple[float, Stamp]]) -> None:
        """Write one batch of (external user id, movie id) -> (rating, time).

        Ratings of users this import created are inserted blind, with no lookup; the rest are
        looked up and inserted, updated or left. A pair repeated from an earlier batch of
        the same file meets the primary key in the blind insert: _RepeatedRating.
        """
        user_ids, new_user_ids = self.user_ids, self.new_user_ids
        fresh: list[tuple[int, int, float, Stamp]] = []
        known: dict[tuple[int, int], tuple[float, Stamp]] = {}
        for (user, movie_id), (rating, rated_at) in batch.items():
            user_id = user_ids[user]
            if user_id in new_user_ids:
                fresh.append((user_id, movie_id, rating, rated_at))
            else:
                known[(user_id, movie_id)] = (rating, rated_at)
        if fresh:
            try:
                self._insert_rows(fresh)
            except self._integrity_errors as error:
                raise _RepeatedRating from error
            self.counts["ratings_inserted"] += len(fresh)
        if known:
            self.write_ratings(known)

    def _insert_rows(self, rows: list[tuple[int, int, float, Stamp]]) -> None:
        """Insert (user_id, movie_id, rating, time) rows with no per-row work in SQLAlchemy.

        Rows go in key order, so the primary key's B-tree grows at its end instead of all
        over. PostgreSQL gets them by COPY; SQLite by the driver's executemany, turning whole
        seconds into SQLAlchemy's DateTime text itself (``strftime``), cheaper than Python.
        """
        rows.sort()
        connection = self.session.connection()
        if self.dialect_name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(f"COPY ratings ({RATING_COLUMNS}) FROM STDIN") as copy:
                for user_id, movie_id, rating, stamp in rows:
                    copy.write_row((user_id, movie_id, rating, self.db_stamp(stamp)))
            return
        values = ", ".join([self.placeholder] * 4)
        insert = f"INSERT INTO ratings ({RATING_COLUMNS}) VALUES ({values})"
        if self.dialect_name == "sqlite":
            whole = [row for row in rows if type(row[3]) is int]
            if whole:
                connection.exec_driver_sql(
                    f"INSERT INTO ratings ({RATING_COLUMNS}) VALUES (?, ?, ?, "
                    f"{SQLITE_WHOLE_SECONDS})",
                    whole,
                )
                if len(whole) == len(rows):
                    return
                rows = [row for row in rows if type(row[3]) is not int]
        db_stamp = self.db_stamp
        connection.exec_driver_sql(insert, [(u, m, r, db_stamp(t)) for u, m, r, t in rows])

    def write_ratings(self, batch: dict[tuple[int, int], tuple[float, Stamp]]) -> None:
        """Insert, update or leave each (user id, movie id) -> (rating, time) of ``batch``."""
        c = Rating.__table__.c
        existing = self._existing(sorted(batch))
        inserts, updates = [], []
        for key, (rating, stamp) in batch.items():
            old = existing.get(key)
            if old is None:
                inserts.append((key[0], key[1], rating, stamp))
                self.changed_users.add(key[0])
                continue
            rated_at = None if stamp is None else _as_datetime(stamp)
            if old[0] != rating or (rated_at is not None and old[1] != rated_at):
                updates.append({"u": key[0], "m": key[1], "r": rating, "t": rated_at or old[1]})
                self.changed_users.add(key[0])
            else:
                self.counts["ratings_unchanged"] += 1
        if inserts:
            self._insert_rows(inserts)
        if updates:
            statement = (
                sa.update(Rating.__table__)
                .where(c.user_id == sa.bindparam("u"), c.movie_id == sa.bindparam("m"))
                .values(rating=sa.bindparam("r"), rated_at=sa.bindparam("t"))
            )
            self.session.execute(statement, updates)
        self.counts["ratings_inserted"] += len(inserts)
        self.counts["ratings_updated"] += len(updates)

    def _existing(
        self, keys: list[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[float, dt.datetime]]:
        """Return (user id, movie id) -> (rating, rated_at) of the ``keys`` already stored.

        One primary-key probe per key, joined from the keys (an array on PostgreSQL, a VALUES
        list elsewhere): ``(user_id, movie_id) IN (...)`` made SQLite scan the whole table
        per query, which made a re-import five times slower than the import itself.
        """
        connection = self.session.connection()
        columns = "r.user_id, r.movie_id, r.rating, r.rated_at"
        on = "r.user_id = k.u AND r.movie_id = k.m"
        if self.dialect_name == "postgresql":
            query = (
                f"SELECT {columns} FROM unnest(%s::integer[], %s::integer[]) AS k(u, m) "
                f"JOIN ratings r ON {on}"
            )
            users, movies = [key[0] for key in keys], [key[1] for key in keys]
            chunks = [(users, movies)] if keys else []
        else:
            # 450 pairs: 900 parameters, under SQLite's oldest limit of 999.
            chunks = [tuple(x for key in chunk for x in key) for chunk in _chunks(keys, 450)]
        existing: dict[tuple[int, int], tuple[float, dt.datetime]] = {}
        for params in chunks:
            if self.dialect_name != "postgresql":
                pairs = ", ".join(
                    [f"({self.placeholder}, {self.placeholder})"] * (len(params) // 2)
                )
                query = f"WITH k(u, m) AS (VALUES {pairs}) SELECT {columns} FROM k "
                query += f"JOIN ratings r ON {on}"
            for user_id, movie_id, rating, rated_at in connection.exec_driver_sql(query, params):
                if self._read_stamp is not None:
                    rated_at = self._read_stamp(rated_at)
                existing[(user_id, movie_id)] = (rating, _utc(rated_at))
        return existing

    def bump_versions(self) -> None:
        """Bump ``ratings_version`` of every user whose ratings changed (caches invalidate)."""
        for chunk in _chunks(sorted(self.changed_users | self.new_user_ids), 500):
            self.session.execute(
                sa.update(User)
                .where(User.id.in_(chunk))
                .values(ratings_version=User.ratings_version + 1)
            )
        self.counts["users_existing"] = len(self.seen_users) - self.counts["users_inserted"]


def _later_first(rated_at: Stamp) -> dt.datetime:
    """Return the sort key of a timestamp; a missing one sorts first."""
    return dt.datetime.min.replace(tzinfo=dt.UTC) if rated_at is None else _as_datetime(rated_at)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_movies(files: DatasetFiles, layout: Layout, problems: Problems) -> list[DatasetMovie]:
    movies = []
    seen: dict[str, str] = {}
    for movie in MOVIE_PARSERS[layout.name](files, layout, problems, [0]):
        if _check_id(movie.location, "movie id", movie.external_id, problems) is None:
            continue
        if layout.name != "recbole" and not WHOLE_ID.fullmatch(movie.external_id):
            problems.add(
                movie.location, f"movie id must be a whole number, got {movie.external_id!r}"
            )
            continue
        if (first := seen.setdefault(movie.external_id, movie.location)) != movie.location:
            problems.add(movie.location, f"movie id {movie.external_id} repeats {first}")
            continue
        if not movie.title or len(movie.title) > 300:
            problems.add(movie.location, "the title must have 1 to 300 characters")
            continue
        movies.append(movie)
    return movies


def _movie_notes(movies: list[DatasetMovie]) -> list[dict[str, Any]]:
    """Return the notes of ``movies`` in the shape stored on the import run."""
    return [
        {"kind": "corrected", "location": movie.location, "message": message}
        for movie in movies
        for message in movie.notes
    ]


# The loop's marker for a timestamp its fast path did not read (the full check reads it).
_UNREAD = object()


def _import_ratings(
    files: DatasetFiles,
    layout: Layout,
    writer: _Writer,
    scale: RatingScale,
    problems: Problems,
    progress: Progress | None,
) -> None:
    """Stream the ratings: validate every line, write in batches until the first problem.

    The loop is the import's hot path (25 million lines for the 25M layout), so it first tries
    dictionary look-ups of values already seen valid (user ids, movie ids, rating texts) and
    reads plain whole-second timestamps directly; any other line goes through the full checks,
    in their usual order and with their usual messages. Memory stays at one batch plus the
    id maps, whatever the file's size.
    """
    counter = [0]
    total = files.sizes[layout.ratings]
    filename = layout.ratings
    batch: dict[tuple[str, int], tuple[float, Stamp]] = {}
    # Users of the batch with no account yet -> the location of their first line.
    new_users: dict[str, str] = {}
    # A user's ratings of two dataset ids of one movie: the latest wins, written at the end.
    held: dict[tuple[str, int], tuple[float, Stamp]] = {}
    movie_of_item, merged, user_ids = writer.movie_of_item, writer.merged_movies, writer.user_ids
    valid_users: dict[str, str] = {}  # raw text -> checked id
    valid_ratings: dict[str, float] = {}  # raw text -> value
    batch_size = writer.batch_size
    lines_in_batch = lines = 0
    # RecBole ids are tokens; the MovieLens layouts number users and movies.
    whole_ids = layout.name != "recbole"

    def flush() -> None:
        if batch and not problems.items and writer.create_users(new_users, problems):
            writer.write_batch(batch)
        batch.clear()
        new_users.clear()
        if progress is not None:
            progress(counter[0], total)

    for number, user_text, item_text, rating_text, stamp_text in rating_lines(
        files, layout, problems, counter
    ):
        lines += 1
        user = valid_users.get(user_text)
        movie_id = movie_of_item.get(item_text)
        rating = valid_ratings.get(rating_text)
        if stamp_text is None:
            rated_at: Any = None
        elif stamp_text.isdigit() and stamp_text.isascii() and len(stamp_text) <= 11:
            rated_at = int(stamp_text)  # At most 11 digits: always a valid time.
        else:
            rated_at = _UNREAD
        if user is None or movie_id is None or rating is None or rated_at is _UNREAD:
            location = f"{filename} line {number}"
            if whole_ids and not _whole_ids(location, user_text, item_text, problems):
                continue
            user = _check_id(location, "user id", user_text, problems)
            item = _check_id(location, "movie id", item_text, problems)
            rating = _check_rating(location, rating_text, scale, problems)
            if rated_at is _UNREAD:
                rated_at = _check_timestamp(location, stamp_text, problems)
            if item is not None and item not in movie_of_item:
                problems.add(location, f"movie id {item} is not in {layout.movies}")
                continue
            if user is not None:
                valid_users[user_text] = user
            if rating is not None:
                valid_ratings[rating_text] = rating
            if user is None or item is None or rating is None:
                continue
            movie_id = movie_of_item[item]
        if merged and movie_id in merged:
            key = (user, movie_id)
            if key in held:
                writer.counts["ratings_merged"] += 1
                if _later_first(held[key][1]) > _later_first(rated_at):
                    continue
            held[key] = (rating, rated_at)
            continue
        if not problems.items:  # Once refused, only the checks go on.
            if (user, movie_id) in batch:
                problems.add(
                    f"{filename} line {number}",
                    f"user {user} rated movie {item_text.strip()} on an earlier line too",
                )
                continue
            batch[(user, movie_id)] = (rating, rated_at)
            if user not in user_ids and user not in new_users:
                new_users[user] = f"{filename} line {number}"
        lines_in_batch += 1
        if lines_in_batch >= batch_size:
            flush()
            lines_in_batch = 0
    flush()
    writer.counts["rating_lines"] += lines
    writer.seen_users.update(valid_users.values())
    if held and not problems.items:
        first_lines = {user: filename for user, _ in held if user not in user_ids}
        if writer.create_users(first_lines, problems):
            writer.write_ratings(
                {(user_ids[user], movie_id): value for (user, movie_id), value in held.items()}
            )


def import_movielens(
    session: Session,
    source: str | Path | BinaryIO,
    *,
    scale: RatingScale,
    layout: str = "auto",
    filename: str | None = None,
    admin_id: int | None = None,
    progress: Progress | None = None,
    batch_size: int = 5000,
) -> MovieLensReport:
    """Import a MovieLens dataset (folder or zip) as a whole, or refuse it with its problems.

    Ratings must lie on ``scale``. Commits ``session`` like ``import_catalogue``: the
    run first, then everything in one transaction; a refusal writes nothing but the failed run.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(source, str):
        source = Path(source)
    name = filename or (source.name if isinstance(source, Path) else "upload.zip")
    with tracked_run(session, KIND, name, admin_id) as run, ExitStack() as stack:
        problems = Problems()
        try:
            files = open_dataset(source, name, stack)
            chosen = choose_layout(files, layout)
        except _DatasetRefused as error:
            problem = {"location": error.location, "message": error.message}
            raise refusal(name, [problem], False) from None
        dataset = _dataset_name(chosen, files)
        writer = _Writer(session, dataset, batch_size)
        try:
            movies = _read_movies(files, chosen, problems)
            if not problems.items:
                writer.write_movies(movies)
                writer.notes[:0] = _movie_notes(movies)
                _import_ratings(files, chosen, writer, scale, problems, progress)
            if not problems.items and writer.counts["rating_lines"] == 0:
                problems.add(chosen.ratings, "no ratings in the file")
        except TooManyProblems:
            pass
        except _RepeatedRating:
            message = "a user rates one movie on two lines (further apart than one batch)"
            problems.items.append({"location": chosen.ratings, "message": message})
        if problems.items:
            raise refusal(name, problems.items, problems.truncated)
        writer.bump_versions()
        report = MovieLensReport(run.id, KIND, name, "succeeded", chosen.name, dataset)
        report.counts = writer.counts
        finish_run(session, run, writer.counts, writer.notes)
    return report

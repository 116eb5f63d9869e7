"""Dataset layouts: one ``Layout`` class per format, registered in ``LAYOUTS``.

A layout knows its files (and so whether a dataset is in it), their encoding, whether its ids
are whole numbers, the dataset name its users get, and how to read its movies and its ratings
line by line. The CLI's ``--layout`` choices, the refusals that say what was looked for and the
README's layout table are all generated from ``LAYOUTS``: adding a format is one ``@register``
class (``tests/services/test_movielens_layouts.py`` adds a made-up one).

Readers never build the whole file: movies come as ``DatasetMovie`` values and ratings as
``RatingFields`` tuples, each with its line number, and every problem goes to ``problems``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

from recommender.importers.movielens.sources import DatasetFiles, DatasetRefused
from recommender.importers.problems import Problems
from recommender.importers.text import repair_text

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

# Separators a line may hold when it was split by the wrong one, for the hint.
SEPARATORS = ("\t", ",", ";", "::", "|")


@dataclass
class DatasetMovie:
    location: str
    external_id: str
    title: str
    year: int | None
    genres: tuple[str, ...]
    # What was ignored or corrected on the way, for the run's notes.
    notes: list[str] = field(default_factory=list)
    # The title as the file has it when it was mis-decoded ("AmÃ©lie") and ``title`` repaired.
    mis_decoded_title: str | None = None


# One ratings line as read: (line number, user id, movie id, rating, timestamp or None), raw
# text. A plain tuple, not an object: the 25M layout yields 25 million of them.
RatingFields = tuple[int, str, str, str, str | None]


# --------------------------------------------------------------------------------------------
# Helpers the layouts share
# --------------------------------------------------------------------------------------------


def split_fields(
    filename: str, number: int, text: str, separator: str, count: int, problems: Problems
) -> list[str] | None:
    """Return the ``count`` fields of a line, or None after a problem."""
    fields = text.split(separator)
    if len(fields) != count:
        others = [s for s in SEPARATORS if s not in separator and s in text]
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


def empty_file(filename: str, problems: Problems) -> None:
    """Add "the file is empty" unless reading ``filename`` already failed (binary, damaged)."""
    if not any(item["location"].startswith(filename) for item in problems.items):
        problems.add(f"{filename} line 1", "the file is empty")


def check_header(
    filename: str, lines: Iterator[tuple[int, str]], expected: list[str], problems: Problems
) -> bool:
    """Check the first line is the header ``expected``; return whether it is."""
    first = next(lines, None)
    if first is None:
        empty_file(filename, problems)
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


def dataset_movie(
    location: str, external_id: str, title: str, year: int | None, genres: list[str]
) -> DatasetMovie:
    names = tuple(dict.fromkeys(g.strip() for g in genres if g.strip() and g not in NO_GENRE))
    title = title.strip()
    repaired = repair_text(title)
    movie = DatasetMovie(location, external_id.strip(), natural_title(repaired), year, names)
    if repaired != title:
        movie.mis_decoded_title = title
    return movie


def _recbole_columns(
    filename: str, lines: Iterator[tuple[int, str]], required: list[str], problems: Problems
) -> dict[str, int] | None:
    """Return column name -> index of a typed RecBole header, or None after a problem."""
    first = next(lines, None)
    if first is None:
        empty_file(filename, problems)
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


# --------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------


class Layout:
    """A dataset format; an instance is that format found in one dataset, with its file names.

    A subclass sets the class attributes and ``read_movies``; the default ``read_ratings``
    splits ``ratings_file`` by ``separator`` into user, movie, rating (and timestamp) after an
    optional ``ratings_header``, and the default ``candidates`` looks for the two fixed names.
    """

    name: ClassVar[str]
    # The two files by name, as messages show them ("NAME.inter" for a pattern).
    ratings_file: ClassVar[str]
    movies_file: ClassVar[str]
    encoding: ClassVar[str]
    separator: ClassVar[str] = "\t"
    ratings_header: ClassVar[tuple[str, ...] | None] = None
    # Whether the ratings file's fourth field is a timestamp (none: three fields).
    timestamps: ClassVar[bool] = True
    # MovieLens numbers its users and movies; other formats may use free tokens.
    whole_ids: ClassVar[bool] = True
    # Reading ratings alone (evaluation), a folder holding this layout and another reads this.
    preferred_for_ratings: ClassVar[bool] = False
    # Files read when present, the releases the layout also covers, and what is special about
    # it: for the README's table.
    optional_files: ClassVar[tuple[str, ...]] = ()
    covers: ClassVar[str] = ""
    description: ClassVar[str]

    def __init__(self, ratings: str, movies: str) -> None:
        self.ratings = ratings
        self.movies = movies

    @classmethod
    def candidates(cls, names: Collection[str], *, ratings_only: bool = False) -> list[Self]:
        """Return this layout once for each way ``names`` holds its files (the movies file is
        not needed with ``ratings_only``)."""
        if cls.ratings_file in names and (ratings_only or cls.movies_file in names):
            return [cls(cls.ratings_file, cls.movies_file)]
        return []

    @classmethod
    def find(cls, names: Collection[str]) -> Self | None:
        """Return this layout in ``names`` if it is there exactly once, else None."""
        found = cls.candidates(names)
        return found[0] if len(found) == 1 else None

    @classmethod
    def needs(cls) -> str:
        """Return the files this layout needs, as refusals word them: "u.data + u.item (100k)"."""
        return f"{cls.ratings_file} + {cls.movies_file} ({cls.name})"

    def dataset_name(self, files: DatasetFiles) -> str:
        """Return the dataset's name: the users' source and their usernames' prefix."""
        return re.sub(r"[^A-Za-z0-9._-]", "-", self._dataset_name(files))[:30]

    def _dataset_name(self, files: DatasetFiles) -> str:
        return f"ml-{self.name}"

    def read_movies(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[DatasetMovie]:
        """Yield the movies file's movies one at a time."""
        raise NotImplementedError

    def read_ratings(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[RatingFields]:
        """Yield the ratings file's lines one at a time (never the whole file)."""
        filename, separator = self.ratings, self.separator
        lines = files.lines(filename, self.encoding, problems, counter)
        if self.ratings_header is not None and not check_header(
            filename, lines, list(self.ratings_header), problems
        ):
            return
        width, missing = (4, ()) if self.timestamps else (3, (None,))
        for number, text in lines:
            fields = text.split(separator)
            if len(fields) == width:
                yield number, *fields, *missing
            else:  # split_fields words the problem.
                split_fields(filename, number, text, separator, width, problems)

    def rows(
        self,
        files: DatasetFiles,
        filename: str,
        count: int,
        problems: Problems,
        counter: list[int],
        separator: str | None = None,
    ) -> Iterator[tuple[str, list[str]]]:
        """Yield (location, fields) of each line of ``filename`` that splits into ``count``."""
        separator = self.separator if separator is None else separator
        for number, text in files.lines(filename, self.encoding, problems, counter):
            fields = split_fields(filename, number, text, separator, count, problems)
            if fields is not None:
                yield f"{filename} line {number}", fields


LAYOUTS: dict[str, type[Layout]] = {}


def register(layout: type[Layout]) -> type[Layout]:
    """Add ``layout`` to ``LAYOUTS`` (messages and the README list them in this order)."""
    LAYOUTS[layout.name] = layout
    return layout


@register
class MovieLens100K(Layout):
    name = "100k"
    ratings_file, movies_file = "u.data", "u.item"
    encoding = "latin-1"
    optional_files = ("u.genre",)
    description = "tab / `\\|`-separated, Latin-1, 19 genre flags"
    # u.item's fields before its genre flags.
    FLAGS_AT = 5

    def read_movies(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[DatasetMovie]:
        """Yield u.item's movies, their genres named by u.genre when the dataset has it."""
        genres = list(ML100K_GENRES)
        if "u.genre" in files.sizes:  # It names the genre flags; the defaults otherwise.
            named = {
                fields[1]: fields[0]
                for _, fields in self.rows(files, "u.genre", 2, problems, counter, "|")
            }
            genres = [named.get(str(index), name) for index, name in enumerate(ML100K_GENRES)]
        count = self.FLAGS_AT + len(genres)
        for location, fields in self.rows(files, self.movies, count, problems, counter, "|"):
            flags = fields[self.FLAGS_AT :]
            if any(flag not in ("0", "1") for flag in flags):
                problems.add(location, f"genre flags must be 0 or 1, got {'|'.join(flags)!r}")
                continue
            title, year = split_title(fields[1])
            if year is None and (date := ML100K_DATE.fullmatch(fields[2].strip())):
                year = int(date["year"])
            chosen = [name for name, flag in zip(genres, flags, strict=True) if flag == "1"]
            yield dataset_movie(location, fields[0], title, year, chosen)


@register
class MovieLens1M(Layout):
    name = "1m"
    ratings_file, movies_file = "ratings.dat", "movies.dat"
    encoding = "latin-1"
    separator = "::"
    description = "`::`-separated, Latin-1"

    def read_movies(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[DatasetMovie]:
        """Yield movies.dat's movies: id::title (year)::genre|genre."""
        for location, fields in self.rows(files, self.movies, 3, problems, counter):
            title, year = split_title(fields[1])
            yield dataset_movie(location, fields[0], title, year, fields[2].split("|"))


@register
class MovieLensLatest(Layout):
    name = "latest"
    ratings_file, movies_file = "ratings.csv", "movies.csv"
    encoding = "utf-8"
    separator = ","
    ratings_header = ("userId", "movieId", "rating", "timestamp")
    covers = "also 20M/25M"
    description = "CSV with headers, UTF-8, half-star ratings"

    def _dataset_name(self, files: DatasetFiles) -> str:
        # ml-latest-small, ml-25m...: the folder or zip says which.
        return files.name if files.name.lower().startswith("ml-") else "ml-latest"

    def read_movies(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[DatasetMovie]:
        """Yield movies.csv's movies: a CSV with the header movieId,title,genres."""
        lines = files.lines(self.movies, self.encoding, problems, counter)
        if not check_header(self.movies, lines, ["movieId", "title", "genres"], problems):
            return
        for number, text in lines:
            location = f"{self.movies} line {number}"
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error as error:
                problems.add(location, f"malformed CSV: {error}")
                continue
            if len(fields) != 3:
                problems.add(location, f"expected 3 comma-separated fields, found {len(fields)}")
                continue
            title, year = split_title(fields[1])
            yield dataset_movie(location, fields[0], title, year, fields[2].split("|"))


@register
class RecBole(Layout):
    name = "recbole"
    ratings_file, movies_file = "NAME.inter", "NAME.item"
    encoding = "utf-8"
    whole_ids = False
    # Its typed header names the columns; RecBole's own benchmarks are computed on these files.
    preferred_for_ratings = True
    description = "RecBole atomic files with typed headers (`user_id:token ...`)"

    @classmethod
    def candidates(cls, names: Collection[str], *, ratings_only: bool = False) -> list[Self]:
        """Return one layout per NAME with a NAME.inter (and a NAME.item)."""
        stems = {Path(name).stem for name in names if name.endswith(".inter")}
        if not ratings_only:
            stems &= {Path(name).stem for name in names if name.endswith(".item")}
        return [cls(f"{stem}.inter", f"{stem}.item") for stem in sorted(stems)]

    def _dataset_name(self, files: DatasetFiles) -> str:
        return Path(self.ratings).stem

    def read_movies(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[DatasetMovie]:
        """Yield NAME.item's movies: item_id and movie_title, release_year and class if there."""
        lines = files.lines(self.movies, self.encoding, problems, counter)
        columns = _recbole_columns(self.movies, lines, ["item_id", "movie_title"], problems)
        if columns is None:
            return
        for number, text in lines:
            fields = split_fields(self.movies, number, text, "\t", len(columns), problems)
            if fields is None:
                continue
            location = f"{self.movies} line {number}"
            title, year = split_title(fields[columns["movie_title"]])
            notes = []
            if "release_year" in columns and (given := fields[columns["release_year"]].strip()):
                if re.fullmatch(r"\d{4}", given):
                    year = int(given)
                else:
                    # ML-100K's RecBole files say "unkonwn" and "V" here: dirt, not a refusal.
                    notes.append(f"release_year {given!r} is not a year: ignored")
            genres = fields[columns["class"]].split() if "class" in columns else []
            movie = dataset_movie(location, fields[columns["item_id"]], title, year, genres)
            movie.notes += notes
            yield movie

    def read_ratings(
        self, files: DatasetFiles, problems: Problems, counter: list[int]
    ) -> Iterator[RatingFields]:
        """Yield NAME.inter's lines: user_id, item_id, rating and timestamp if there."""
        filename = self.ratings
        lines = files.lines(filename, self.encoding, problems, counter)
        columns = _recbole_columns(filename, lines, ["user_id", "item_id", "rating"], problems)
        if columns is None:
            return
        user, item, rating = columns["user_id"], columns["item_id"], columns["rating"]
        stamp = columns.get("timestamp")
        width = len(columns)
        for number, text in lines:
            fields = text.split("\t")
            if len(fields) != width:
                split_fields(filename, number, text, "\t", width, problems)
                continue
            yield (
                number,
                fields[user],
                fields[item],
                fields[rating],
                None if stamp is None else fields[stamp],
            )


# --------------------------------------------------------------------------------------------
# Choosing a layout, and what the registry says about itself
# --------------------------------------------------------------------------------------------


def looked_for() -> str:
    """Return every layout's files, as a refusal says what it looked for."""
    return ", ".join(layout.needs() for layout in LAYOUTS.values())


def choose_layout(files: DatasetFiles, wanted: str) -> Layout:
    """Return the layout ``wanted`` (or the one that fits for "auto"); refuse otherwise."""
    found = ", ".join(sorted(files.sizes)) or "no files"
    if wanted == "auto":
        fitting = [chosen for layout in LAYOUTS.values() if (chosen := layout.find(files.sizes))]
        if len(fitting) > 1:
            names = ", ".join(layout.name for layout in fitting)
            raise DatasetRefused(
                "dataset", f"the files of several layouts are present ({names}): choose one"
            )
        if fitting:
            return fitting[0]
        if any(name.lower().endswith(".zip") for name in files.sizes):
            found += " (a zip inside the zip: import the inner zip itself)"
        raise DatasetRefused(
            "dataset", f"no MovieLens layout recognised: looked for {looked_for()}; found {found}"
        )
    if wanted not in LAYOUTS:
        raise DatasetRefused("dataset", f"unknown layout {wanted!r}: one of {', '.join(LAYOUTS)}")
    layout = LAYOUTS[wanted]
    chosen = layout.find(files.sizes)
    if chosen is None:
        raise DatasetRefused(
            "dataset",
            f"missing required files for layout {wanted}: needs {layout.needs()}; found {found}",
        )
    return chosen


def readme_table() -> str:
    """Return the README's table of layouts (a test checks README holds exactly this)."""
    rows = ["| layout | files read | notes |", "|---|---|---|"]
    for name, layout in LAYOUTS.items():
        covers = f" ({layout.covers})" if layout.covers else ""
        files = f"`{layout.ratings_file}`, `{layout.movies_file}`"
        if layout.optional_files:
            files += f" (+ {', '.join(f'`{extra}`' for extra in layout.optional_files)})"
        rows.append(f"| `{name}`{covers} | {files} | {layout.description} |")
    return "\n".join(rows) + "\n"

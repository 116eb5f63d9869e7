"""Import a movie catalogue (JSON or CSV) into the database, all or nothing.

The module has two halves that never mix:

* parsing: file bytes -> one ``_RawRecord`` per movie (field name -> raw value, with its
  location) from a format-specific reader, then ONE validation path that turns raw records into
  clean ``_Record`` values, skips, corrections or problems (``parse_catalogue``);
* writing: clean records -> ``Movie`` rows and genre links, upserted by (title, year)
  (``_write_records``).

Locations name where a thing is in the file: "record N" for the N-th object of a JSON list,
counted from 1 in file order; "line N" for a CSV row, N being the physical line of the file
where the row starts (the header is line 1); "file" for the file as a whole.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.importers.genres import movie_genres
from recommender.importers.limits import (
    DEFAULT_MAX_CATALOGUE_MOVIES,
    catalogue_limit_problem,
    too_many_in_file,
)
from recommender.importers.problems import Problems, TooManyProblems, refusal
from recommender.importers.runs import Progress, finish_run, tracked_run
from recommender.importers.text import NUMBER, binary_kind, encoding_hint, repair_text
from recommender.models import Genre, ImportStatus, Movie, utcnow

Format = Literal["json", "csv"]
Key = tuple[str, int | None]

SAMPLE_CATALOGUE_PATH = Path(__file__).resolve().parent.parent / "data" / "movies.json"
# The sample was compiled in 2010-2011; any later date in it is a two-digit-year misread.
SAMPLE_LATEST_YEAR = 2011
KIND = "catalogue"
FORMATS: tuple[Format, ...] = ("json", "csv")
# The first motion pictures date from the late 1880s: anything earlier is a typo.
MIN_YEAR = 1870
MAX_YEAR = 9999
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# A catalogue is read whole (JSON needs it): the sample is 1.6 MB and 62,000 movies about 30 MB.
MAX_CATALOGUE_BYTES = 64 * 1024**2
# No sane CSV row comes near this; a longer one is a wrong file, refused before decoding it.
MAX_CSV_LINE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 1024**2
# The columns the importer owns; ids and timestamps belong to the database.
MOVIE_COLUMNS = (
    "title",
    "year",
    "release_date",
    "runtime_min",
    "mpaa",
    "director",
    "distributor",
    "creative_type",
    "source_material",
    "budget",
    "us_gross",
    "worldwide_gross",
    "us_dvd_sales",
    "imdb_rating",
    "imdb_votes",
    "rt_rating",
)
# The text columns whose mis-decoded characters are repaired ("LÈon" -> "Léon").
TEXT_COLUMNS = ("title", "mpaa", "director", "distributor", "creative_type", "source_material")
# How many repairs the one-line summary quotes.
SUMMARY_EXAMPLES = 3
# The sample's keys -> field names.
JSON_KEYS: dict[str, str] = {
    "Title": "title",
    "Release Date": "release_date",
    "Major Genre": "genres",
    "Running Time min": "runtime_min",
    "MPAA Rating": "mpaa",
    "Director": "director",
    "Distributor": "distributor",
    "Creative Type": "creative_type",
    "Source": "source_material",
    "Production Budget": "budget",
    "US Gross": "us_gross",
    "Worldwide Gross": "worldwide_gross",
    "US DVD Sales": "us_dvd_sales",
    "IMDB Rating": "imdb_rating",
    "IMDB Votes": "imdb_votes",
    "Rotten Tomatoes Rating": "rt_rating",
}
JSON_LABELS = {name: key for key, name in JSON_KEYS.items()}
# The movie columns, with genres after the release date (README documents this order).
CSV_COLUMNS = (*MOVIE_COLUMNS[:3], "genres", *MOVIE_COLUMNS[3:])
CSV_LABELS = {name: name for name in CSV_COLUMNS}
CSV_GENRE_SEPARATOR = "|"

# Parsed by hand rather than with strptime("%b"), whose month names follow the process locale.
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}
MONTH_DAY_YEAR = re.compile(r"([A-Za-z]{3}) (\d{1,2}) (\d{4})")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class ImportReport:
    run_id: int
    kind: str
    filename: str
    status: ImportStatus
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    corrected: list[dict[str, Any]] = field(default_factory=list)
    # {location, field, before, after} of each mis-decoded text repaired.
    repaired: list[dict[str, Any]] = field(default_factory=list)
    genres_created: int = 0

    def counts(self) -> dict[str, int]:
        """Return the numbers stored on the import run."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "corrected": len(self.corrected),
            "repaired": len(self.repaired),
            "genres_created": self.genres_created,
        }

    def summary(self) -> str:
        """Return one line saying what the import did (and a second for repaired text)."""
        line = (
            f"Imported {self.filename}: {self.inserted:,} inserted, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {len(self.skipped):,} skipped, "
            f"{len(self.corrected):,} corrected."
        )
        return line if not self.repaired else f"{line}\n{self.repaired_summary()}"

    def repaired_summary(self) -> str:
        """Return "repaired text: 18 titles, e.g. 'LÈon' -> 'Léon', ..." ("" if none)."""
        if not self.repaired:
            return ""
        fields = Counter(item["field"] for item in self.repaired)
        counts = ", ".join(
            f"{n:,} {name}{'s' if n != 1 else ''}" for name, n in fields.most_common()
        )
        examples = ", ".join(
            f"{item['before']!r} -> {item['after']!r}" for item in self.repaired[:SUMMARY_EXAMPLES]
        )
        return f"repaired text: {counts}, e.g. {examples}"

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Parsing: file -> validated plain records
# --------------------------------------------------------------------------------------------


@dataclass
class _RawRecord:
    """One movie as read from the file, before any check: field name -> raw value."""

    location: str
    values: dict[str, Any]
    labels: Mapping[str, str]

    def label(self, name: str) -> str:
        """Return the name the file uses for field ``name``, for messages."""
        return self.labels.get(name, name)


@dataclass(frozen=True)
class _Record:
    """One valid movie: clean column values and genre names."""

    location: str
    values: dict[str, Any]
    genres: tuple[str, ...]

    @property
    def key(self) -> Key:
        """Return the movie's identity: (title, year)."""
        return (self.values["title"], self.values["year"])


@dataclass
class ParsedCatalogue:
    """What a file holds once checked; ``problems`` non-empty means it must be refused."""

    records: list[_Record] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    corrected: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False


class _Invalid(Exception):
    """A value that cannot be coerced; its text completes "<field> must be ..."."""

    def __init__(self, requirement: str = "", culprit: Any = None) -> None:
        super().__init__(requirement)
        # The part of a composite value (one genre of several) to quote instead of the whole.
        self.culprit = culprit


def _show(value: Any) -> str:
    """Return ``value`` as quoted in a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_number(value: Any) -> int | float:
    """Return ``value`` as a finite int or float, or raise ``_Invalid``."""
    # bool is an int subclass, but true is not a budget.
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and NUMBER.fullmatch(value):
        try:
            number = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:  # More digits than Python converts (sys.get_int_max_str_digits).
            raise _Invalid from None
        if math.isfinite(number):
            return number
    raise _Invalid


def _whole_number(low: int, high: int, requirement: str) -> Callable[[Any], int]:
    """Return a check accepting whole numbers from ``low`` to ``high`` (90.0 counts)."""

    def check(value: Any) -> int:
        try:
            number = _to_number(value)
        except _Invalid:
            raise _Invalid(requirement) from None
        if isinstance(number, float) and not number.is_integer():
            raise _Invalid(requirement)
        if not low <= number <= high:
            raise _Invalid(requirement)
        return int(number)

    return check


def _decimal(low: float, high: float, requirement: str) -> Callable[[Any], float]:
    """Return a check accepting numbers from ``low`` to ``high``."""

    def check(value: Any) -> float:
        try:
            number = _to_number(value)
        except _Invalid:
            raise _Invalid(requirement) from None
        if not low <= number <= high:
            raise _Invalid(requirement)
        return float(number)

    return check


def _column_length(name: str) -> int:
    """Return the declared length of the movies table's text column ``name``."""
    return Movie.__table__.c[name].type.length


def _text(max_length: int, *, numbers_allowed: bool = False) -> Callable[[Any], str | None]:
    """Return a check accepting text up to ``max_length`` characters; blank text is missing."""
    requirement = f"text of at most {max_length} characters"

    def check(value: Any) -> str | None:
        if numbers_allowed and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _Invalid(requirement)
        value = value.strip()
        if len(value) > max_length:
            raise _Invalid(requirement)
        return value or None

    return check


def _parse_date(value: Any) -> dt.date:
    """Return the date written as "Jun 12 1998" or "1998-06-12", or raise ``_Invalid``."""
    requirement = "a date like 'Jun 12 1998' or '1998-06-12'"
    if not isinstance(value, str):
        raise _Invalid(requirement)
    text = value.strip()
    try:
        if ISO_DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
        if (match := MONTH_DAY_YEAR.fullmatch(text)) and match[1].lower() in MONTHS:
            return dt.date(int(match[3]), MONTHS[match[1].lower()], int(match[2]))
    except ValueError:
        pass  # "Feb 30 1998" matches the pattern but is no date.
    raise _Invalid(requirement)


_genre_name = _text(Genre.__table__.c.name.type.length)


def _genre_names(value: Any) -> tuple[str, ...]:
    """Return the distinct, stripped, non-empty genre names of a list of texts."""
    names: dict[str, str] = {}
    for item in value:
        try:
            name = _genre_name(item)
        except _Invalid as invalid:
            raise _Invalid(str(invalid), culprit=item) from None
        # Genres match case-insensitively, so "drama" and "Drama" are one genre.
        if name is not None:
            names.setdefault(name.casefold(), name)
    return tuple(names.values())


FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "title": _text(_column_length("title"), numbers_allowed=True),
    "year": _whole_number(MIN_YEAR, MAX_YEAR, f"a year from {MIN_YEAR} to {MAX_YEAR}"),
    "release_date": _parse_date,
    "genres": _genre_names,
    "runtime_min": _whole_number(1, INT32_MAX, "a whole number of minutes greater than 0"),
    **{
        name: _text(_column_length(name))
        for name in ("mpaa", "director", "distributor", "creative_type", "source_material")
    },
    **{
        name: _whole_number(0, INT64_MAX, "a whole number of dollars, 0 or more")
        for name in ("budget", "us_gross", "worldwide_gross", "us_dvd_sales")
    },
    "imdb_rating": _decimal(0, 10, "a number from 0 to 10"),
    "imdb_votes": _whole_number(0, INT32_MAX, "a whole number, 0 or more"),
    "rt_rating": _whole_number(0, 100, "a whole number from 0 to 100"),
}


def _unknown_name(kind: str, name: str, known: tuple[str, ...] | list[str]) -> str:
    """Return the message for an unknown key or column, with a guess at the intended one."""
    guesses = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {guesses[0]!r}?)" if guesses else ""
    return f"unknown {kind} {name!r}{hint}"


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(data: bytes, problems: Problems) -> str | None:
    """Return ``data`` decoded as UTF-8 (a BOM is dropped), or None after a problem."""
    if (kind := binary_kind(data)) is not None:
        problems.add("file", f"this is {kind}, not a text file")
        return None
    # The BOM is cut by hand so error offsets still count from the start of the file.
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        problems.add(
            f"line {_line_of(data, offset)}",
            f"invalid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset}"
            + encoding_hint(data),
        )
        return None
    if (offset := data.find(b"\x00")) >= 0:
        # PostgreSQL cannot store NUL in text; a NUL in a text file means a binary file anyway.
        problems.add(f"line {_line_of(data, offset)}", "NUL byte (0x00): not a text file")
        return None
    if not text.strip():
        problems.add("file", "the file is empty")
        return None
    return text


def _check_csv_lines(data: bytes, problems: Problems) -> bool:
    """Return whether every line of ``data`` is at most ``MAX_CSV_LINE_BYTES`` long."""
    start, line = 0, 1
    while True:
        end = data.find(b"\n", start, start + MAX_CSV_LINE_BYTES + 1)
        if end < 0 and len(data) - start <= MAX_CSV_LINE_BYTES:
            return True
        if end < 0:
            problems.add(
                f"line {line}",
                f"line longer than {MAX_CSV_LINE_BYTES:,} bytes: not a catalogue CSV",
            )
            return False
        start, line = end + 1, line + 1


class _KeyedObject(dict):
    """A JSON object that remembers the keys it repeats (json keeps only the last value)."""

    repeated: tuple[str, ...] = ()


def _object_with_repeats(pairs: list[tuple[str, Any]]) -> _KeyedObject:
    item = _KeyedObject(pairs)
    if len(item) != len(pairs):
        item.repeated = tuple(key for key, n in Counter(k for k, _ in pairs).items() if n > 1)
    return item


def _json_type(value: Any) -> str:
    """Return the JSON name of ``value``'s type."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    # isinstance, not type(): objects are decoded as a dict subclass (_KeyedObject).
    return next((name for kind, name in names.items() if isinstance(value, kind)), "a number")


def _json_records(text: str, problems: Problems) -> Iterator[_RawRecord]:
    """Yield the raw records of a JSON list of objects keyed like the sample."""
    try:
        document = json.loads(text, object_pairs_hook=_object_with_repeats)
    except json.JSONDecodeError as error:
        problems.add(f"line {error.lineno}, column {error.colno}", f"invalid JSON: {error.msg}")
        return
    except RecursionError:
        problems.add("file", "invalid JSON: nested too deeply (a movie list is 2 levels deep)")
        return
    except ValueError as error:
        # Huge integers fail outside the decoder, with no position.
        problems.add("file", f"invalid JSON: {error}")
        return
    if not isinstance(document, list):
        problems.add("file", f"expected a list of movie objects, got {_json_type(document)}")
        return
    for number, item in enumerate(document, start=1):
        location = f"record {number}"
        if not isinstance(item, dict):
            problems.add(location, f"expected a movie object, got {_json_type(item)}")
            continue
        if repeated := getattr(item, "repeated", ()):
            for key in repeated:
                problems.add(location, f"duplicated key {key!r}: which value is meant?")
            continue
        unknown = [key for key in item if key not in JSON_KEYS]
        for key in unknown:
            problems.add(location, _unknown_name("key", key, list(JSON_KEYS)))
        if unknown:
            continue
        values = {JSON_KEYS[key]: value for key, value in item.items()}
        # "Major Genre" holds one genre; a list makes it look like the CSV's split column.
        if values.get("genres") is not None:
            values["genres"] = [values["genres"]]
        yield _RawRecord(location, values, JSON_LABELS)


def _csv_rows(text: str, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """Yield (starting line, cells) for each non-blank CSV row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The reader cannot resynchronise after bad quoting: stop at the first error.
            problems.add(f"line {reader.line_num}", f"malformed CSV: {error}")
            return
        if any(cell.strip() for cell in row):
            yield line, row
        # A quoted cell may span lines, so the next row starts after the last line read.
        line = reader.line_num + 1


def _csv_header(header: list[str], location: str, problems: Problems) -> list[str] | None:
    """Return the header's field names, or None after problems."""
    columns = [name.strip().lower() for name in header]
    before = len(problems)
    if len(columns) == 1 and (separator := next((c for c in ";\t|" if c in columns[0]), None)):
        problems.add(
            location, f"the header has no commas but {separator!r}: a CSV is comma-separated"
        )
        return None
    for name, count in Counter(columns).items():
        if count > 1:
            problems.add(location, f"duplicated column {name!r}")
    for name in columns:
        if name not in CSV_COLUMNS:
            problems.add(location, _unknown_name("column", name, CSV_COLUMNS))
    if "title" not in columns:
        problems.add(location, "missing required column 'title'")
    return columns if len(problems) == before else None


def _csv_records(text: str, problems: Problems) -> Iterator[_RawRecord]:
    """Yield the raw records of a CSV file with a snake_case header row."""
    rows = _csv_rows(text, problems)
    first = next(rows, None)
    if first is None:
        return
    header_line, header = first
    columns = _csv_header(header, f"line {header_line}", problems)
    if columns is None:
        return
    for line, row in rows:
        if len(row) != len(columns):
            problems.add(f"line {line}", f"expected {len(columns)} fields, found {len(row)}")
            continue
        values = {name: cell.strip() or None for name, cell in zip(columns, row, strict=True)}
        if values.get("genres") is not None:
            values["genres"] = values["genres"].split(CSV_GENRE_SEPARATOR)
        yield _RawRecord(f"line {line}", values, CSV_LABELS)


def _check_fields(raw: _RawRecord, problems: Problems) -> dict[str, Any] | None:
    """Return every field of ``raw`` coerced by its check, or None after problems."""
    clean: dict[str, Any] = {}
    before = len(problems)
    for name, check in FIELD_CHECKS.items():
        value = raw.values.get(name)
        if value is None:
            clean[name] = None
            continue
        try:
            clean[name] = check(value)
        except _Invalid as invalid:
            culprit = value if invalid.culprit is None else invalid.culprit
            problems.add(raw.location, f"{raw.label(name)} must be {invalid}, got {_show(culprit)}")
    return clean if len(problems) == before else None


def _resolve_year(
    raw: _RawRecord, clean: dict[str, Any], latest_year: int, out: ParsedCatalogue
) -> str | None:
    """Set ``clean``'s year from its date, shifting misread years; return a problem or None."""
    date: dt.date | None = clean["release_date"]
    year: int | None = clean["year"]
    date_label, year_label = raw.label("release_date"), raw.label("year")
    if date is not None and year is not None and date.year != year:
        return f"{year_label} {year} does not match {date_label} {date.isoformat()}"
    if year is None and date is not None:
        year = date.year
    if year is None or year <= latest_year:
        clean["year"] = year
        return None
    # Two-digit years read as 20xx: files compiled up to latest_year hold no later films.
    if year - 100 > latest_year:
        return f"the year {year} is after {latest_year}, even read as {year - 100}"
    try:
        shifted = date.replace(year=year - 100) if date is not None else None
    except ValueError:  # Feb 29 of a leap year whose year - 100 is not one.
        return f"{date_label} {raw.values['release_date']!r} cannot be read as {year - 100}"
    what = f"{date_label} {raw.values['release_date']!r}" if date else f"{year_label} {year}"
    now = shifted.isoformat() if shifted else str(year - 100)
    out.corrected.append(
        {"location": raw.location, "message": f"{what} is after {latest_year}: read as {now}"}
    )
    clean["year"], clean["release_date"] = year - 100, shifted
    return None


def _validate(raw: _RawRecord, latest_year: int, problems: Problems, out: ParsedCatalogue) -> None:
    """Add ``raw`` to ``out`` as a clean record or a skip, or add its problems."""
    clean = _check_fields(raw, problems)
    if clean is None:
        return
    if clean["title"] is None:
        out.skipped.append({"location": raw.location, "reason": "no title"})
        return
    if (problem := _resolve_year(raw, clean, latest_year, out)) is not None:
        problems.add(raw.location, problem)
        return
    if clean["year"] is not None and clean["year"] < MIN_YEAR:
        problems.add(raw.location, f"the year {clean['year']} is before {MIN_YEAR}")
        return
    _repair(raw, clean, out)
    title = raw.values["title"]
    if isinstance(title, int):
        message = f"{raw.label('title')} {title} is a number: imported as the text {str(title)!r}"
        out.corrected.append({"location": raw.location, "message": message})
    values = {name: clean[name] for name in MOVIE_COLUMNS}
    genres = movie_genres(clean["genres"] or (), clean["creative_type"])
    out.records.append(_Record(raw.location, values, genres))


def _repair(raw: _RawRecord, clean: dict[str, Any], out: ParsedCatalogue) -> None:
    """Repair mis-decoded text in ``clean``'s text fields and genres, noting each in ``out``."""
    for name in TEXT_COLUMNS:
        if clean[name] is not None and (fixed := repair_text(clean[name])) != clean[name]:
            out.repaired.append(
                {"location": raw.location, "field": name, "before": clean[name], "after": fixed}
            )
            clean[name] = fixed
    if clean["genres"]:
        fixed_genres = tuple(repair_text(name) for name in clean["genres"])
        for before, after in zip(clean["genres"], fixed_genres, strict=True):
            if before != after:
                out.repaired.append(
                    {"location": raw.location, "field": "genre", "before": before, "after": after}
                )
        clean["genres"] = fixed_genres


def _drop_duplicates(out: ParsedCatalogue) -> None:
    """Keep the first record of each (title, year) and skip the others."""
    first_seen: dict[Key, str] = {}
    kept = []
    for record in out.records:
        if (first := first_seen.setdefault(record.key, record.location)) != record.location:
            title = record.values["title"]
            out.skipped.append(
                {"location": record.location, "reason": f"duplicate of {first}", "title": title}
            )
        else:
            kept.append(record)
    out.records = kept


def _sort_by_position(items: list[dict[str, Any]]) -> None:
    """Sort report items by where they are in the file ("record 9" before "record 10")."""

    def position(item: dict[str, Any]) -> int:
        digits = re.search(r"\d+", item["location"])
        return int(digits[0]) if digits else 0

    items.sort(key=position)


def parse_catalogue(
    data: bytes,
    fmt: Format,
    latest_year: int,
    max_movies: int = DEFAULT_MAX_CATALOGUE_MOVIES,
) -> ParsedCatalogue:
    """Check a whole catalogue file and return its clean records, skips and problems.

    Reading stops past ``max_movies`` movies: such a file is refused whatever the catalogue
    holds, and checking a million lines first cost minutes and a gigabyte.
    """
    out = ParsedCatalogue()
    problems = Problems()
    try:
        text = (
            None
            if fmt == "csv" and not _check_csv_lines(data, problems)
            else _decode(data, problems)
        )
        if text is not None:
            read = _json_records if fmt == "json" else _csv_records
            seen = 0
            for raw in read(text, problems):
                seen += 1
                if seen > max_movies:
                    problems.items.append(
                        {"location": raw.location, "message": too_many_in_file(seen, max_movies)}
                    )
                    break
                _validate(raw, latest_year, problems, out)
            if seen == 0 and not problems:
                problems.add("file", "no movies in file")
    except TooManyProblems:
        pass
    _drop_duplicates(out)
    _sort_by_position(out.skipped)
    out.problems, out.truncated = problems.items, problems.truncated
    return out


# --------------------------------------------------------------------------------------------
# Writing: records -> rows
# --------------------------------------------------------------------------------------------


class _GenreCache:
    """Get-or-create genres by case-insensitive name, loading the existing ones once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_name = {genre.name.casefold(): genre for genre in session.scalars(sa.select(Genre))}
        self.created = 0

    def resolve(self, names: tuple[str, ...]) -> list[Genre]:
        """Return the genres called ``names``, creating missing ones."""
        genres = []
        for name in names:
            genre = self.by_name.get(name.casefold())
            if genre is None:
                genre = self.by_name[name.casefold()] = Genre(name=name)
                self.session.add(genre)
                self.created += 1
            genres.append(genre)
        return genres


def _load_movies(session: Session) -> dict[Key, Movie]:
    """Return every movie with its genres, keyed by (title, year); a NULL year keys as None."""
    # Matching in Python sidesteps SQL's NULL != NULL and one query per row.
    movies = session.scalars(sa.select(Movie).options(selectinload(Movie.genres)))
    return {(movie.title, movie.year): movie for movie in movies}


def _apply_changes(movie: Movie, values: dict[str, Any], genres: list[Genre]) -> bool:
    """Set only the differing columns and genres of ``movie``; return whether any differed."""
    changed = False
    for name, value in values.items():
        if getattr(movie, name) != value:
            setattr(movie, name, value)
            changed = True
    if set(movie.genres) != set(genres):
        movie.genres = genres
        changed = True
    if changed:
        # Set by hand: a genre-only change emits no UPDATE, so onupdate would not fire.
        movie.updated_at = utcnow()
    return changed


def _write_records(
    session: Session,
    records: list[_Record],
    report: ImportReport,
    progress: Progress | None,
    batch_size: int,
) -> None:
    """Upsert ``records`` in batches, counting into ``report``; the caller commits."""
    existing = _load_movies(session)
    genres = _GenreCache(session)
    total = len(records)
    for start in range(0, total, batch_size):
        batch = records[start : start + batch_size]
        for record in batch:
            movie = existing.get(record.key)
            wanted = genres.resolve(record.genres)
            if movie is None:
                session.add(Movie(**record.values, genres=wanted))
                report.inserted += 1
            elif _apply_changes(movie, record.values, wanted):
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()
        if progress is not None:
            progress(start + len(batch), total)
    report.genres_created = genres.created


# --------------------------------------------------------------------------------------------
# The import: a tracked run, one transaction
# --------------------------------------------------------------------------------------------


def _repair_note(item: dict[str, Any]) -> dict[str, Any]:
    """Return a repaired-text item as a run note: {location, message}."""
    message = f"{item['field']} {item['before']!r} was mis-decoded: read as {item['after']!r}"
    return {"location": item["location"], "message": message}


def _source_name(source: str | Path | BinaryIO) -> str:
    """Return the bare file name of ``source``, or "upload" for a nameless stream."""
    if isinstance(source, str | Path):
        return Path(source).name
    return Path(str(getattr(source, "name", "") or "")).name or "upload"


def _read_bytes(source: str | Path | BinaryIO, filename: str, fmt: Format) -> bytes:
    """Return the content of ``source`` read in chunks, refusing it past ``MAX_CATALOGUE_BYTES``.

    A CSV stops being read inside a line longer than ``MAX_CSV_LINE_BYTES`` (a file without
    newlines): what was read is enough for the parse to refuse that line.
    """
    chunks: list[bytes] = []
    size = since_newline = 0
    with ExitStack() as stack:
        stream = (
            stack.enter_context(Path(source).open("rb"))
            if isinstance(source, str | Path)
            else source
        )
        # Chunks, not read(cap): a read of n bytes allocates n bytes before it reads any.
        while chunk := stream.read(READ_CHUNK_BYTES):
            size += len(chunk)
            if size > MAX_CATALOGUE_BYTES:
                message = f"larger than {MAX_CATALOGUE_BYTES:,} bytes: too big for a catalogue"
                raise refusal(filename, [{"location": "file", "message": message}], False)
            chunks.append(chunk)
            newline = chunk.rfind(b"\n")
            since_newline = since_newline + len(chunk) if newline < 0 else len(chunk) - newline - 1
            if fmt == "csv" and since_newline > MAX_CSV_LINE_BYTES:
                break
    return b"".join(chunks)


def _choose_format(fmt: str | None, filename: str) -> Format:
    """Return ``fmt``, or the format named by ``filename``'s suffix; refuse anything else."""
    chosen = fmt or Path(filename).suffix.lower().lstrip(".")
    if chosen not in FORMATS:
        what = f"format {fmt!r}" if fmt else f"file type {Path(filename).suffix or '(none)'!r}"
        message = f"unknown {what}: a catalogue is a .json or .csv file"
        raise refusal(filename, [{"location": "file", "message": message}], False)
    return cast(Format, chosen)


def _check_size(session: Session, name: str, records: list[_Record], max_movies: int) -> None:
    """Refuse ``records`` if their new movies would take the catalogue over ``max_movies``."""
    known = {(title, year) for title, year in session.execute(sa.select(Movie.title, Movie.year))}
    new = sum(1 for record in records if record.key not in known)
    if (problem := catalogue_limit_problem(session, new, len(records), max_movies)) is not None:
        raise refusal(name, [{"location": "file", "message": problem}])


def import_catalogue(
    session: Session,
    source: str | Path | BinaryIO,
    *,
    filename: str | None = None,
    fmt: Format | None = None,
    latest_year: int | None = None,
    admin_id: int | None = None,
    progress: Progress | None = None,
    batch_size: int = 500,
    max_movies: int = DEFAULT_MAX_CATALOGUE_MOVIES,
) -> ImportReport:
    """Import a JSON or CSV catalogue as a whole, or refuse it as a whole; report what was done.

    Commits ``session``: first the new ``ImportRun`` (so even a crash leaves a trace), then
    every movie with the run's outcome in one transaction. On any error that transaction is
    rolled back, the run is marked failed in its own transaction and the error re-raised.
    A file that would take the catalogue over ``max_movies`` is refused before any write.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    name = filename or _source_name(source)
    with tracked_run(session, KIND, name, admin_id) as run:
        chosen = _choose_format(fmt, name)
        latest = dt.date.today().year if latest_year is None else latest_year
        parsed = parse_catalogue(_read_bytes(source, name, chosen), chosen, latest, max_movies)
        if parsed.problems:
            raise refusal(name, parsed.problems, parsed.truncated)
        _check_size(session, name, parsed.records, max_movies)
        report = ImportReport(
            run.id,
            KIND,
            name,
            ImportStatus.SUCCEEDED,
            skipped=parsed.skipped,
            corrected=parsed.corrected,
            repaired=parsed.repaired,
        )
        _write_records(session, parsed.records, report, progress, batch_size)
        notes = (
            [{"kind": "skipped", **item} for item in report.skipped]
            + [{"kind": "corrected", **item} for item in report.corrected]
            + [{"kind": "repaired", **_repair_note(item)} for item in report.repaired]
        )
        finish_run(session, run, report.counts(), notes)
    return report


def import_sample_catalogue(
    session: Session,
    *,
    admin_id: int | None = None,
    progress: Progress | None = None,
    max_movies: int = DEFAULT_MAX_CATALOGUE_MOVIES,
) -> ImportReport:
    """Import the sample catalogue shipped in ``recommender/data/movies.json``."""
    return import_catalogue(
        session,
        SAMPLE_CATALOGUE_PATH,
        latest_year=SAMPLE_LATEST_YEAR,
        admin_id=admin_id,
        progress=progress,
        max_movies=max_movies,
    )

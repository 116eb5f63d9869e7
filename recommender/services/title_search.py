"""Title search that forgives: every word matches a word of the title (or the year) by its
start, in any order, with accents and case folded; results ranked by how well they match.

The database does the matching with an index that it keeps in step with ``movies`` itself,
whatever writes the rows (ORM, Core executemany, raw SQL, a merge that deletes one), created
by migration 0006:

* SQLite: an FTS5 external-content table ``movies_search`` (``unicode61 remove_diacritics 2``)
  over ``movies.title`` and ``movies.year``, filled by triggers on insert, update and delete;
* PostgreSQL: a GIN index on :data:`PG_DOCUMENT`, the folded title and year as a ``tsvector``
  (``simple`` configuration, ``unaccent``), which the query repeats word for word so the
  planner can use the index.

Both backends see the same words: the document is split at every character that is not a
letter or digit, as :func:`words` splits the query. Ranking happens here, in Python, over the
matching rows' titles, so it is the same on both backends (see :func:`relevance`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from recommender.models import Movie

# The text search document of a movie on PostgreSQL. Migration 0006 indexes exactly this
# expression (GIN); a query must spell it the same way, or the index is not used.
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, regexp_replace(recommender_unaccent("
    "movies.title || ' ' || coalesce(movies.year::text, '')), '[^[:alnum:]]+', ' ', 'g'))"
)
FTS_TABLE = "movies_search"
# Names of the search structures, which the models do not declare (Alembic must leave them).
SEARCH_OBJECT_PREFIXES = (FTS_TABLE, "ix_movies_search")
# A leading article does not make a title less exact a match ("lord of the rings").
ARTICLES = frozenset({"the", "a", "an"})
YEAR_WORD = re.compile(r"1[89][0-9]{2}|2[01][0-9]{2}")
WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """``text`` compared as people read it: compatibility forms, accents and case folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFKC", bare.casefold())


def words(text: str) -> list[str]:
    """The folded words of ``text``: runs of letters and digits; everything else separates."""
    return WORD.findall(fold(text))


def include_in_migrations(name: str | None, _type: str, _parents: object) -> bool:
    """Alembic's ``include_name``: False for the search index's own tables, triggers' FTS
    shadow tables and indexes, which no model declares and autogenerate must leave alone."""
    return not (name or "").startswith(SEARCH_OBJECT_PREFIXES)


def match_clause(dialect_name: str, query_words: Sequence[str]) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``movies`` true when every word starts a word of the title or year.

    The words come from :func:`words` (letters and digits only) and are quoted besides, so
    nothing of the user's text can be read as FTS syntax (``*``, ``-``, ``AND``, quotes).
    """
    if dialect_name == "sqlite":
        expression = " AND ".join(f'"{word}"*' for word in query_words)
        hits = sa.text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query")
        return Movie.id.in_(hits.bindparams(fts_query=expression).columns(sa.column("rowid")))
    if dialect_name == "postgresql":
        expression = " & ".join(f"'{word}':*" for word in query_words)
        # The query words go through the same unaccent as the document (ß, æ, ligatures).
        return sa.text(
            f"{PG_DOCUMENT} @@ to_tsquery('simple'::regconfig, recommender_unaccent(:ts_query))"
        ).bindparams(ts_query=expression)
    raise NotImplementedError(f"title search supports SQLite and PostgreSQL, not {dialect_name}")


@dataclass(frozen=True)
class Candidate:
    """A matching movie, with what ranking needs."""

    movie_id: int
    title: str
    year: int | None
    ratings: int
    imdb_votes: int | None


def relevance(query_words: Sequence[str], title: str, year: int | None) -> int:
    """How well ``title`` matches, best first: 0 the whole title (articles aside), 1 the
    title's start, 2 whole words of the title, 3 words matched by their start only.

    A year-looking word equal to the movie's year is matched by the year and set aside, so
    "star wars 1977" is an exact match of Star Wars (1977).
    """
    wanted = [word for word in query_words if not (YEAR_WORD.fullmatch(word) and int(word) == year)]
    title_words = words(title)
    # Each comparison is tried as typed and with a leading article set aside on both sides.
    forms = [(wanted, title_words), (_without_article(wanted), _without_article(title_words))]
    if not wanted or any(asked == have for asked, have in forms):
        return 0
    if any(_starts(have, asked) for asked, have in forms):
        return 1
    if set(wanted) <= set(title_words):
        return 2
    return 3


def _without_article(title_words: list[str]) -> list[str]:
    if len(title_words) > 1 and title_words[0] in ARTICLES:
        return title_words[1:]
    return title_words


def _starts(title_words: list[str], asked: list[str]) -> bool:
    """Whether the title begins with the asked words, the last of them perhaps cut short."""
    head = title_words[: len(asked)]
    return len(head) == len(asked) and head[:-1] == asked[:-1] and head[-1].startswith(asked[-1])


def rank(query_words: Sequence[str], candidates: Sequence[Candidate]) -> list[int]:
    """Movie ids, best match first; ties go to the most rated, then most voted, then title."""

    def key(candidate: Candidate) -> tuple[int, int, int, str, int]:
        tier = relevance(query_words, candidate.title, candidate.year)
        votes = candidate.imdb_votes or 0
        return (tier, -candidate.ratings, -votes, fold(candidate.title), candidate.movie_id)

    return [candidate.movie_id for candidate in sorted(candidates, key=key)]

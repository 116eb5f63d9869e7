"""Search that forgives (issue 14 item 4): every word, any order, accents and case folded, a
year matches the year, best match first; the index follows every path that writes movies."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers import catalogue as catalogue_import
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, Rating, User
from recommender.services import title_search
from recommender.services.catalogue import search_movies
from tests.factories import make_movie

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
FELLOWSHIP = ("The Lord of the Rings: The Fellowship of the Ring", 2001)
AMELIE = ("Le Fabuleux destin d'Amélie Poulain", 2001)


@pytest.fixture
def catalogue(app) -> dict[tuple[str, int], int]:
    """A few films with look-alikes, so a search that matches too much fails too."""
    films = [
        FELLOWSHIP,
        ("The Lord of the Rings: The Return of the King", 2003),
        ("Lord of War", 2005),
        ("The Ring", 2002),
        AMELIE,
        ("Star Wars", 1977),
        ("Star Wars Ep. I: The Phantom Menace", 1999),
        ("Star Trek", 1979),
        ("Se7en", 1995),
        ("Seven Samurai", 1954),
        ("Forrest Gump", 1994),
        ("Pulp Fiction", 1994),
        ("2001: A Space Odyssey", 1968),
        ("The Shawshank Redemption", 1994),
    ]
    return {(title, year): make_movie(title, year).id for title, year in films}


def found(q: str, **options) -> list[tuple[str, int]]:
    page = search_movies(db.session, q=q, per_page=100, **options)
    return [(item["title"], item["year"]) for item in page.items]


@pytest.mark.parametrize(
    ("q", "film"),
    [
        ("lord rings", FELLOWSHIP),
        ("rings lord", FELLOWSHIP),
        ("LORD fellow", FELLOWSHIP),
        ("amelie", AMELIE),
        ("AMÉLIE poulain", AMELIE),
        ("star wars 1977", ("Star Wars", 1977)),
        ("se7en", ("Se7en", 1995)),
    ],
)
def test_the_examples_of_the_issue_find_their_film(catalogue, q, film):
    assert film in found(q)


def test_every_word_must_match(catalogue):
    assert found("lord rings fellowship") == [FELLOWSHIP]
    assert found("star wars 1977") == [("Star Wars", 1977)]
    assert found("lord rings king")[0][0].endswith("Return of the King")
    assert found("lord zebra") == []


def test_a_year_alone_finds_that_years_films(catalogue):
    assert sorted(found("1994")) == [
        ("Forrest Gump", 1994),
        ("Pulp Fiction", 1994),
        ("The Shawshank Redemption", 1994),
    ]
    # A number that is part of a title is a title word, too.
    assert ("2001: A Space Odyssey", 1968) in found("2001")


def test_ranking_puts_the_exact_title_first_then_the_start_then_words(catalogue):
    make_movie("Rings", 2005)
    make_movie("Ringu", 1998)
    ranked = found("ring")
    assert ranked[0] == ("The Ring", 2002)  # the whole title, its article aside
    assert set(ranked[1:3]) == {("Rings", 2005), ("Ringu", 1998)}  # titles starting so
    assert ranked[3] == FELLOWSHIP  # "ring" is a whole word of it
    assert ranked[4][0].endswith("Return of the King")  # only the start of "rings"
    assert len(ranked) == 5


def test_equal_matches_go_to_the_most_rated(catalogue):
    user = User(username="rater", source="local")
    db.session.add(user)
    db.session.flush()
    pulp = catalogue[("Pulp Fiction", 1994)]
    db.session.add(Rating(user_id=user.id, movie_id=pulp, rating=5.0))
    db.session.commit()
    assert found("1994")[0] == ("Pulp Fiction", 1994)


def test_an_explicit_sort_orders_the_matches(catalogue):
    assert found("lord", sort="-year") == [
        ("Lord of War", 2005),
        ("The Lord of the Rings: The Return of the King", 2003),
        FELLOWSHIP,
    ]
    assert found("lord", sort="title")[0] == ("Lord of War", 2005)


def test_paging_keeps_the_ranked_order_and_the_total(catalogue):
    everything = found("star")
    first = search_movies(db.session, q="star", per_page=2, page=1)
    second = search_movies(db.session, q="star", per_page=2, page=2)
    assert first.total == second.total == len(everything) == 3
    assert [(m["title"], m["year"]) for m in first.items + second.items] == everything


LORD_OF_THE_RINGS = {FELLOWSHIP, ("The Lord of the Rings: The Return of the King", 2003)}


@pytest.mark.parametrize(
    "q",
    [
        '"lord rings',
        "lord* rings*",
        "lord -rings",
        "(lord rings)",
        "lord & | ! rings:*",
        "lord^ rings'",
    ],
)
def test_search_syntax_characters_are_plain_text(catalogue, q):
    assert set(found(q)) == LORD_OF_THE_RINGS


@pytest.mark.parametrize("q", ["lord AND rings", "lord OR rings", "lord NEAR(rings)", "title:lord"])
def test_search_operators_are_words_like_any_other(catalogue, q):
    # No title has the word "and", "or", "near" or "title": nothing matches every word.
    assert found(q) == []


@pytest.mark.parametrize("q", ["*", '"', "()", "-", "^", "%"])
def test_a_query_of_punctuation_matches_it_literally(catalogue, q):
    assert found(q) == []


# --- the index follows every path that writes movies ----------------------------------------


def test_a_movie_inserted_by_the_movielens_import_is_found(app):
    import_movielens(db.session, FIXTURES / "100k", scale=RatingScale(0.5, 5.0, 0.5))
    assert found("miserables") == [("Les Misérables", 1995)]
    assert found("shawshank 1994") == [("The Shawshank Redemption", 1994)]


def test_raw_sql_inserts_updates_and_deletes_keep_the_index_in_step(app):
    db.session.execute(
        sa.text(
            "INSERT INTO movies (title, year, created_at, updated_at)"
            " VALUES ('Amélie', 2001, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    )
    db.session.commit()
    assert found("amelie") == [("Amélie", 2001)]
    db.session.execute(sa.text("UPDATE movies SET title = 'Léon', year = 1994"))
    db.session.commit()
    assert found("amelie") == [] and found("leon 1994") == [("Léon", 1994)]
    db.session.execute(sa.text("DELETE FROM movies"))
    db.session.commit()
    assert found("leon") == []
    assert_index_consistent()


def test_orm_updates_keep_the_index_in_step(app):
    movie = make_movie("Working Title", 2000)
    movie.title = "Final Title"
    db.session.commit()
    assert found("final") == [("Final Title", 2000)] and found("working") == []


def assert_index_consistent() -> None:
    if db.engine.dialect.name == "sqlite":
        # FTS5 checks its index against the content table and raises when they differ.
        table = title_search.FTS_TABLE
        db.session.execute(sa.text(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')"))


def test_postgresql_answers_from_the_index(catalogue):
    if db.engine.dialect.name != "postgresql":
        assert db.engine.dialect.name == "sqlite"
        return
    clause = title_search.match_clause("postgresql", ["lord", "rings"])
    query = sa.select(Movie.id).where(clause)
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db.session.scalars(sa.text(f"EXPLAIN {compiled}")))
    db.session.rollback()
    assert "ix_movies_search" in plan


# --- folding and ranking, without a database ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Amélie", ["amelie"]),
        ("LÉON: The Professional", ["leon", "the", "professional"]),
        ("\uff33\uff45\uff17\uff45\uff4e", ["se7en"]),  # "Se7en" in fullwidth forms
        ("Spider-Man 2", ["spider", "man", "2"]),
        ("d'Amélie", ["d", "amelie"]),
        ("Straße", ["strasse"]),
        ("snake_case", ["snake", "case"]),
    ],
)
def test_words_fold_accents_case_and_compatibility_forms(text, expected):
    assert title_search.words(text) == expected


@pytest.mark.parametrize(
    ("q", "title", "year", "tier"),
    [
        ("star wars", "Star Wars", 1977, 0),
        ("star wars 1977", "Star Wars", 1977, 0),
        ("lord of the rings", "The Lord of the Rings", 2001, 0),
        ("1994", "Forrest Gump", 1994, 0),
        ("star wa", "Star Wars", 1977, 1),
        ("star wars", "Star Wars Ep. I: The Phantom Menace", 1999, 1),
        ("wars star", "Star Wars", 1977, 2),
        ("rings lord", "The Lord of the Rings", 2001, 2),
        ("lord ring", "The Lord of the Rings", 2001, 3),
        ("the", "The Godfather", 1972, 1),  # an article alone is a word like any other
        ("the", "Return of the Jedi", 1983, 2),
    ],
)
def test_relevance_tiers(q, title, year, tier):
    assert title_search.relevance(title_search.words(q), title, year) == tier


# --- the shipped catalogue ------------------------------------------------------------------


# One import of the sample (a second a backend) for every example, not one per example.
SAMPLE_EXAMPLES = {
    "lord rings": ("The Lord of the Rings: The Fellowship of the Ring", 2001),
    "star wars 1977": ("Star Wars Ep. IV: A New Hope", 1977),
    "se7en": ("Se7en", 1995),
    "godfather": ("The Godfather", 1972),
}


def test_the_issue_examples_find_their_film_in_the_sample_catalogue(app):
    catalogue_import.import_sample_catalogue(db.session)
    firsts = {q: found(q)[:1] for q in SAMPLE_EXAMPLES}
    assert firsts == {q: [film] for q, film in SAMPLE_EXAMPLES.items()}
    # Mis-decoded "AmÈlie" until the importer repairs it to "Amélie": both fold to "amelie".
    (title, year), *others = found("amelie")
    assert title_search.words(title)[-2:] == ["amelie", "poulain"] and year == 2001
    assert others == []

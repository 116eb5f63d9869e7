"""importers/matching.py: the title matcher's rules on hand-made titles (no database)."""

from __future__ import annotations

import pytest

from recommender.importers.matching import (
    FUZZY_ACCEPT,
    FUZZY_GREY,
    TitleIndex,
    fold,
    front_article,
    title_forms,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Shawshank Redemption, The", "the shawshank redemption"),
        ("Haine, La", "la haine"),
        ("Uomo delle stelle, L'", "luomo delle stelle"),
        ("Blechtrommel, Die", "die blechtrommel"),
        ("Léon", "leon"),
        ("LÈon", "leon"),  # the sample's mis-decoded text folds like the repaired one
        ("Le Fabuleux destin d'AmÈlie Poulain", "le fabuleux destin damelie poulain"),
        ("Batman & Robin", "batman and robin"),
        ("Romeo+Juliet", "romeo and juliet"),
        ("Star Wars Ep. VI: Return of the Jedi", "star wars ep 6 return of the jedi"),
        ("Rocky IV", "rocky 4"),
        ("Part I", "part 1"),
        ("I Shot Andy Warhol", "i shot andy warhol"),  # a lone "I" is a word
        ("Alien³", "alien3"),
        ("Ri¢hie Ri¢h", "richie rich"),
        ("E.T. the Extra-Terrestrial", "e t the extra terrestrial"),
        ("Schindler's List", "schindlers list"),
    ],
)
def test_fold_puts_articles_back_and_folds_accents_case_numerals_and_punctuation(raw, expected):
    assert fold(raw) == expected


def test_front_article_leaves_titles_without_one_alone():
    assert front_article("Maybe, Maybe Not") == "Maybe, Maybe Not"
    assert front_article("Six Days, Seven Nights") == "Six Days, Seven Nights"


def test_title_forms_know_alternative_titles_episode_titles_and_series_names():
    seven = title_forms("Seven (Se7en)")
    assert seven.alternatives == {"seven", "se7en"}
    city = title_forms("City of Lost Children, The (Cité des enfants perdus, La)")
    assert "lacitedesenfantsperdus" in city.alternatives
    jedi = title_forms("Star Wars Ep. VI: Return of the Jedi")
    assert jedi.episode_titles == {"returnofthejedi"} and jedi.series_names == {"starwars"}
    # "Part II" names no episode, and "The Godfather" is another film.
    sequel = title_forms("The Godfather: Part II")
    assert not (sequel.episode_titles or sequel.series_names or sequel.weak_names)
    # A bracket that notes a release is not another title.
    assert title_forms("Fantasia 2000 (IMAX)").exact == title_forms("Fantasia 2000").exact


CATALOGUE = [
    (1, "The Shawshank Redemption", 1994),
    (2, "Se7en", 1995),
    (3, "Star Wars Ep. IV: A New Hope", 1977),
    (4, "Star Wars Ep. VI: Return of the Jedi", 1983),
    (5, "Star Wars Ep. I: The Phantom Menace", 1999),
    (6, "The Godfather", 1972),
    (7, "The Godfather: Part II", 1974),
    (8, "Casablanca", 1941),
    (9, "Psycho", 1998),
    (10, "Hamlet", 1996),
    (11, "Hamlet", 2000),
    (12, "Kama Sutra", 1997),
    (13, "La Cité des enfants perdus", 1995),
    (14, "Grosse Point Blank", 1997),
    (15, "Twister", 1996),
    (16, "I Know What You Did Last Summer", 1997),
    (17, "The Work and the Glory", 2004),
    (18, "Home Alone 2", 1992),
    (19, "Dracula", 1992),
    (20, "Fear", 1996),
    (21, "Devil's Advocate", 1997),
    (22, "LÈon", 1994),
    (23, "Star Trek II: The Wrath of Khan", 1982),
    (24, "Twilight", 1997),
    (25, "Twilight", 1998),
    (26, "Peter Pan: Return to Neverland", 2002),
    (27, "Untitled", None),
    (28, "Rocky II", 1979),
    (29, "Nikita", 1991),
    (30, "The Great Promise", 1981),
]


@pytest.fixture(scope="module")
def index() -> TitleIndex:
    return TitleIndex.of(CATALOGUE)


@pytest.mark.parametrize(
    ("title", "year", "movie_id", "rule"),
    [
        ("Shawshank Redemption, The", 1994, 1, "exact"),
        ("Léon", 1994, 22, "exact"),
        ("Casablanca", 1942, 8, "exact"),  # a year off
        ("The Devil's Advocate", 1997, 21, "exact"),  # no leading article, same year
        ("Rocky 2", 1979, 28, "exact"),
        ("Seven (Se7en)", 1995, 2, "alternative_title"),
        ("City of Lost Children, The (Cité des enfants perdus, La)", 1995, 13, "alternative_title"),
        ("Nikita (La Femme Nikita)", 1990, 29, "alternative_title"),
        ("Star Wars", 1977, 3, "series"),
        ("Return of the Jedi", 1983, 4, "series"),
        ("Star Trek: The Wrath of Khan", 1982, 23, "series"),
        ("Kama Sutra: A Tale of Love", 1997, 12, "series"),  # same year
        ("Bram Stoker's Dracula", 1992, 19, "series"),
        ("Grosse Pointe Blank", 1997, 14, "fuzzy"),
        ("Twilight", 1998, 25, "exact"),  # the same year beats a year off
        ("Hamlet", 1996, 10, "exact"),
        ("Untitled", None, 27, "exact"),
    ],
)
def test_the_same_film_is_matched_by_its_rule(index, title, year, movie_id, rule):
    match = index.match(title, year)
    assert (match.movie_id, match.rule) == (movie_id, rule)


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Godfather, The", 1974),  # The Godfather of 1972 is too far; Part II is a sequel
        ("The Godfather: Part III", 1974),
        ("Psycho", 1960),  # a remake
        ("Star Wars", 1990),  # no episode of that year
        ("Twisted", 1996),  # too short to be a spelling of Twister
        ("I Still Know What You Did Last Summer", 1998),  # words added: a sequel
        ("The Work and the Story", 2003),  # another word, not another spelling
        ("Home Alone 3", 1992),  # another number
        ("Rocky III", 1979),
        ("Mr. Bean's Holiday", 2007),
        ("Untitled", 1995),  # a year is not no year
        ("Peter Pan", 1953),
    ],
)
def test_a_different_film_is_not_matched(index, title, year):
    match = index.match(title, year)
    assert match.movie_id is None and not match.possible, match


@pytest.mark.parametrize(
    ("title", "year", "possible", "rule"),
    [
        ("Kama Sutra: A Tale of Love", 1996, {12}, "series"),  # a series name a year off
        ("Bram Stoker's Dracula", 1993, {19}, "series"),
        ("The Fear", 1995, {20}, "exact"),  # "Fear" a year off, but only without "The"
        ("Peter Pan", 2003, {26}, "series"),
        ("Great Promise, A", 1981, {30}, "exact"),  # another article, not none
    ],
)
def test_a_match_it_cannot_be_sure_of_is_listed_not_guessed(index, title, year, possible, rule):
    match = index.match(title, year)
    assert match.movie_id is None and match.ambiguous
    assert {e.movie_id for e in match.possible} == possible and match.rule == rule


def test_two_rows_that_fit_equally_are_ambiguous_unless_one_is_spelt_the_same():
    index = TitleIndex.of([(1, "Spider-Man", 2002), (2, "Spiderman", 2002)])
    match = index.match("Spider Man", 2002)
    assert match.movie_id is None and {e.movie_id for e in match.possible} == {1, 2}
    assert index.match("Spiderman", 2002).movie_id == 2


def test_a_fuzzy_score_in_the_grey_band_is_possible_and_above_it_a_match():
    # One letter in about ten: scores between the grey band's floor and the acceptance.
    index = TitleIndex.of([(1, "The Adventures of Pinocchio", 1996)])
    close = index.match("The Adventures of Pinochio", 1996)
    assert close.movie_id == 1 and close.rule == "fuzzy" and close.score >= FUZZY_ACCEPT
    strict = TitleIndex.of([(1, "The Adventures of Pinocchio", 1996)], fuzzy_accept=100.0)
    grey = strict.match("The Adventures of Pinochio", 1996)
    assert grey.movie_id is None and [e.movie_id for e in grey.possible] == [1]
    assert FUZZY_GREY <= grey.score < 100.0


def test_exclude_asks_about_a_row_against_the_others(index):
    assert index.match("Hamlet", 1996, exclude=10).movie_id is None
    twins = TitleIndex.of([(1, "Boot, Das", 1982), (2, "Das Boot", 1981)])
    assert twins.match("Das Boot", 1981, exclude=2).movie_id == 1


def test_the_fuzzy_rule_can_be_left_out():
    index = TitleIndex.of([(1, "Grosse Point Blank", 1997)])
    assert index.match("Grosse Pointe Blank", 1997, fuzzy=False).movie_id is None

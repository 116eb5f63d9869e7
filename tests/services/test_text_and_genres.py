"""importers.text.repair_text and importers.genres: the repairs and the vocabulary on their own,
and the shipped sample once imported: no mis-decoded title, every film with a genre."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ftfy
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from recommender.extensions import db
from recommender.importers import catalogue as catalogue_import
from recommender.importers.genres import CANONICAL_GENRES, canonical_genres, movie_genres
from recommender.importers.movielens.layouts import ML100K_GENRES
from recommender.importers.text import repair_text
from recommender.models import Genre, Movie

SAMPLE = json.loads(catalogue_import.SAMPLE_CATALOGUE_PATH.read_text(encoding="utf-8"))
MOVIELENS_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"

# Every mis-decoded title of the sample and what it says: Windows-1252 text read as Mac Roman.
SAMPLE_REPAIRS = {
    "AstÈrix aux Jeux Olympiques": "Astérix aux Jeux Olympiques",
    "De battre mon coeur s'est arrÍtÈ": "De battre mon coeur s'est arrêté",
    "Les BronzÈs 3: amis pour la vie": "Les Bronzés 3: amis pour la vie",
    "Per qualche dollaro in pi˘": "Per qualche dollaro in più",
    "I Love You Ö Don't Touch Me!": "I Love You … Don't Touch Me!",
    "The Naked Gun 2Ω: The Smell of Fear": "The Naked Gun 2½: The Smell of Fear",
    "LÈon": "Léon",
    "Le Fabuleux destin d'AmÈlie Poulain": "Le Fabuleux destin d'Amélie Poulain",
    "AimÈe & Jaguar": "Aimée & Jaguar",
    "La mala educaciÛn": "La mala educación",
    "CachÈ": "Caché",
    "Die F‰lscher": "Die Fälscher",
    "DÈj‡ Vu": "Déjà Vu",
    "IndigËnes": "Indigènes",
    "Obsluhoval jsem anglickÈho kr·le": "Obsluhoval jsem anglického krále",
    "La MÙme": "La Môme",
    "Joyeux NoÎl": "Joyeux Noël",
    "MoliËre": "Molière",
}
# Real titles that look foreign to ASCII but are right as they are.
CLEAN_TITLES = [
    "Alien³",  # no ³ in Mac Roman: never read through it
    "Ri¢hie Ri¢h",  # reads the same either way
    "Ödipussi",  # a capital starting a word is a capital
    "Á köldum klaka (Cold Fever)",
    "L'ÉTÉ",
    "Amélie",
    "Crème brûlée",
    "Façade",
    "El Niño",
    "Æon Flux",
    "Wait…what",
    "São Paulo",
    "Tōkyō monogatari",
    "Brötzmann & Co",
    "\u201cQuoted\u201d don\u2019t",  # typography is the source's choice: curly quotes stay
    "Misérables, Les",
]
# What a mis-decoding leaves: a Mac Roman look-alike of an accented small letter inside a word,
# a lone Mac Roman letter where punctuation was, or UTF-8 read as Windows-1252 ("Ã©", "Â ").
MOJIBAKE = re.compile(r"\w[ÈÍËÎÙÛ‡‰·˘ÌÓÒ¯\u02c6]|\s[ÖΩ]\s|\d[Ω]|Ã[\x80-\xbf©¨±³¶º¼]|Â[\xa0-\xbf]")


@pytest.mark.parametrize(("dirty", "clean"), SAMPLE_REPAIRS.items())
def test_the_samples_mis_decoded_titles_are_repaired(dirty, clean):
    # ftfy alone cannot: these are not UTF-8 mis-decoded, and it scores them clean.
    assert ftfy.fix_text(dirty) == dirty and not ftfy.is_bad(dirty)
    assert MOJIBAKE.search(dirty) and not MOJIBAKE.search(clean)
    assert repair_text(dirty) == clean
    assert repair_text(clean) == clean


@pytest.mark.parametrize("title", CLEAN_TITLES)
def test_clean_text_is_left_as_it_is(title):
    assert repair_text(title) == title


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("AmÃ©lie", "Amélie"),  # UTF-8 read as Windows-1252: ftfy's case
        ("CafÃ© au lait", "Café au lait"),
        ("Don\u00e2\u0080\u0099t Look Now", "Don\u2019t Look Now"),
        ("\u2026cole", "École"),  # a capital É read through Mac Roman
        ("Ame\u0301lie", "Amélie"),  # decomposed accents are composed (NFC)
    ],
)
def test_utf8_mis_decoding_and_other_forms_are_repaired(dirty, clean):
    assert repair_text(dirty) == clean


WORDS = st.text(alphabet="abcdefghijklmnoprstuvéèêëàâäáíóôöúùûüç", min_size=1, max_size=8)


@given(st.lists(WORDS, min_size=1, max_size=4))
def test_any_french_or_german_text_read_through_mac_roman_comes_back(words):
    # Capitalised words whose accents sit inside the word, as the sample's titles have them.
    text = " ".join("L" + word for word in words)
    try:
        dirty = text.encode("cp1252").decode("mac_roman")
    except UnicodeError:
        return
    assert repair_text(dirty) == text
    assert repair_text(text) == text


# --- the genre vocabulary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Science Fiction"], ("Sci-Fi",)),
        (["Sci-Fi"], ("Sci-Fi",)),
        (["SciFi"], ("Sci-Fi",)),
        (["sci fi"], ("Sci-Fi",)),
        (["Thriller/Suspense"], ("Thriller",)),
        (["Romantic Comedy"], ("Romance", "Comedy")),
        (["Black Comedy"], ("Comedy",)),
        (["Children's"], ("Children",)),
        (["Children"], ("Children",)),
        (["drama", "DRAMA", " Drama "], ("Drama",)),
        (["(no genres listed)"], ()),
        (["unknown"], ()),
        (["IMAX", "Documentary"], ("Documentary",)),
        (["Romance", "Romantic Comedy", "Comedy"], ("Romance", "Comedy")),
        # Outside the vocabulary: kept as first written, one genre regardless of case.
        (["Biography", "biography"], ("Biography",)),
        (["", "  "], ()),
    ],
)
def test_aliases_map_to_canonical_genres(names, expected):
    assert canonical_genres(names) == expected


@pytest.mark.parametrize(
    ("names", "creative_type", "expected"),
    [
        ([], "Science Fiction", ("Sci-Fi",)),  # 2001: A Space Odyssey
        (["Adventure"], "Science Fiction", ("Adventure", "Sci-Fi")),  # Star Wars
        ([], "Historical Fiction", ("Drama",)),  # The Godfather
        (["Western"], "Historical Fiction", ("Western",)),  # only a hint: the genre wins
        ([], "Factual", ("Documentary",)),
        (["Concert/Performance"], "Factual", ("Documentary",)),
        (["Adventure"], "Kids Fiction", ("Adventure", "Children")),
        (["Action"], "Super Hero", ("Action",)),
        (["Comedy"], "Contemporary Fiction", ("Comedy",)),
        ([], "Contemporary Fiction", ()),
        ([], None, ()),
    ],
)
def test_creative_types_give_genres(names, creative_type, expected):
    assert movie_genres(names, creative_type) == expected


def test_every_genre_name_of_the_sources_is_in_the_vocabulary():
    sample_genres = {item["Major Genre"] for item in SAMPLE} - {None}
    sample_types = {item["Creative Type"] for item in SAMPLE} - {None}
    latest = (MOVIELENS_FIXTURES / "latest" / "movies.csv").read_text(encoding="utf-8")
    # MovieLens latest's genres (its README), beside what the fixture has.
    latest_genres = {"Children", "IMAX", "Film-Noir", "(no genres listed)"} | {
        name for line in latest.splitlines()[1:] for name in line.rsplit(",", 1)[1].split("|")
    }
    for name in sample_genres | set(ML100K_GENRES) | latest_genres:
        assert set(canonical_genres([name])) <= set(CANONICAL_GENRES), name
    for kind in sample_types:
        assert set(movie_genres([], kind)) <= set(CANONICAL_GENRES), kind
    # Every "Major Genre" of the sample names at least one genre; so do all but the two
    # creative types that say nothing about the genre.
    assert all(canonical_genres([name]) for name in sample_genres)
    silent = {kind for kind in sample_types if not movie_genres([], kind)}
    assert silent == {"Contemporary Fiction", "Multiple Creative Types"}


# --- the sample, imported -----------------------------------------------------------------------


def test_the_imported_sample_has_clean_titles_and_canonical_genres(app):
    report = catalogue_import.import_sample_catalogue(db.session)

    assert {(item["before"], item["after"]) for item in report.repaired} == set(
        SAMPLE_REPAIRS.items()
    )
    assert report.counts()["repaired"] == len(SAMPLE_REPAIRS) == 18
    assert report.summary().splitlines()[1].startswith("repaired text: 18 titles, e.g. ")
    titles = set(db.session.scalars(sa.select(Movie.title)))
    assert set(SAMPLE_REPAIRS.values()) <= titles
    assert not set(SAMPLE_REPAIRS) & titles
    texts = db.session.execute(
        sa.select(Movie.title, Movie.director, Movie.distributor, Movie.source_material)
    ).all()
    dirty = [
        text
        for row in texts
        for text in row
        if text is not None and (MOJIBAKE.search(text) or ftfy.is_bad(text))
    ]
    assert dirty == []

    assert set(db.session.scalars(sa.select(Genre.name))) <= set(CANONICAL_GENRES)
    genres_of = {
        (movie.title, movie.year): [genre.name for genre in movie.genres]
        for movie in db.session.scalars(sa.select(Movie))
    }
    for item in SAMPLE:
        title = repair_text(str(item["Title"])) if item["Title"] is not None else None
        informative = item["Major Genre"] or item["Creative Type"] not in (
            None,
            "Contemporary Fiction",
            "Multiple Creative Types",
        )
        if title is not None and informative:
            year = int(item["Release Date"][-4:]) if item["Release Date"] else None
            key = (title, year if year is None or year <= 2011 else year - 100)
            assert genres_of[key], key
    with_genre = sum(1 for genres in genres_of.values() if genres)
    assert with_genre == 3200 - 260  # only the 260 films with neither genre nor type lack one
    assert genres_of[("The Godfather", 1972)] == ["Drama"]
    assert genres_of[("2001: A Space Odyssey", 1968)] == ["Sci-Fi"]
    assert "Sci-Fi" in genres_of[("Star Wars Ep. IV: A New Hope", 1977)]
    is_sci_fi = Movie.genres.any(Genre.name == "Sci-Fi")
    sci_fi = db.session.scalar(sa.select(sa.func.count()).select_from(Movie).where(is_sci_fi))
    assert sci_fi == sum(1 for item in SAMPLE if item["Creative Type"] == "Science Fiction")
    romance = {genre for genres in genres_of.values() for genre in genres}
    assert {"Romance", "Comedy", "Thriller", "Children", "Fantasy"} <= romance

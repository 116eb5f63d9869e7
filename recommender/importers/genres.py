"""One genre vocabulary: every spelling a source uses, mapped to the project's canonical genres.

The canonical names are MovieLens's (the rating datasets the service learns from), with
"Children" for both "Children's" (100K, 1M) and "Children" (latest). The sample catalogue's
"Major Genre" and "Creative Type" columns, MovieLens's genre flags and any uploaded catalogue
go through ``canonical_genres`` (and the catalogue's creative type through ``movie_genres``),
so "Science Fiction" and "Sci-Fi" are one genre and "Romantic Comedy" is Romance and Comedy.

Pure Python on purpose: migration 0005 imports it to clean databases made before it, and a
migration must not pull in the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CANONICAL_GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
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

# Alias (written any way: case, spaces and punctuation are ignored, see ``_key``) -> the
# canonical genres it stands for; an empty tuple means "no genre".
_ALIASES: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in CANONICAL_GENRES},
    # The sample catalogue's "Major Genre".
    "Thriller/Suspense": ("Thriller",),
    "Suspense": ("Thriller",),
    "Romantic Comedy": ("Romance", "Comedy"),
    "RomCom": ("Romance", "Comedy"),
    "Black Comedy": ("Comedy",),
    "Dark Comedy": ("Comedy",),
    # Concert films and stand-up shows: MovieLens files them as documentaries.
    "Concert/Performance": ("Documentary",),
    "Concert": ("Documentary",),
    # MovieLens 100K and 1M spell it "Children's", MovieLens latest "Children".
    "Children's": ("Children",),
    "Kids": ("Children",),
    "Family": ("Children",),
    "Science Fiction": ("Sci-Fi",),
    "SciFi": ("Sci-Fi",),
    "SF": ("Sci-Fi",),
    "Film Noir": ("Film-Noir",),
    "Noir": ("Film-Noir",),
    "Animated": ("Animation",),
    "Music": ("Musical",),
    "Romantic": ("Romance",),
    # MovieLens's placeholders for "no genre".
    "unknown": (),
    "(no genres listed)": (),
    # MovieLens latest tags IMAX releases as a genre; it is a screen format, not a genre.
    "IMAX": (),
}

# The sample catalogue's "Creative Type" values that name a genre: added to the film's genres
# ("Star Wars" is Adventure in "Major Genre" and Science Fiction in "Creative Type").
_CREATIVE_TYPE_GENRES: dict[str, tuple[str, ...]] = {
    "Science Fiction": ("Sci-Fi",),
    "Fantasy": ("Fantasy",),
    "Kids Fiction": ("Children",),
    # Super hero films: MovieLens files every one as Action.
    "Super Hero": ("Action",),
}
# Creative types that say something about the genre only when nothing else does: the sample's
# historical fiction and dramatisations are dramas unless "Major Genre" says otherwise (The
# Godfather has no Major Genre, Glory's is Drama, Dances with Wolves' Western), factual films
# documentaries. "Contemporary Fiction" and "Multiple Creative Types" say nothing.
_CREATIVE_TYPE_FALLBACK: dict[str, tuple[str, ...]] = {
    "Historical Fiction": ("Drama",),
    "Dramatization": ("Drama",),
    "Factual": ("Documentary",),
}

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def _key(name: str) -> str:
    """Return the form aliases are looked up by: case, spaces and punctuation ignored."""
    return _NOT_ALPHANUMERIC.sub("", name.casefold())


_BY_KEY = {_key(alias): genres for alias, genres in _ALIASES.items()}
_CREATIVE_BY_KEY = {_key(kind): genres for kind, genres in _CREATIVE_TYPE_GENRES.items()}
_FALLBACK_BY_KEY = {_key(kind): genres for kind, genres in _CREATIVE_TYPE_FALLBACK.items()}


def genre_key(name: str) -> str:
    """Return the case-insensitive identity of a genre name, as the database compares names."""
    return name.strip().casefold()


def canonical_genres(names: Iterable[str]) -> tuple[str, ...]:
    """Return the canonical genres ``names`` stand for, distinct, in order of first mention.

    A name outside the vocabulary is kept as written (stripped); two spellings of it that
    differ in case only are one genre, the first spelling kept. Blank names are dropped.
    """
    out: dict[str, str] = {}
    for name in names:
        name = name.strip()
        if not name:
            continue
        mapped = _BY_KEY.get(_key(name))
        for genre in (name,) if mapped is None else mapped:
            out.setdefault(genre_key(genre), genre)
    return tuple(out.values())


def movie_genres(names: Iterable[str], creative_type: str | None = None) -> tuple[str, ...]:
    """Return a film's canonical genres from its genre names and its creative type, if any.

    The creative types that name a genre add it; the ones that only hint at one (historical
    fiction: a drama) give it only to a film that has no genre otherwise.
    """
    genres = list(canonical_genres(names))
    if creative_type:
        kind = _key(creative_type)
        genres += _CREATIVE_BY_KEY.get(kind, ())
        if not genres:
            genres += _FALLBACK_BY_KEY.get(kind, ())
    return canonical_genres(genres)


def is_alias(name: str) -> bool:
    """Return whether ``name`` is not itself a canonical genre name (it maps to others)."""
    return canonical_genres([name]) != (name.strip(),)

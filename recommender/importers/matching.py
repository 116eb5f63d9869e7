"""Which movie row is a dataset's film? Title matching a person would agree with.

Pure Python (no database): the MovieLens writer and the duplicates report build a
``TitleIndex`` of movie rows and ask it about one (title, year) at a time.

A title is first folded (``fold``): mis-decoded text repaired where ftfy can tell, accents,
case and punctuation folded, "&" and "+" read as "and", roman numerals read as numbers, an
article MovieLens moves to the end ("Shawshank Redemption, The", "Haine, La") put back in
front. Then the rules, strongest first; the first rule that finds a row within one year
decides, and a row of the same year beats one a year off:

``exact``              the folded titles are equal ("Spider-Man" = "Spiderman", "Boot, Das" =
                       "Das Boot"); in the same year also without a leading English article
                       ("Devil's Advocate" = "The Devil's Advocate"; "The Fear" of 1995 is not
                       "Fear" of 1996).
``alternative_title``  a title in brackets, or the title without them, is the other's title
                       ("Seven (Se7en)" = "Se7en", "Nikita (La Femme Nikita)" = "Nikita").
``series``             an episode title is the other's title or episode title ("Return of the
                       Jedi" = "Star Wars Ep. VI: Return of the Jedi", "Star Trek: The Wrath of
                       Khan" = "Star Trek II: The Wrath of Khan"), a numbered series' name is the
                       other's title ("Star Wars" = "Star Wars Ep. IV: A New Hope"), or, in the
                       same year only, a title without its subtitle or its presenter ("Mary
                       Shelley's Frankenstein" = "Frankenstein" of 1994; "Peter Pan" of 2003 is
                       not "Peter Pan: Return to Neverland" of 2002). Never a sequel marker:
                       "The Godfather: Part II" is not "The Godfather".
``fuzzy``              rapidfuzz's similarity of the folded titles ("Grosse Point Blank"),
                       compared only with rows of the same year or one off (blocked by year,
                       never all pairs), never for short titles ("Faust", "Fausto"), across
                       different numbers ("Home Alone 2", "Home Alone 3") or when one title is
                       the other plus words ("I Still Know What You Did Last Summer").

What is left undecided is not guessed: two rows that fit equally well, a series name a year
off, or a fuzzy score in the grey band give a ``Match`` with no ``movie_id`` and the rows it
may duplicate in ``possible``. The thresholds were chosen on the labelled pairs of
``tests/fixtures/title_pairs.csv``; ``bench/matching.py`` prints how well they do.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import ftfy
from rapidfuzz import fuzz, process

RULES = ("exact", "alternative_title", "series", "fuzzy")
# A fuzzy score (0-100, rapidfuzz's token_sort_ratio of the folded titles) at or above
# FUZZY_ACCEPT is the same film; from FUZZY_GREY up it may be, and is listed as a possible
# duplicate. On the labelled pairs (bench/matching.py --sweep) precision stays 1.0 from 70 to
# 95 once the guards below (length, numbers, whole words) have done their part, and recall
# drops at 100 ("Grosse Pointe Blank", 97); 90 is one letter in ten, in the middle of that.
FUZZY_ACCEPT = 90.0
FUZZY_GREY = 85.0
# Two words at least this alike (rapidfuzz ratio) are one word spelt two ways: "Pointe" and
# "Point" (91), not "Glory" and "Story" (80).
WORD_SPELLING = 85.0
# Two fuzzy candidates closer than this are too close to choose between.
FUZZY_MARGIN = 3.0
# Keys shorter than this (letters and digits) say too little to stand on their own: a
# subtitle ("Eclipse"), a series name ("Killer: A Journal of Murder"), a fuzzy title ("Faust").
MIN_WEAK_KEY = 8
MIN_PRESENTED_KEY = 6

# Articles MovieLens moves behind the title, in the languages it does that for.
ARTICLES = "the|a|an|les|la|le|l'|il|lo|gli|i|das|der|die|den|det|el|los|las|o|os|un|une|het"
ARTICLE_AT_END = re.compile(rf"^(?P<rest>.+?),\s+(?P<article>{ARTICLES})$", re.IGNORECASE)
LEADING_ARTICLE = re.compile(r"^(?:the|a|an) ")
BRACKETS = re.compile(r"\s*[(\[](?P<inner>[^()\[\]]*)[)\]]")
# A bracket that notes a release, not another title: "Fantasia 2000 (IMAX)".
RELEASE_NOTE = re.compile(
    r"^(?:imax|3-?d|re-?release|theatrical(?: release)?|special edition|director'?s cut|"
    r"extended(?: edition)?|remastered|dubbed|subtitled|uncut|unrated|[0-9]{4})$",
    re.IGNORECASE,
)
# "Title: Subtitle", "Title - Subtitle".
SUBTITLE = re.compile(r"\s*(?::|\s[-\u2013\u2014]\s)\s*")
# "Star Wars Ep. IV" -> "Star Wars": an episode marker at the end of a series name.
EPISODE_MARKER = re.compile(r"\s+(?:ep|episode|chapter)\.?\s+[0-9ivxl]+$", re.IGNORECASE)
# A subtitle that only numbers the film ("Part II", "Vol. 2", "2") names no film on its own.
SEQUEL_MARKER = re.compile(r"^(?:part|vol|volume|chapter|episode|ep|book)?\s*[0-9]+$")
# "Mary Shelley's Frankenstein", "Def Jam's How To Be a Player": a two-word presenter.
# Not a title ("Mr. Bean's Holiday"): the first word has no full stop.
PRESENTER = re.compile(r"^(?!(?:The|A|An)\s)[A-Z]\w*\s+[A-Z][\w.]*'s\s+(?P<rest>.+)$")
ROMAN = re.compile(r"^(?=[ivxl])(?:xl|l?x{0,3})(?:ix|iv|v?i{0,3})$")
ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50}
# After these words even a lone "i" is a numeral ("Part I").
NUMBERING_WORDS = {"part", "episode", "ep", "chapter", "vol", "volume", "book"}
NUMBER = re.compile(r"[0-9]+")
APOSTROPHES = re.compile(r"['\u2019`]")
NOT_WORD = re.compile(r"[^0-9a-z]+")
# Characters NFKD leaves alone that stand for letters or words in titles ("Ri¢hie Ri¢h").
STAND_INS = str.maketrans({"&": " and ", "+": " and ", "¢": "c", "$": "s", "@": "a"})


def _roman_value(numeral: str) -> int:
    total = 0
    for current, following in zip(numeral, [*numeral[1:], ""], strict=True):
        value = ROMAN_VALUES[current]
        total += -value if following and ROMAN_VALUES[following] > value else value
    return total


def front_article(title: str) -> str:
    """Return "The Shawshank Redemption" for "Shawshank Redemption, The"; others unchanged."""
    title = title.strip()
    match = ARTICLE_AT_END.match(title)
    if match is None:
        return title
    article = match["article"]
    joiner = "" if article.endswith("'") else " "
    return f"{article}{joiner}{match['rest']}"


def repair(text: str) -> str:
    """Return ``text`` with mis-decoded characters repaired where ftfy can tell (ASCII: as is)."""
    return text if text.isascii() else ftfy.fix_text(text)


def fold(title: str) -> str:
    """Return the comparable form of one title: lower-case ASCII words, numbers in digits.

    "Shawshank Redemption, The" -> "the shawshank redemption"; "Léon" -> "leon";
    "Star Wars Ep. VI" -> "star wars ep 6"; "Batman & Robin" -> "batman and robin".
    """
    text = front_article(repair(title)).translate(STAND_INS)
    if not text.isascii():  # Most titles are ASCII: no decomposition to do.
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    # Apostrophes join ("Schindler's" -> "schindlers"); other punctuation separates words.
    words = NOT_WORD.sub(" ", APOSTROPHES.sub("", text.casefold())).split()
    for index, word in enumerate(words):
        if ROMAN.match(word) and (word != "i" or (index and words[index - 1] in NUMBERING_WORDS)):
            words[index] = str(_roman_value(word))
    return " ".join(words)


def key(folded: str) -> str:
    """Return the exact-match key of a folded title: its letters and digits, no spaces."""
    return folded.replace(" ", "")


def bare_key(folded: str) -> str:
    """Return the key without a leading English article ("the shawshank ..." -> "shawshank...")."""
    return key(LEADING_ARTICLE.sub("", folded))


@dataclass(frozen=True)
class TitleForms:
    """The keys one title is known by, rule by rule."""

    folded: str  # the whole title folded: what the fuzzy rule compares
    exact: str
    # The other keys have no leading English article: "Monty Python's Life of Brian" = "The
    # Life of Brian" (only the exact rule holds "The Fear" apart from "Fear").
    bare: str
    alternatives: frozenset[str]  # the title without its brackets, and each bracketed title
    episode_titles: frozenset[str]  # "Return of the Jedi" of "Star Wars Ep. VI: Return of ..."
    series_names: frozenset[str]  # "Star Wars" of "Star Wars Ep. IV: ..." (numbered)
    weak_names: frozenset[str]  # "Kama Sutra" of "Kama Sutra: A Tale of Love", presenter-less
    numbers: frozenset[str]  # the numbers in the title (sequels differ by them)

    @property
    def names(self) -> frozenset[str]:
        """The keys this title is the whole name of: itself and its alternatives."""
        return self.alternatives | {self.bare}


def _series_parts(title: str) -> tuple[set[str], set[str], set[str]]:
    """Return the (episode titles, numbered series names, weak names) keys of one title."""
    episodes: set[str] = set()
    series: set[str] = set()
    weak: set[str] = set()
    parts = SUBTITLE.split(title, maxsplit=1)
    if len(parts) == 2 and all(part.strip() for part in parts):
        prefix, subtitle = parts
        folded_subtitle = fold(subtitle)
        # "The Godfather: Part II" names no episode, and its prefix is another film.
        if not SEQUEL_MARKER.match(folded_subtitle):
            episodes.add(bare_key(folded_subtitle))
            name = EPISODE_MARKER.sub("", prefix)
            (series if name != prefix else weak).add(bare_key(fold(name)))

    def long(keys: set[str]) -> set[str]:
        return {k for k in keys if len(k) >= MIN_WEAK_KEY}

    weak = long(weak)
    # A presenter says more than a subtitle does: "Bram Stoker's Dracula" = "Dracula".
    if (presenter := PRESENTER.match(title)) is not None:
        rest = bare_key(fold(presenter["rest"]))
        if len(rest) >= MIN_PRESENTED_KEY:
            weak.add(rest)
    return long(episodes), long(series), weak


def title_forms(title: str) -> TitleForms:
    """Analyse one title into the keys the rules compare."""
    title = repair(title).strip()
    bracketed = [
        front_article(m["inner"])
        for m in BRACKETS.finditer(title)
        if m["inner"].strip() and not RELEASE_NOTE.match(m["inner"].strip())
    ]
    main = front_article(BRACKETS.sub("", title).strip() or title)
    folded_main = fold(main)
    folded = fold(main + "".join(f" ({part})" for part in bracketed)) if bracketed else folded_main
    exact, bare = key(folded), bare_key(folded)
    alternatives = {bare_key(folded_main)}
    alternatives |= {k for part in bracketed if len(k := bare_key(fold(part))) >= 5}
    alternatives -= {"", bare}
    episodes: set[str] = set()
    series: set[str] = set()
    weak: set[str] = set()
    for part in [main, *bracketed]:
        part_episodes, part_series, part_weak = _series_parts(part)
        episodes |= part_episodes
        series |= part_series
        weak |= part_weak
    names = alternatives | {bare}
    return TitleForms(
        folded=folded,
        exact=exact,
        bare=bare,
        alternatives=frozenset(alternatives),
        episode_titles=frozenset(episodes - names),
        series_names=frozenset(series - names),
        weak_names=frozenset(weak - names),
        numbers=frozenset(NUMBER.findall(folded_main)),
    )


@dataclass(frozen=True)
class Entry:
    """One movie row as the index holds it."""

    movie_id: int
    title: str
    year: int | None
    forms: TitleForms


@dataclass(frozen=True)
class Match:
    """The matcher's answer for one title: a row, or none, and the rows it might duplicate.

    ``movie_id`` is set when one row fits by ``rule``; when it is None, ``possible`` holds the
    rows it may be (ambiguous, a series name a year off, a fuzzy score in the grey band), or
    nothing (a film the index does not hold).
    """

    movie_id: int | None
    rule: str | None = None
    score: float = 100.0
    possible: tuple[Entry, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.movie_id is None and bool(self.possible)


NO_MATCH = Match(None)
Table = dict[str, list[Entry]]


def _years_near(year: int | None) -> tuple[int | None, ...]:
    return (None,) if year is None else (year, year - 1, year + 1)


@dataclass
class _Probe:
    """What one rule found: ``certain`` rows count within one year, ``same_year_only`` rows
    only in the same year (a year off they are possible duplicates, not matches)."""

    certain: list[Entry] = field(default_factory=list)
    same_year_only: list[Entry] = field(default_factory=list)
    possible_only: list[Entry] = field(default_factory=list)  # never more than possible


def _table() -> Table:
    return defaultdict(list)


@dataclass
class _FuzzyBlock:
    """The rows of one (year, numbers in the title) with their token-sorted folded titles."""

    entries: list[Entry] = field(default_factory=list)
    sorted_titles: list[str] = field(default_factory=list)


def _token_sorted(folded: str) -> str:
    # fuzz.ratio of token-sorted strings is token_sort_ratio, without sorting per comparison.
    return " ".join(sorted(folded.split()))


@dataclass
class TitleIndex:
    """Movie rows indexed by each rule's keys and by year; ``match`` asks about one title.

    ``fuzzy_accept`` and ``fuzzy_grey`` are the fuzzy rule's thresholds (the module's by
    default; ``bench/matching.py --sweep`` tries others).
    """

    fuzzy_accept: float = FUZZY_ACCEPT
    fuzzy_grey: float = FUZZY_GREY
    exact: Table = field(default_factory=_table)
    bare: Table = field(default_factory=_table)
    alternatives: Table = field(default_factory=_table)
    episode_titles: Table = field(default_factory=_table)
    series_names: Table = field(default_factory=_table)
    weak_names: Table = field(default_factory=_table)
    fuzzy_blocks: dict[tuple[int | None, frozenset[str]], _FuzzyBlock] = field(
        default_factory=lambda: defaultdict(_FuzzyBlock)
    )
    entries: dict[int, Entry] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple[int, str, int | None]], **thresholds: float) -> TitleIndex:
        """Build the index of (movie id, title, year) rows."""
        index = cls(**thresholds)
        for movie_id, title, year in rows:
            index.add(movie_id, title, year)
        return index

    def add(
        self, movie_id: int, title: str, year: int | None, forms: TitleForms | None = None
    ) -> Entry:
        """Index one more row; ``forms``: its ``title_forms`` when the caller has them."""
        entry = Entry(movie_id, title, year, forms or title_forms(title))
        forms = entry.forms
        self.entries[movie_id] = entry
        self.exact[forms.exact].append(entry)
        self.bare[forms.bare].append(entry)
        for table, keys in (
            (self.alternatives, forms.alternatives),
            (self.episode_titles, forms.episode_titles),
            (self.series_names, forms.series_names),
            (self.weak_names, forms.weak_names),
        ):
            for k in keys:
                table[k].append(entry)
        if len(forms.bare) >= MIN_WEAK_KEY:
            block = self.fuzzy_blocks[(year, forms.numbers)]
            block.entries.append(entry)
            block.sorted_titles.append(_token_sorted(forms.folded))
        return entry

    def match(
        self,
        title: str,
        year: int | None,
        *,
        exclude: int | None = None,
        fuzzy: bool = True,
        forms: TitleForms | None = None,
    ) -> Match:
        """Return the row ``title`` (of ``year``) is, or why none is chosen.

        ``exclude``: a row never to return (the duplicates report asks about a row itself);
        ``fuzzy=False`` stops after the series rule; ``forms``: ``title_forms(title)`` when
        the caller has them.
        """
        forms = forms or title_forms(title)
        years = _years_near(year)
        for rule, probe in self._probes(forms):
            certain = [e for e in probe.certain if e.year in years and e.movie_id != exclude]
            certain += [e for e in probe.same_year_only if e.year == year and e.movie_id != exclude]
            possible = [
                e
                for e in probe.same_year_only
                if e.year in years and e.year != year and e.movie_id != exclude
            ]
            possible += [
                e for e in probe.possible_only if e.year in years and e.movie_id != exclude
            ]
            if certain:
                return _choose(rule, certain, year, title)
            if possible:
                return Match(None, rule, possible=_unique(possible))
        return self._fuzzy(forms, years, year, exclude) if fuzzy else NO_MATCH

    def _probes(self, forms: TitleForms) -> Iterable[tuple[str, _Probe]]:
        """Yield each rule's candidates, strongest rule first, each looked up only when asked."""
        names = forms.names
        # Without a leading article: "Devil's Advocate" = "The Devil's Advocate" in the same
        # year, but "A Great Promise" and "The Great Promise" are only possibly one film.
        bare = [e for e in self.bare.get(forms.bare, []) if e.forms.exact != forms.exact]
        has_article = forms.exact != forms.bare
        one_article = [e for e in bare if not (has_article and e.forms.exact != e.forms.bare)]
        two_articles = [e for e in bare if has_article and e.forms.exact != e.forms.bare]
        yield "exact", _Probe(self.exact.get(forms.exact, []), one_article, two_articles)
        yield (
            "alternative_title",
            _Probe(_lookup(names, self.alternatives) + _lookup(forms.alternatives, self.bare)),
        )
        episodes = forms.episode_titles
        yield (
            "series",
            _Probe(
                # An episode title or a numbered series name against the other's title, an
                # episode title against an episode title: "The Wrath of Khan" of both.
                _lookup(names, self.episode_titles, self.series_names)
                + _lookup(episodes | forms.series_names, self.bare, self.alternatives)
                + _lookup(episodes, self.episode_titles),
                # Series names alone and presenters: only in the same year ("Peter Pan").
                _lookup(names, self.weak_names)
                + _lookup(forms.weak_names, self.bare, self.alternatives),
            ),
        )

    def _fuzzy(
        self,
        forms: TitleForms,
        years: tuple[int | None, ...],
        year: int | None,
        exclude: int | None,
    ) -> Match:
        if len(forms.bare) < MIN_WEAK_KEY:
            return NO_MATCH
        query = _token_sorted(forms.folded)
        words = set(forms.folded.split())
        scored: list[tuple[float, Entry]] = []
        for y in years:
            block = self.fuzzy_blocks.get((y, forms.numbers))
            if block is None:
                continue
            found = process.extract(
                query,
                block.sorted_titles,
                scorer=fuzz.ratio,
                score_cutoff=self.fuzzy_grey,
                limit=10,
            )
            scored += [
                (score, entry)
                for _, score, i in found
                if (entry := block.entries[i]).movie_id != exclude
                and not _whole_words_differ(words, set(entry.forms.folded.split()))
            ]
        if not scored:
            return NO_MATCH
        # Among equal scores the same year first.
        scored.sort(key=lambda item: (-item[0], item[1].year != year))
        best_score = scored[0][0]
        close = _unique([e for score, e in scored if best_score - score < FUZZY_MARGIN])
        if best_score >= self.fuzzy_accept and len(close) == 1:
            return Match(close[0].movie_id, "fuzzy", best_score)
        return Match(None, "fuzzy", best_score, close)


def _lookup(keys: Iterable[str], *tables: Table) -> list[Entry]:
    return [entry for table in tables for k in keys for entry in table.get(k, ())]


def _whole_words_differ(a: set[str], b: set[str]) -> bool:
    """Whether two titles differ by whole words, not by a typo or spelling of one.

    One title the other plus words ("I Still Know What You Did Last Summer"), or a word of one
    with no look-alike in the other ("The Work and the Glory", "The Work and the Story"), is
    another film; "Grosse Pointe Blank" and "Grosse Point Blank" differ by a spelling.
    """
    only_a, only_b = a - b, b - a
    if not only_a or not only_b:
        return a != b

    def unmatched(words: set[str], others: set[str]) -> bool:
        return any(max(fuzz.ratio(w, o) for o in others) < WORD_SPELLING for w in words)

    return unmatched(only_a, only_b) or unmatched(only_b, only_a)


def _unique(entries: list[Entry]) -> tuple[Entry, ...]:
    return tuple({e.movie_id: e for e in entries}.values())


def _choose(rule: str, candidates: list[Entry], year: int | None, title: str) -> Match:
    """Return the one candidate of ``rule`` that fits best, or an ambiguous match."""
    unique = list(_unique(candidates))
    if len(unique) > 1:
        same_year = [e for e in unique if e.year == year]
        unique = same_year or unique
    if len(unique) > 1:
        # The very same spelling settles it (a catalogue holding "Spider-Man" and "Spiderman").
        same = [e for e in unique if e.title.casefold() == title.casefold()]
        unique = same if len(same) == 1 else unique
    if len(unique) == 1:
        return Match(unique[0].movie_id, rule)
    return Match(None, rule, possible=tuple(unique))

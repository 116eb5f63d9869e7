"""What an uploaded file holds, for the importers' messages (binary kinds, encodings, numbers),
and the repair of mis-decoded text that every importer and migration 0005 apply.

Imports nothing of the app: migrations import it."""

from __future__ import annotations

import codecs
import re

import ftfy

# Magic numbers of files people upload by mistake, to say what they sent instead of "invalid".
BINARY_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Plain decimal notation only: int() and float() would also take "1_000", "nan" or Arabic digits.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def binary_kind(head: bytes) -> str | None:
    """Return what binary file ``head`` starts like ("a PNG image"), or None for text."""
    return next((kind for magic, kind in BINARY_SIGNATURES if head.startswith(magic)), None)


def encoding_hint(data: bytes) -> str:
    """Return a hint naming the encoding undecodable UTF-8 ``data`` is probably in."""
    if data.startswith(UTF16_BOMS):
        return " (the file is UTF-16: save it as UTF-8)"
    return " (Latin-1 or Windows-1252? save the file as UTF-8)"


# --------------------------------------------------------------------------------------------
# Repairing mis-decoded text (mojibake)
# --------------------------------------------------------------------------------------------

# ftfy undoes UTF-8 read as Windows-1252 or Latin-1 ("AmÃ©lie"), the common kind. Only its
# decoding repairs are on: typography as written (curly quotes, full-width letters, ligatures,
# HTML entities) is the source's choice, not damage.
FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    fix_line_breaks=False,
    explain=False,
)


def _misread(text: str, candidate: str, index: int) -> bool:
    """Return whether ``text[index]`` reads as ``candidate[index]`` misread through Mac Roman.

    True only where the misreading shows, its neighbours taken as repaired: a capital or a
    symbol inside a lower-case word ("LÈon", "DÈj‡ Vu"), a letter standing alone where
    punctuation belongs ("You Ö Don't", "2Ω:"), or a symbol starting a word for its capital
    ("…cole"). A real "Ö" in "Ödipussi" or "Á" in "Á köldum klaka" is none of these.
    """
    char, repaired = text[index], candidate[index]
    before = candidate[index - 1] if index > 0 else " "
    after = candidate[index + 1] if index + 1 < len(candidate) else " "
    if repaired.isalpha() and repaired.islower():
        return not char.islower() and before.isalpha()
    if repaired.isalpha():
        return not char.isalpha() and not before.isalpha() and after.isalpha()
    return not before.isalpha() and not after.isalpha()


def _repair_mac_roman(text: str) -> str:
    """Return ``text`` with Windows-1252 bytes that were decoded as Mac Roman read again.

    ftfy cannot see this kind (the sample catalogue's "LÈon" for "Léon"): it repairs text
    whose bytes, encoded back, are valid UTF-8, and Windows-1252 bytes read as Mac Roman are
    not UTF-8 at all; ftfy.badness scores "LÈon" 0, as clean. So this repair is narrow: the
    whole text must encode to Mac Roman and decode as Windows-1252, and every character it
    changes must look misread (``_misread``); otherwise the text is left as it is.
    """
    if text.isascii():
        return text
    try:
        candidate = text.encode("mac_roman").decode("cp1252")
    except UnicodeError:  # "Alien³": no ³ in Mac Roman, so it was never read through it.
        return text
    # Both encodings are one byte per character, so characters pair up one to one.
    changed = [i for i, (old, new) in enumerate(zip(text, candidate, strict=True)) if old != new]
    if changed and all(_misread(text, candidate, i) for i in changed):
        return candidate
    return text


def repair_text(text: str) -> str:
    """Return ``text`` with mis-decoded characters repaired ("LÈon" -> "Léon"), else unchanged.

    The narrow Mac Roman repair first, then ftfy (UTF-8 misread as Windows-1252 or Latin-1,
    NFC normalisation): the other order lets ftfy take a Mac Roman pair such as "Ëˆ" ("èö"
    misread) for UTF-8 misread as Windows-1252 and turn it into U+02C8. Pure function of the
    text, shared by the importers and migration 0005.
    """
    return ftfy.fix_text(_repair_mac_roman(text), FTFY_CONFIG)

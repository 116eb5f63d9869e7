"""What an uploaded file holds, for the importers' messages: binary kinds, encodings, numbers."""

from __future__ import annotations

import codecs
import re

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

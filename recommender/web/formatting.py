"""Template filters for numbers people read: thousands separators and plurals."""

from __future__ import annotations

from flask import Flask


def thousands(value: float | int | None) -> str:
    """12345 -> "12,345"; a float keeps its own digits (3.5 -> "3.5"); None -> ""."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,g}"
    return f"{int(value):,}"


def plural(count: float | int, singular: str, plural_form: str | None = None) -> str:
    """The count with its noun: "1 film", "3,200 films", "1 star", "4.5 stars".

    Only exactly one is singular (1.5 stars, 0 films); ``plural_form`` for irregular nouns.
    """
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{thousands(count)} {noun}"


def init_app(app: Flask) -> None:
    app.add_template_filter(thousands)
    app.add_template_filter(plural)

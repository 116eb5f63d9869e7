"""Catalogue and rating dataset importers (placeholder: being written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImportReport:
    run_id: int
    kind: str
    filename: str
    status: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    corrected: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return ""


def import_catalogue(*args: Any, **kwargs: Any) -> ImportReport:
    raise NotImplementedError


def import_sample_catalogue(*args: Any, **kwargs: Any) -> ImportReport:
    raise NotImplementedError

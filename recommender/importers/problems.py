"""Line-numbered problems: what an importer collects while it reads, and the refusal they make."""

from __future__ import annotations

from recommender.services.errors import ImportRefused

# Enough to fix a file in one go without drowning the admin (or the import_runs row).
MAX_PROBLEMS = 100


class TooManyProblems(Exception):
    """Raised by ``Problems.add`` to stop reading once the list is full."""


class Problems:
    """Collect ``{location, message}`` problems, stopping the read past ``limit``."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.items: list[dict[str, str]] = []
        self.limit = limit
        self.truncated = False

    def add(self, location: str, message: str) -> None:
        """Record one problem, or stop the read when the list is already full."""
        if len(self.items) >= self.limit:
            self.truncated = True
            raise TooManyProblems
        self.items.append({"location": location, "message": message})

    def __len__(self) -> int:
        """Return how many problems were recorded."""
        return len(self.items)


def refusal(
    filename: str, problems: list[dict[str, str]], truncated: bool = False
) -> ImportRefused:
    """Return the error refusing ``filename`` because of ``problems``."""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    if truncated:
        count = f"more than {len(problems)} problems (stopped after the first {len(problems)})"
    return ImportRefused(f"{filename} was refused: {count}", problems)

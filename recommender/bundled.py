"""Where the two top-level parts of the repository are found at run time.

``config.py`` (the default settings) and ``migrations/`` stay at the top of the repository,
where the design card names them. The wheel carries them inside the package (setup.py copies
them there at build time); a checkout, and an editable install of it, reads them in place.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(name_in_package: str, name_in_checkout: str) -> Path:
    packaged = PACKAGE_DIR / name_in_package
    return packaged if packaged.exists() else PACKAGE_DIR.parent / name_in_checkout


DEFAULTS_FILE = _bundled("default_config.py", "config.py")
MIGRATIONS_DIR = _bundled("migrations", "migrations")

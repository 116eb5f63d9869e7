"""Fetch MovieLens 100K at run time into a local cache (its licence forbids committing it).

The RecBole wheel on PyPI (pure Python) carries ML-100K as RecBole atomic files; the wheel is
downloaded with pip and only the two files needed are extracted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RECBOLE_VERSION = "1.2.1"
ML100K_MEMBERS = ("ml-100k.inter", "ml-100k.item")
WHEEL_FOLDER = "recbole/dataset_example/ml-100k/"


class DatasetUnavailable(RuntimeError):
    """The dataset could not be fetched (no network, no registry, a changed wheel)."""


def fetch_ml100k(cache_dir: str | Path, *, timeout: float = 120) -> Path:
    """Return ``cache_dir/ml-100k``, a folder in RecBole atomic layout, fetching it if needed.

    Raises :class:`DatasetUnavailable` saying why when the wheel cannot be had.
    """
    target = Path(cache_dir) / "ml-100k"
    if all((target / name).is_file() for name in ML100K_MEMBERS):
        return target
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            f"recbole=={RECBOLE_VERSION}",
            "-d",
            scratch,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DatasetUnavailable(f"could not run pip download: {error}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DatasetUnavailable(f"pip download recbole=={RECBOLE_VERSION} failed: {detail[0]}")
        wheels = list(Path(scratch).glob("recbole-*.whl"))
        if not wheels:
            raise DatasetUnavailable(f"pip download left no recbole wheel in {scratch}")
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        # Extracted beside the target and renamed into place: a crash leaves no half folder.
        partial = Path(tempfile.mkdtemp(prefix=".ml-100k-", dir=cache_dir))
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                for name in ML100K_MEMBERS:
                    with wheel.open(WHEEL_FOLDER + name) as src, (partial / name).open("wb") as out:
                        shutil.copyfileobj(src, out)
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        except KeyError as error:
            raise DatasetUnavailable(f"the recbole wheel no longer holds {error}") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target

"""Where a dataset's files come from: a folder or a zip, guarded, and read line by line.

A zip is checked before anything is read from it (member count, unpacked size, compression
ratio, paths leaving the archive, one dataset per zip); its files may sit at its root or under
one top folder. Lines are read with ``readline(limit)``, so a file without newlines costs
``MAX_LINE_BYTES``, not its size.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from recommender.importers.problems import Problems
from recommender.importers.text import UTF16_BOMS, binary_kind, encoding_hint

# Guards for uploaded archives: MovieLens 25M is about 1.1 GB unpacked, 7 files.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_MEMBERS = 1000
# Text deflates 3-5 times (ML-25M's ratings.csv: 4x); a member that claims far more is a bomb.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 1024**2
# The longest line of ML-25M is under 300 bytes: a longer one is the wrong file (or no newlines
# at all), refused after reading this much of it rather than the whole.
MAX_LINE_BYTES = 64 * 1024
# What a damaged member raises while it is read (bad CRC, cut deflate stream).
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


class DatasetRefused(Exception):
    """A dataset that cannot be read at all (not a zip, no layout): one problem, no lines."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


class DatasetFiles:
    """The files of a dataset by bare name, whether in a folder or a zip."""

    def __init__(
        self,
        name: str,
        sizes: dict[str, int],
        opener: Callable[[str], IO[bytes]],
        folder: Path = Path(),
    ) -> None:
        self.name = name
        self.sizes = sizes
        self._opener = opener
        # Where the files are on disk, for messages (a zip's files are in no folder).
        self.folder = folder

    def open(self, filename: str) -> IO[bytes]:
        """Open ``filename`` for reading bytes."""
        return self._opener(filename)

    def lines(
        self, filename: str, encoding: str, problems: Problems, counter: list[int]
    ) -> Iterator[tuple[int, str]]:
        """Yield (line number, text) of the non-blank lines of ``filename``, one at a time.

        Bytes read are added to ``counter[0]`` for progress; an undecodable line is a problem,
        and so are a binary file, a NUL byte, a line over ``MAX_LINE_BYTES`` and a damaged zip
        member (the last three stop the file).
        """
        with self.open(filename) as opened:
            # A BufferedReader's readline(limit) is C; a bare zip member's is a Python loop.
            stream = opened if isinstance(opened, io.BufferedReader) else io.BufferedReader(opened)
            try:
                # A PNG's magic number spans its first line break: look before splitting lines.
                if (kind := binary_kind(stream.peek(16)[:16])) is not None:
                    problems.add(f"{filename} line 1", f"this is {kind}, not a text file")
                    return
                # partial + iter keep the loop in C: a `while readline()` costs 1.5x per line.
                for number, raw in enumerate(
                    iter(partial(stream.readline, MAX_LINE_BYTES + 1), b""), 1
                ):
                    counter[0] += len(raw)
                    if number == 1:
                        # Cut as bytes: Latin-1 would read a UTF-8 BOM as three letters.
                        raw = raw.removeprefix(codecs.BOM_UTF8)
                    if len(raw) > MAX_LINE_BYTES:
                        problems.add(
                            f"{filename} line {number}",
                            f"line longer than {MAX_LINE_BYTES:,} bytes: not a MovieLens file",
                        )
                        return
                    try:
                        text = raw.decode(encoding)
                    except UnicodeDecodeError as error:
                        problems.add(
                            f"{filename} line {number}",
                            f"invalid {encoding.upper()}: byte 0x{raw[error.start]:02x} at column "
                            f"{error.start + 1}{encoding_hint(raw) if number == 1 else ''}",
                        )
                        if raw.startswith(UTF16_BOMS):
                            return  # Every line of a UTF-16 file would say the same.
                        continue
                    if "\x00" in text:
                        problems.add(
                            f"{filename} line {number}", "NUL byte (0x00): not a text file"
                        )
                        return
                    text = text.rstrip("\r\n")
                    if text.strip():
                        yield number, text
            except ZIP_READ_ERRORS as error:
                problems.add(filename, f"the zip member is damaged: {error}")


def folder_files(path: Path) -> DatasetFiles:
    """Return the files of a folder, or of its one subfolder when it holds nothing else."""
    entries = [entry for entry in path.iterdir() if not entry.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        path = entries[0]
    files = {entry.name: entry for entry in path.iterdir() if entry.is_file()}
    sizes = {name: entry.stat().st_size for name, entry in files.items()}
    return DatasetFiles(path.name, sizes, lambda name: files[name].open("rb"), path)


def _zip_files(archive: zipfile.ZipFile, name: str) -> DatasetFiles:
    """Return the files of a zip after checking it is safe to read; raise ``DatasetRefused``."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise DatasetRefused(
            "archive", f"the zip holds {len(members):,} members, more than {MAX_MEMBERS:,}"
        )
    total = 0
    paths: dict[PurePosixPath, zipfile.ZipInfo] = {}
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", member.filename):
            raise DatasetRefused(
                "archive", f"member {member.filename!r} points outside the archive"
            )
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECKED_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise DatasetRefused(
                "archive",
                f"member {member.filename!r} expands {ratio:,.0f} times (a zip bomb?): "
                f"the limit is {MAX_COMPRESSION_RATIO}",
            )
        if not member.is_dir() and path.parts[0] != "__MACOSX":
            paths[path] = member
    if total > MAX_UNCOMPRESSED_BYTES:
        raise DatasetRefused(
            "archive",
            f"the zip unpacks to {total:,} bytes, more than the limit of "
            f"{MAX_UNCOMPRESSED_BYTES:,} bytes",
        )
    tops = {path.parts[0] for path in paths if len(path.parts) > 1}
    at_root = [path for path in paths if len(path.parts) == 1]
    if len(tops) > 1 and not at_root:
        raise DatasetRefused(
            "archive",
            f"the zip holds {len(tops)} top folders ({', '.join(sorted(tops))}): "
            "one dataset per zip",
        )
    if len(tops) == 1 and not at_root:
        top = tops.pop()
        files = {p.name: m for p, m in paths.items() if len(p.parts) == 2 and p.parts[0] == top}
        name = top
    else:
        files = {path.name: member for path, member in paths.items() if len(path.parts) == 1}
    sizes = {filename: member.file_size for filename, member in files.items()}
    # ZipExtFile never yields more than the declared file_size (checked above) and fails
    # on a CRC mismatch, so a member cannot inflate past the limit.
    return DatasetFiles(name, sizes, lambda filename: archive.open(files[filename]))


def open_dataset(source: Path | BinaryIO, name: str, stack: ExitStack) -> DatasetFiles:
    """Return the files of a dataset folder or zip (a path or a stream); closed by ``stack``."""
    if isinstance(source, Path) and source.is_dir():
        return folder_files(source)
    if isinstance(source, Path) and not source.exists():
        raise DatasetRefused("file", f"{source} does not exist")
    try:
        archive = stack.enter_context(zipfile.ZipFile(source))
    except (zipfile.BadZipFile, OSError) as error:
        raise DatasetRefused(
            "file", f"not a folder or a zip file ({error}): a dataset is a folder or a .zip"
        ) from None
    return _zip_files(archive, Path(name).stem)


def single_file(path: Path) -> DatasetFiles:
    """Return a dataset of the one file ``path`` (evaluation reads a ratings file alone)."""
    size = {path.name: path.stat().st_size}
    return DatasetFiles(path.parent.name, size, lambda _: path.open("rb"), path.parent)

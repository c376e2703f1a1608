"""Defensive reading of bundle ZIP files (spec ``prr-bundle-v1`` §2 rule 1).

Bundles arrive from the network and from flash drives, so the archive is hostile until proven
otherwise: member paths could escape a directory if anyone ever extracted them, links could
point anywhere, and a few kilobytes could claim to inflate to gigabytes. Nothing here extracts
to disk; members are read into memory (small ones) or streamed in chunks (large ones), with
reads bounded by the sizes already vetted.

The same checks apply to two readers: :func:`check_directory` to the compact
:class:`~printctl.intake.zipdir.ZipDirectory` that PRR bundles (up to 200,003 members) are read
with, :func:`check_archive` to a :class:`zipfile.ZipFile` (small event bundles).
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from printctl.intake.zipdir import (
    DEFLATED,
    FLAG_ENCRYPTED,
    STORED,
    TooManyMembers,
    ZipDirectory,
    ZipFormatError,
)

GIB = 1024**3
MIB = 1024**2

#: Compression methods Python's zipfile can read; anything else cannot be verified.
SUPPORTED_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
#: Exceptions zipfile and its decompressors raise on corrupt or unsupported data.
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    ZipFormatError,
)


@dataclass(frozen=True)
class BundleLimits:
    """Configured ceilings that keep a hostile bundle from exhausting memory, disk or CPU."""

    max_total_uncompressed: int = 2 * GIB
    max_ratio: float = 200.0
    #: Two media members per record at ``max_records``, plus manifest, signature, records.
    max_members: int = 200_003
    max_records: int = 100_000
    max_manifest_bytes: int = 64 * MIB
    max_image_pixels: int = 40_000_000
    #: Threads that check photos and signatures (JPEG decoding releases the GIL).
    media_workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    #: Records whose media are read (and checked on the workers) ahead of the one being
    #: validated: this bounds the media in memory at once, whatever the bundle's size.
    read_ahead: int = 256


class UnsafeZipError(Exception):
    """The archive breaks rule 1; ``str(exc)`` is the human reason."""


def is_directory_entry(info: zipfile.ZipInfo) -> bool:
    """True for an empty directory entry (``photos/``) that archivers add on their own."""
    return info.filename.endswith("/") and info.file_size == 0


def member_path_problem(name: str) -> str | None:
    """Why a member name is unsafe, or None. Pure: also used for names listed in manifests."""
    if not name:
        return "a member has an empty name"
    if "\x00" in name:
        return f"member name {name!r} contains a NUL byte"
    if "\\" in name:
        return f"member name {name!r} contains a backslash"
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        return f"member path {name!r} is absolute"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return f"member path {name!r} contains a '..' component"
    if any(part in ("", ".") for part in parts):
        return f"member path {name!r} has an empty or '.' component"
    return None


class _Entry:
    """What rule 1 looks at in one central directory entry, whichever reader found it."""

    __slots__ = ("compress_size", "encrypted", "external_attr", "method", "name", "raw", "size")

    def __init__(
        self,
        raw: str,
        name: str,
        size: int,
        compress_size: int,
        encrypted: bool,
        method: int,
        external_attr: int,
    ) -> None:
        self.raw = raw  # the name as the archive says it (zipfile truncates at a NUL)
        self.name = name
        self.size = size
        self.compress_size = compress_size
        self.encrypted = encrypted
        self.method = method
        self.external_attr = external_attr


def _vet(
    entries: Iterator[_Entry], count: int, limits: BundleLimits, methods: frozenset[int]
) -> Iterator[tuple[int, _Entry]]:
    """Apply rule 1 to ``count`` entries in archive order; yield (index, entry) of each file.

    Raises :class:`UnsafeZipError` with a human reason on the first problem.
    """
    if count > limits.max_members:
        raise UnsafeZipError(
            f"the archive has {count} members, more than the limit {limits.max_members}"
        )
    seen: set[str] = set()
    total = 0
    for index, entry in enumerate(entries):
        problem = member_path_problem(entry.raw)
        if problem:
            raise UnsafeZipError(problem)
        name = entry.name
        if name in seen:
            # A reader would have to pick one copy; which one was meant is unknowable.
            raise UnsafeZipError(f"member {name!r} appears more than once")
        seen.add(name)
        mode = entry.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeZipError(f"member {name!r} is a symbolic link")
        if entry.encrypted:
            raise UnsafeZipError(f"member {name!r} is encrypted")
        if entry.method not in methods:
            raise UnsafeZipError(f"member {name!r} uses an unsupported compression method")
        total += entry.size
        if total > limits.max_total_uncompressed:
            raise UnsafeZipError(
                f"members inflate to more than {limits.max_total_uncompressed} bytes "
                "in total (possible zip bomb)"
            )
        ratio = entry.size / max(entry.compress_size, 1)
        if ratio > limits.max_ratio:
            raise UnsafeZipError(
                f"member {name!r} has a compression ratio of {ratio:.0f}:1, above the "
                f"limit {limits.max_ratio:.0f}:1 (possible zip bomb)"
            )
        if name.endswith("/") and entry.size == 0:  # see is_directory_entry
            continue
        yield index, entry


def check_archive(zf: zipfile.ZipFile, limits: BundleLimits) -> list[zipfile.ZipInfo]:
    """Apply rule 1 to the central directory and return the file members (no directories).

    Raises :class:`UnsafeZipError` with a human reason on the first problem.
    """
    infos = zf.infolist()
    entries = (
        _Entry(
            info.orig_filename,
            info.filename,
            info.file_size,
            info.compress_size,
            bool(info.flag_bits & 0x1),
            info.compress_type,
            info.external_attr,
        )
        for info in infos
    )
    return [infos[i] for i, _entry in _vet(entries, len(infos), limits, SUPPORTED_COMPRESSION)]


#: What :class:`~printctl.intake.zipdir.ZipDirectory` reads: every bundle writer uses these.
DIRECTORY_COMPRESSION = frozenset({STORED, DEFLATED})


def open_directory(path: Path, limits: BundleLimits) -> ZipDirectory:
    """The central directory of the archive at ``path``, after the member count limit.

    Raises ``OSError`` if the file cannot be opened, :class:`ZipFormatError` if it is not a
    well-formed ZIP archive, and :class:`UnsafeZipError` if it announces more members than
    the limit (checked before a single entry is read).
    """
    try:
        return ZipDirectory(path, max_members=limits.max_members)
    except TooManyMembers as exc:
        raise UnsafeZipError(
            f"the archive has {exc.count} members, more than the limit {limits.max_members}"
        ) from None


def check_directory(zd: ZipDirectory, limits: BundleLimits) -> dict[str, int]:
    """Apply rule 1 to ``zd``; return its file members (no directories) by name → index.

    The same checks and reasons as :func:`check_archive`, and only stored or deflated
    members: the only methods :class:`ZipDirectory` reads. Raises :class:`UnsafeZipError`.
    """
    entries = (
        _Entry(
            zd.names[i],
            zd.names[i],
            zd.size[i],
            zd.compress_size[i],
            bool(zd.flags[i] & FLAG_ENCRYPTED),
            zd.method[i],
            zd.external_attr[i],
        )
        for i in range(len(zd))
    )
    return {entry.name: i for i, entry in _vet(entries, len(zd), limits, DIRECTORY_COMPRESSION)}


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one vetted member fully, never more than its declared size.

    zipfile stops inflating at the central directory's ``file_size`` (already checked against
    the limits) and verifies the CRC at the end, so a lying header yields an error, not a
    flood. Raises one of :data:`ZIP_READ_ERRORS` on corrupt data.
    """
    with zf.open(info) as stream:
        data = stream.read(info.file_size)
        if len(data) != info.file_size or stream.read(1):
            raise zipfile.BadZipFile(f"member {info.filename!r} does not have its declared size")
    return data

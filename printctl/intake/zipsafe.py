"""Defensive reading of bundle ZIP files (spec ``prr-bundle-v1`` §2 rule 1).

Bundles arrive from the network and from flash drives, so the archive is hostile until proven
otherwise: member paths could escape a directory if anyone ever extracted them, links could
point anywhere, and a few kilobytes could claim to inflate to gigabytes. Nothing here extracts
to disk; members are read into memory (small ones) or streamed in chunks (large ones), with
reads bounded by the sizes already vetted.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

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


def check_archive(zf: zipfile.ZipFile, limits: BundleLimits) -> list[zipfile.ZipInfo]:
    """Apply rule 1 to the central directory and return the file members (no directories).

    Raises :class:`UnsafeZipError` with a human reason on the first problem.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise UnsafeZipError(
            f"the archive has {len(infos)} members, more than the limit {limits.max_members}"
        )
    seen: set[str] = set()
    total = 0
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        # orig_filename keeps what the archive says; zipfile truncates filename at a NUL.
        problem = member_path_problem(info.orig_filename)
        if problem:
            raise UnsafeZipError(problem)
        name = info.filename
        if name in seen:
            # zipfile would silently use the last copy; which one was meant is unknowable.
            raise UnsafeZipError(f"member {name!r} appears more than once")
        seen.add(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeZipError(f"member {name!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise UnsafeZipError(f"member {name!r} is encrypted")
        if info.compress_type not in SUPPORTED_COMPRESSION:
            raise UnsafeZipError(f"member {name!r} uses an unsupported compression method")
        total += info.file_size
        if total > limits.max_total_uncompressed:
            raise UnsafeZipError(
                f"members inflate to more than {limits.max_total_uncompressed} bytes "
                "in total (possible zip bomb)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise UnsafeZipError(
                f"member {name!r} has a compression ratio of {ratio:.0f}:1, above the "
                f"limit {limits.max_ratio:.0f}:1 (possible zip bomb)"
            )
        if is_directory_entry(info):
            continue
        files.append(info)
    return files


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


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then name and extra lengths at 26..30
_LOCAL_MAGIC = b"PK\x03\x04"


class MemberReader:
    """Reads vetted members straight from the archive file with one positioned read each.

    ``ZipFile.open`` costs tens of microseconds per member in Python bookkeeping; a bundle has
    two media members per record, so for 10,000 records that alone would eat a large part of the
    import budget. Stored and deflated members are read with ``os.pread`` (no shared file
    position, and no memory map: a map of a gigabyte bundle would count every page read as
    the process's resident memory) and inflated directly, bounded by the central directory's
    vetted sizes and checked against its CRC-32; other compression methods fall back to
    :func:`read_member`.
    """

    def __init__(self, zf: zipfile.ZipFile, path: Path) -> None:
        self._zf = zf
        self._file = path.open("rb")
        self._fd = self._file.fileno()

    def close(self) -> None:
        """Release the file."""
        self._file.close()

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, info: zipfile.ZipInfo, *, verify_crc: bool = True) -> bytes:
        """The member's bytes; raises one of :data:`ZIP_READ_ERRORS` on corrupt data.

        ``verify_crc=False`` is for callers that check a cryptographic hash of the bytes
        anyway (the manifest's SHA-256): the CRC-32 would only repeat a weaker check.
        """
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return read_member(self._zf, info)
        offset = info.header_offset
        # One read for the header, the name, a typical extra field and the data.
        guess = len(info.orig_filename.encode("utf-8")) + 64
        chunk = os.pread(self._fd, _LOCAL_HEADER.size + guess + info.compress_size, offset)
        if len(chunk) < _LOCAL_HEADER.size:
            raise zipfile.BadZipFile(f"member {info.filename!r}: truncated local header")
        magic, name_len, extra_len = _LOCAL_HEADER.unpack_from(chunk)
        if magic != _LOCAL_MAGIC:
            raise zipfile.BadZipFile(f"member {info.filename!r}: bad local header")
        start = _LOCAL_HEADER.size + name_len + extra_len
        raw = chunk[start : start + info.compress_size]
        if len(raw) != info.compress_size:  # a longer extra field than guessed, or truncated
            raw = os.pread(self._fd, info.compress_size, offset + start)
        if len(raw) != info.compress_size:
            raise zipfile.BadZipFile(f"member {info.filename!r} is truncated")
        if info.compress_type == zipfile.ZIP_STORED:
            data = raw
        else:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            # max_length bounds the output by the vetted size whatever the stream claims (+1 so
            # that excess shows, and because max_length=0 would mean "no limit").
            data = inflater.decompress(raw, info.file_size + 1)
            if not inflater.eof:
                raise zipfile.BadZipFile(f"member {info.filename!r} is not a complete stream")
        if len(data) != info.file_size:
            raise zipfile.BadZipFile(f"member {info.filename!r} does not have its declared size")
        if verify_crc and zlib.crc32(data) != info.CRC:
            raise zipfile.BadZipFile(f"member {info.filename!r} fails its CRC-32")
        return data

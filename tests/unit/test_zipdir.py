"""The compact central-directory reader: what zipfile writes reads back; anything else is refused."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from printctl.intake.bundle import BundleRejected, open_bundle
from printctl.intake.zipdir import NotAZipFile, ZipDirectory, ZipFormatError
from printctl.intake.zipsafe import BundleLimits, UnsafeZipError, check_directory, open_directory
from tests.unit.bundle_helpers import PHOTO, TRUSTED, Bundle

TEXT = b"the quick brown fox jumps over the lazy dog\n" * 200


class _Unseekable(io.RawIOBase):
    """A write-only stream without seek: zipfile then writes data descriptors (flag bit 3)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        chunk = bytes(b)  # type: ignore[call-overload]
        self.data += chunk
        return len(chunk)


def _write(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _read_all(path: Path) -> dict[str, bytes]:
    with ZipDirectory(path) as zd:
        return {
            zd.names[i]: zd.read(i) if i % 2 else b"".join(zd.chunks(i, 100))
            for i in range(len(zd))
        }


def _central(data: bytes, index: int = 0) -> int:
    """Where the ``index``-th central directory entry starts."""
    at = -1
    for _ in range(index + 1):
        at = data.index(b"PK\x01\x02", at + 1)
    return at


def test_stored_and_deflated_members_read_back(tmp_path: Path) -> None:
    """Both methods, whole and in small chunks, give zipfile's bytes; the columns match."""
    members = {"a.txt": TEXT, "b/c.bin": bytes(range(256)) * 10, "empty": b"", "ü.txt": b"x"}
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = _write(tmp_path / f"{method}.zip", members, method)
        assert _read_all(path) == members
        with ZipDirectory(path) as zd, zipfile.ZipFile(path) as zf:
            for i, info in enumerate(zf.infolist()):
                assert (zd.names[i], zd.size[i], zd.compress_size[i], zd.crc[i]) == (
                    info.filename,
                    info.file_size,
                    info.compress_size,
                    info.CRC,
                )
                assert zd.offset[i] == info.header_offset and zd.method[i] == method


def test_zip64_with_more_than_65535_entries(tmp_path: Path) -> None:
    """70,000 members need the ZIP64 end records; every one is found and readable."""
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(70_000):
            zf.writestr(f"m/{i}", str(i))
    with open_directory(path, BundleLimits(max_members=70_000)) as zd:
        assert len(zd) == 70_000
        assert zd.names[69_999] == "m/69999" and zd.read(69_999) == b"69999"
        by_name = check_directory(zd, BundleLimits(max_members=70_000))
        assert len(by_name) == 70_000 and zd.read(by_name["m/12345"]) == b"12345"
    with pytest.raises(UnsafeZipError, match="70000 members, more than the limit 69999"):
        open_directory(path, BundleLimits(max_members=69_999))


def test_zip64_extra_fields_for_sizes_and_offsets(tmp_path: Path) -> None:
    """Members zipfile writes with forced ZIP64 headers (sizes in the 0x0001 extra field)."""
    path = tmp_path / "z64.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("one", "two"):
            with zf.open(name, "w", force_zip64=True) as dest:
                dest.write(TEXT)
    assert _read_all(path) == {"one": TEXT, "two": TEXT}


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_data_descriptors(tmp_path: Path, method: int) -> None:
    """Written to an unseekable stream, local headers leave CRC and sizes to a descriptor."""
    stream = _Unseekable()
    with zipfile.ZipFile(stream, "w", compression=method) as zf:
        zf.writestr("a.txt", TEXT)
        zf.writestr("b.txt", b"second")
    path = tmp_path / "dd.zip"
    path.write_bytes(bytes(stream.data))
    with ZipDirectory(path) as zd:
        assert all(flags & 0x8 for flags in zd.flags)
    assert _read_all(path) == {"a.txt": TEXT, "b.txt": b"second"}


@pytest.mark.parametrize("keep", [0, 10, 21, 100, -1, -22, -30])
def test_truncated_file_is_not_a_zip(tmp_path: Path, keep: int) -> None:
    """A file cut anywhere (even just before its end record's last bytes) is refused cleanly."""
    full = _write(tmp_path / "full.zip", {"a.txt": TEXT, "b.txt": TEXT}).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(full[:keep])
    with pytest.raises(ZipFormatError):
        ZipDirectory(path)


def test_truncated_bundle_is_rejected_under_rule_1(tmp_path: Path) -> None:
    """Through open_bundle the same file is a one-line rule 1 rejection, not a traceback."""
    full = Bundle().write(tmp_path / "b.zip").read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(full[: len(full) // 2])
    with (
        pytest.raises(BundleRejected) as error,
        open_bundle(path, trusted_keys=TRUSTED, regency_code="14.09"),
    ):
        pass
    assert error.value.rule == 1 and error.value.reason == "the bundle file is not a ZIP archive"


@pytest.mark.parametrize(
    ("offset", "value", "why"),
    [
        (0, b"PK\x01\x03", "bad signature"),  # a central entry's signature
        (42, b"\x00\x00\x01\x00", "outside"),  # its local header offset, past the data
        (30, b"\xff\x7f", "overruns"),  # its extra field length
    ],
)
def test_corrupt_central_directory(tmp_path: Path, offset: int, value: bytes, why: str) -> None:
    """A damaged central directory entry is a ZipFormatError naming what is wrong."""
    path = _write(tmp_path / "a.zip", {"a.txt": TEXT, "b.txt": TEXT})
    data = bytearray(path.read_bytes())
    at = _central(bytes(data), 1) + offset
    data[at : at + len(value)] = value
    path.write_bytes(bytes(data))
    with pytest.raises(ZipFormatError, match=why):
        ZipDirectory(path)


def test_corrupt_directory_bundle_reason(tmp_path: Path) -> None:
    """open_bundle says the file is a corrupt ZIP archive (rule 1)."""
    path = Bundle().write(tmp_path / "b.zip")
    data = bytearray(path.read_bytes())
    at = _central(bytes(data), 1)
    data[at + 3] = 0
    path.write_bytes(bytes(data))
    with (
        pytest.raises(BundleRejected) as error,
        open_bundle(path, trusted_keys=TRUSTED, regency_code="14.09"),
    ):
        pass
    assert error.value.rule == 1 and "corrupt ZIP archive" in error.value.reason


def test_not_a_zip_at_all(tmp_path: Path) -> None:
    """Text with an end-record signature inside but not at the end is not a ZIP."""
    path = tmp_path / "x.zip"
    path.write_bytes(b"hello PK\x05\x06" + bytes(30) + b"trailing")
    with pytest.raises(NotAZipFile):
        ZipDirectory(path)


def _patch_both(data: bytearray, field_local: int, field_central: int, value: bytes) -> None:
    """Write ``value`` into one field of the first member's local and central headers."""
    data[field_local : field_local + len(value)] = value
    at = _central(bytes(data)) + field_central
    data[at : at + len(value)] = value


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    """Flag bit 0: rule 1 says "encrypted"; reading it anyway is a ZipFormatError."""
    path = _write(tmp_path / "a.zip", {"a.txt": TEXT})
    data = bytearray(path.read_bytes())
    _patch_both(data, 6, 8, b"\x01\x00")
    path.write_bytes(bytes(data))
    with ZipDirectory(path) as zd:
        with pytest.raises(UnsafeZipError, match=r"'a\.txt' is encrypted"):
            check_directory(zd, BundleLimits())
        with pytest.raises(ZipFormatError, match="cannot be read"):
            zd.read(0)


@pytest.mark.parametrize("method", [12, 14, 99])  # bzip2, LZMA, AES
def test_unknown_method_is_refused(tmp_path: Path, method: int) -> None:
    """Only stored and deflated members are read; others fail rule 1 with the usual reason."""
    path = _write(tmp_path / "a.zip", {"a.txt": TEXT})
    data = bytearray(path.read_bytes())
    _patch_both(data, 8, 10, struct.pack("<H", method))
    path.write_bytes(bytes(data))
    with ZipDirectory(path) as zd:
        with pytest.raises(UnsafeZipError, match="unsupported compression method"):
            check_directory(zd, BundleLimits())
        with pytest.raises(ZipFormatError, match="cannot be read"):
            b"".join(zd.chunks(0))


@pytest.mark.parametrize(
    ("offset", "value", "why"),
    [
        (30, b"b", "names another member"),  # the name's first byte: "a.txt" → "b.txt"
        (18, b"\x01\x00\x00\x00", "sizes"),  # compressed size
        (22, b"\x02\x00\x00\x00", "sizes"),  # uncompressed size
        (14, b"\x00\x00\x00\x00", "sizes"),  # CRC-32
        (8, b"\x00\x00", "method"),  # deflated → stored
        (0, b"PK\x03\x05", "bad local header"),
    ],
)
def test_local_header_disagreeing_with_the_directory(
    tmp_path: Path, offset: int, value: bytes, why: str
) -> None:
    """A local header that says another name, size, CRC or method than the directory."""
    path = _write(tmp_path / "a.zip", {"a.txt": TEXT, "b.txt": TEXT})
    data = bytearray(path.read_bytes())
    data[offset : offset + len(value)] = value
    path.write_bytes(bytes(data))
    with ZipDirectory(path) as zd:
        with pytest.raises(ZipFormatError, match=why):
            zd.read(0)
        with pytest.raises(ZipFormatError, match=why):
            b"".join(zd.chunks(0))
        assert zd.read(1) == TEXT


def test_local_header_name_mismatch_rejects_the_bundle(tmp_path: Path) -> None:
    """In a bundle, a photo whose local header names another file is corrupt (rule 3)."""
    path = Bundle(compression=zipfile.ZIP_STORED).write(tmp_path / "b.zip")
    data = bytearray(path.read_bytes())
    at = data.index(PHOTO[:64]) - len("photos/PRR-2026-000001.jpg")
    assert data[at : at + 7] == b"photos/"
    data[at] = ord("P")
    path.write_bytes(bytes(data))
    with (
        pytest.raises(BundleRejected) as error,
        open_bundle(path, trusted_keys=TRUSTED, regency_code="14.09"),
    ):
        pass
    assert error.value.rule == 3 and "is corrupt" in error.value.reason


def test_damaged_deflate_stream_and_crc(tmp_path: Path) -> None:
    """Flipped compressed bytes: an invalid stream, a wrong size or a CRC failure, never more
    than the declared size, and never a zlib traceback."""
    path = _write(tmp_path / "a.zip", {"a.txt": TEXT})
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside the deflated data (header 30 + name 5)
    path.write_bytes(bytes(data))
    with ZipDirectory(path) as zd:
        with pytest.raises(ZipFormatError):
            zd.read(0)
        with pytest.raises(ZipFormatError):
            b"".join(zd.chunks(0, 64))

"""Encryption of personal data at rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from printctl.crypto import DataCipher, DecryptionError, KeyFileError, generate_key_file


def test_round_trip_and_binding(tmp_path: Path) -> None:
    """A blob decrypts only with its own associated data, and its ciphertext hides the text."""
    generate_key_file(tmp_path / "k")
    cipher = DataCipher.from_file(tmp_path / "k")
    blob = cipher.encrypt(b"1409015708900001 SITI AMINAH", b"PRR-1:1:payload")
    assert b"SITI" not in blob and b"1409015708900001" not in blob
    assert cipher.decrypt(blob, b"PRR-1:1:payload") == b"1409015708900001 SITI AMINAH"
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, b"PRR-2:1:payload")


def test_wrong_key_and_tampering_fail(tmp_path: Path) -> None:
    """Another key, or one flipped bit, gives a DecryptionError rather than wrong data."""
    generate_key_file(tmp_path / "a")
    generate_key_file(tmp_path / "b")
    a, b = DataCipher.from_file(tmp_path / "a"), DataCipher.from_file(tmp_path / "b")
    blob = a.encrypt(b"data")
    with pytest.raises(DecryptionError):
        b.decrypt(blob)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        a.decrypt(tampered)


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    """The key file is mode 0600 and generating it twice refuses to overwrite."""
    generate_key_file(tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        generate_key_file(tmp_path / "k")


def test_missing_key_file_names_the_fix(tmp_path: Path) -> None:
    """A missing key file says to run `printctl init`."""
    with pytest.raises(KeyFileError, match="printctl init"):
        DataCipher.from_file(tmp_path / "missing")


def test_nik_hash_is_stable_and_keyed(tmp_path: Path) -> None:
    """Equal NIKs hash equal under one key, differently under another."""
    generate_key_file(tmp_path / "a")
    generate_key_file(tmp_path / "b")
    a, b = DataCipher.from_file(tmp_path / "a"), DataCipher.from_file(tmp_path / "b")
    assert a.nik_hash("1409015708900001") == a.nik_hash("1409015708900001")
    assert a.nik_hash("1409015708900001") != b.nik_hash("1409015708900001")

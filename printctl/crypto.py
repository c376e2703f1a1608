"""Encryption of personal data at rest, and keyed hashes for looking NIKs up.

Personal data (a record's fields, photo, signature, chip script) is stored only as AES-256-GCM
ciphertext under the office's data key. The key lives in a file named by the configuration
(``data_key_file``), never in the database and never in the code. Each blob carries a format
byte, a random 96-bit nonce and the GCM tag; the associated data binds the blob to its row so
that ciphertexts cannot be swapped between records unnoticed.

NIKs must still be found ("does this person already hold a card?"), so rows also carry an
HMAC of the NIK under a key derived from the data key: equal NIKs give equal hashes, and the
hash reveals nothing without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12


class KeyFileError(Exception):
    """The data key file is missing, unreadable or malformed."""


class DecryptionError(Exception):
    """A stored blob does not decrypt under this key (wrong key, or the blob was altered)."""


def generate_key_file(path: Path) -> None:
    """Write a fresh random 256-bit data key to ``path`` (base64, mode 0600). Never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.b64encode(AESGCM.generate_key(bit_length=256)) + b"\n"
    # O_EXCL: refusing to overwrite protects the only key that can read existing data.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)


class DataCipher:
    """Encrypts and decrypts personal data with the office's data key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KeyFileError("the data key must be 32 bytes (256 bits)")
        self._aead = AESGCM(key)
        self._lookup_key = hashlib.sha256(b"printctl/nik-lookup/v1" + key).digest()

    @classmethod
    def from_file(cls, path: Path) -> DataCipher:
        """Load the key written by :func:`generate_key_file`."""
        try:
            raw = path.read_bytes().strip()
        except FileNotFoundError:
            raise KeyFileError(
                f"data key file {path} does not exist (run `printctl init` to create one)"
            ) from None
        except OSError as exc:
            raise KeyFileError(f"cannot read data key file {path}: {exc.strerror}") from None
        try:
            key = base64.b64decode(raw, validate=True)
        except ValueError:
            raise KeyFileError(f"data key file {path} is not base64") from None
        return cls(key)

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        """Encrypt ``plaintext``; ``associated`` (e.g. the record's id) must match on decrypt."""
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, associated)

    def decrypt(self, blob: bytes, associated: bytes = b"") -> bytes:
        """Decrypt a blob made by :meth:`encrypt` with the same associated data."""
        if not blob.startswith(_FORMAT_V1) or len(blob) < 1 + _NONCE_BYTES + 16:
            raise DecryptionError("not an encrypted printctl blob")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[1 + _NONCE_BYTES :], associated)
        except InvalidTag:
            raise DecryptionError(
                "stored data does not decrypt: wrong data key, or the data was altered"
            ) from None

    def nik_hash(self, nik: str) -> str:
        """A keyed hash of a NIK, for equality look-ups without storing the NIK in clear."""
        return hmac.new(self._lookup_key, nik.encode("ascii"), hashlib.sha256).hexdigest()

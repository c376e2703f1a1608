"""Center signing keys for the fake center (demo, tests, operator training).

A real center keeps its private key in an HSM; the fake one writes PEM files so a demo office
can be configured with the matching public key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEFAULT_KEY_ID = "pusat-2026-01"
DEFAULT_ISSUER = "DUKCAPIL-PUSAT"


@dataclass(frozen=True)
class CenterKey:
    """An Ed25519 center key pair with the ``key_id`` manifests name it by."""

    key_id: str
    private_key: Ed25519PrivateKey
    issuer: str = DEFAULT_ISSUER

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half, as an office trusts it."""
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature over ``data`` (deterministic, so bundles are reproducible)."""
        return self.private_key.sign(data)

    def public_pem(self) -> bytes:
        """The public key as PEM SubjectPublicKeyInfo."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (fake center only)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_center_key(
    key_id: str = DEFAULT_KEY_ID, *, seed: int | None = None, issuer: str = DEFAULT_ISSUER
) -> CenterKey:
    """A new center key; with ``seed`` the key is derived from it (reproducible tests/demos)."""
    if seed is None:
        private = Ed25519PrivateKey.generate()
    else:
        raw = hashlib.sha256(f"printctl-fake-center:{key_id}:{seed}".encode()).digest()
        private = Ed25519PrivateKey.from_private_bytes(raw)
    return CenterKey(key_id=key_id, private_key=private, issuer=issuer)


@dataclass(frozen=True)
class KeyFiles:
    """Where :func:`write_key_pair` put the key files."""

    private_pem: Path
    public_pem: Path


def write_key_pair(key: CenterKey, directory: Path) -> KeyFiles:
    """Write ``<key_id>.key.pem`` (mode 0600) and ``<key_id>.pub.pem`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / f"{key.key_id}.key.pem"
    public_path = directory / f"{key.key_id}.pub.pem"
    private_path.touch(mode=0o600, exist_ok=True)
    private_path.chmod(0o600)
    private_path.write_bytes(key.private_pem())
    public_path.write_bytes(key.public_pem())
    return KeyFiles(private_path, public_path)


def load_center_key(private_pem: Path, key_id: str, *, issuer: str = DEFAULT_ISSUER) -> CenterKey:
    """Load a fake-center private key written by :func:`write_key_pair`."""
    key = serialization.load_pem_private_key(private_pem.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{private_pem}: not an Ed25519 private key")
    return CenterKey(key_id=key_id, private_key=key, issuer=issuer)

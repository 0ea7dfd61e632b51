"""Buyer personal data: a keyed hash for identity, AES-256-GCM for contact details.

The identity hash is HMAC-SHA256 under the consortium key of a normalized identifier
(a phone number, a platform account), so platforms that share the key can match a buyer
without ever exchanging the identifier. Contact details are encrypted with the first of
the configured keys; a ciphertext starts with its key id, so older keys keep decrypting
after a rotation.

Ciphertext layout: ``key id (utf-8) | 0x00 | 12-byte nonce | AES-GCM ciphertext+tag``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vericlaim.errors import ConfigurationError, DecryptionError
from vericlaim.settings import Settings

__all__ = ["Keyring", "identity_hash", "normalize_identifier"]

_NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def normalize_identifier(identifier: str) -> str:
    """The canonical form hashed for identity: NFKC, trimmed, lower case, and for
    something that looks like a phone number, its digits only (``+86 138-0013-8000``
    and ``8613800138000`` are the same buyer)."""
    text = unicodedata.normalize("NFKC", identifier).strip().lower()
    if re.fullmatch(r"[+\d\s().-]+", text) and any(c.isdigit() for c in text):
        return "".join(c for c in text if c.isdigit())
    return text


def identity_hash(identifier: str, consortium_key: bytes) -> str:
    """HMAC-SHA256 of the normalized identifier, as hex."""
    message = normalize_identifier(identifier).encode("utf-8")
    return hmac.new(consortium_key, message, hashlib.sha256).hexdigest()


class Keyring:
    """AES-256-GCM keys by id; the first one encrypts, every one decrypts."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ConfigurationError("encryption_keys: at least one key is needed")
        for key_id, key in keys:
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(f"encryption_keys: bad key id {key_id!r}")
            if len(key) != 32:
                raise ConfigurationError(
                    f"encryption_keys: key {key_id!r} is {len(key)} bytes, expected 32"
                )
        self._keys = dict(keys)
        self.active_id = keys[0][0]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Keys from ``id:base64key,id2:base64key`` (the ``encryption_keys`` setting)."""
        keys: list[tuple[str, bytes]] = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigurationError(f"encryption_keys: {key_id!r} has no ':base64key'")
            try:
                key = base64.urlsafe_b64decode(encoded.strip().replace("+", "-").replace("/", "_"))
            except (binascii.Error, ValueError) as exc:
                raise ConfigurationError(f"encryption_keys: key {key_id!r} is not base64") from exc
            keys.append((key_id.strip(), key))
        return cls(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        return cls.parse(settings.encryption_keys.get_secret_value())

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt under the active key; ``context`` (e.g. the buyer's identity hash) is
        authenticated, so a ciphertext moved to another row no longer decrypts."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._keys[self.active_id]).encrypt(nonce, plaintext, context)
        return self.active_id.encode("ascii") + b"\x00" + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, context: bytes) -> bytes:
        key_id, sep, rest = ciphertext.partition(b"\x00")
        key = self._keys.get(key_id.decode("ascii", "replace"))
        if not sep or key is None:
            raise DecryptionError(f"ciphertext under unknown key id {key_id[:40]!r}")
        nonce, sealed = rest[:_NONCE_BYTES], rest[_NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, sealed, context)
        except InvalidTag as exc:
            raise DecryptionError(
                "ciphertext failed authentication (wrong key or tampered)"
            ) from exc

    @staticmethod
    def key_id_of(ciphertext: bytes) -> str:
        return ciphertext.partition(b"\x00")[0].decode("ascii", "replace")

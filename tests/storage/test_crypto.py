from __future__ import annotations

import base64

import pytest

from vericlaim.errors import ConfigurationError, DecryptionError
from vericlaim.storage.crypto import Keyring, identity_hash, normalize_identifier

KEY_A = base64.urlsafe_b64encode(bytes(range(32))).decode()
KEY_B = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()


def test_round_trip_and_the_key_id_travels_with_the_ciphertext() -> None:
    ring = Keyring.parse(f"a:{KEY_A}")
    sealed = ring.encrypt("上海市 13800138000".encode(), context=b"buyer-1")
    assert Keyring.key_id_of(sealed) == "a"
    assert b"13800138000" not in sealed
    assert ring.decrypt(sealed, context=b"buyer-1").decode() == "上海市 13800138000"


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old = Keyring.parse(f"a:{KEY_A}")
    sealed_old = old.encrypt(b"contact", context=b"c")
    rotated = Keyring.parse(f"b:{KEY_B},a:{KEY_A}")
    assert rotated.active_id == "b"
    assert rotated.decrypt(sealed_old, context=b"c") == b"contact"
    sealed_new = rotated.encrypt(b"contact", context=b"c")
    assert Keyring.key_id_of(sealed_new) == "b"
    with pytest.raises(DecryptionError, match="unknown key id"):
        old.decrypt(sealed_new, context=b"c")


def test_tampering_or_another_rows_context_fails_authentication() -> None:
    ring = Keyring.parse(f"a:{KEY_A}")
    sealed = bytearray(ring.encrypt(b"contact", context=b"buyer-1"))
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(sealed), context=b"buyer-2")
    sealed[-1] ^= 1
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(sealed), context=b"buyer-1")


@pytest.mark.parametrize(
    "spec", ["", "a", f"a:{KEY_A[:-8]}", "bad id!:" + KEY_A, "a:not base64 at all"]
)
def test_bad_key_specs_are_configuration_errors(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        Keyring.parse(spec)


def test_identity_hash_is_keyed_and_normalizes_phone_numbers() -> None:
    key = b"consortium"
    assert normalize_identifier("+86 138-0013-8000") == "8613800138000"
    assert normalize_identifier("  Buyer@Example.COM ") == "buyer@example.com"
    assert identity_hash("+86 138 0013 8000", key) == identity_hash("8613800138000", key)
    assert identity_hash("8613800138000", key) != identity_hash("8613800138000", b"other")
    assert "13800138000" not in identity_hash("8613800138000", key)

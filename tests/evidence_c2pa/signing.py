"""Sign test files with c2pa-python and a certificate chain made on the spot.

The chain follows the C2PA certificate profile (C2PA 2.1, section 14.5): an ECDSA P-256
end-entity certificate with ``digitalSignature`` key usage, the ``emailProtection``
extended key usage, subject and authority key identifiers, issued by a separate CA
(c2pa-rs refuses self-signed signing certificates). Nothing is fetched: no time-stamp
authority, so readers report the signer as untrusted, as they do for every signer here.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import cache
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SigningMaterial:
    chain_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vericlaim Test"),
        ]
    )


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


@cache
def signing_material() -> SigningMaterial:
    """A CA and an end-entity certificate (ES256), made once per test session."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    end = _START + dt.timedelta(days=3650)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Vericlaim Test Root CA"))
        .issuer_name(_name("Vericlaim Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(_START)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Vericlaim Test Signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(_START)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningMaterial(
        chain_pem=cert.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def sign(
    data: bytes, mime: str, actions: list[dict[str, Any]], *, title: str = "claim.jpg"
) -> bytes:
    """``data`` with an embedded, signed manifest whose actions assertion is ``actions``."""
    material = signing_material()
    info = c2pa.C2paSignerInfo(b"es256", material.chain_pem, material.key_pem, None)
    manifest = {
        "claim_generator_info": [{"name": "vericlaim-tests", "version": "1.0"}],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def flip_scan_bytes(jpeg: bytes, count: int = 16) -> bytes:
    """The JPEG with bytes of its entropy-coded data changed: the pixels, not the headers."""
    start = jpeg.rfind(b"\xff\xda")  # the (last) start-of-scan marker
    end = jpeg.rfind(b"\xff\xd9")
    assert 0 < start < end, "not a baseline JPEG"
    middle = (start + end) // 2
    tampered = bytearray(jpeg)
    for i in range(middle, middle + count):
        if tampered[i] not in (0xFF, 0x00, 0xEF) and tampered[i - 1] != 0xFF:
            tampered[i] ^= 0x10  # never makes 0xFF, so no marker appears
    return bytes(tampered)

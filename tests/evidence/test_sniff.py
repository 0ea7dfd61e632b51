from __future__ import annotations

import pytest

from tests.conftest import encode, textured_image
from vericlaim.evidence import sniff_format

PIXELS = textured_image(32, 24)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free"


@pytest.mark.parametrize(
    ("pil_format", "expected"),
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
        ("GIF", "gif"),
    ],
)
def test_pillow_formats_are_recognised_by_content(pil_format: str, expected: str) -> None:
    assert sniff_format(encode(PIXELS, pil_format)) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (ftyp(b"heic", b"mif1", b"heic"), "heif"),
        (ftyp(b"mif1", b"mif1", b"heic"), "heif"),
        (ftyp(b"avif", b"mif1", b"avif"), "avif"),
        (ftyp(b"mif1", b"mif1", b"avif"), "avif"),
        (ftyp(b"qt  ", b"qt  "), "mov"),
        (ftyp(b"isom", b"isom", b"avc1"), "mp4"),
        (ftyp(b"mp42", b"mp41"), "mp4"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", "mov"),
        (b"II+\x00\x08\x00\x00\x00" + bytes(8), "tiff"),
    ],
)
def test_container_brands(head: bytes, expected: str) -> None:
    assert sniff_format(head) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file named photo.jpg\n",
        b"BMW owners club minutes, 2024, page one of three",  # "BM" but no BMP header
        b"%PDF-1.7\n",
        b"\x00" * 64,
        b"\xff\xd8",  # two bytes of a JPEG are not a JPEG
    ],
)
def test_other_content_is_not_recognised(data: bytes) -> None:
    assert sniff_format(data) is None

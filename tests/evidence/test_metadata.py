from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from tests.conftest import encode, textured_image
from tests.evidence.media import make_video, png_chunk
from vericlaim.evidence import C2paStore, load_bytes, load_path
from vericlaim.evidence import metadata as metadata_module

PHOTO = textured_image(96, 64, seed=7)
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'Iptc4xmpExt:DigitalSourceType="trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>'
)


def png_info(**text: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    return info


@pytest.mark.parametrize("pil_format", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_software_tag_is_recorded(pil_format: str) -> None:
    exif = Image.Exif()
    exif[0x0131] = "PhotoEditor 9.1"
    evidence = load_bytes(encode(PHOTO, pil_format, exif=exif.tobytes()))
    assert evidence.metadata.exif["Software"] == "PhotoEditor 9.1"


def test_exif_sub_ifds_are_named_from_their_own_tables() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:00:00"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"  # GPSLatitudeRef (tag 1 is also InteropIndex in the main table)
    gps[2] = (31.0, 14.0, 0.0)
    data = encode(PHOTO, exif=exif.tobytes())
    recorded = load_bytes(data).metadata.exif
    assert recorded["Make"] == "Camera Maker"
    assert recorded["DateTimeOriginal"] == "2024:05:01 10:00:00"
    assert recorded["GPSLatitudeRef"] == "N" and recorded["GPSLatitude"] == [31.0, 14.0, 0.0]
    assert "InteropIndex" not in recorded


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"ASCII\x00\x00\x00made by a generator", "made by a generator"),
        (b"UNICODE\x00" + "生成".encode("utf-16-be"), "生成"),
        (b"UNICODE\x00" + "AIGC label".encode("utf-16-le"), "AIGC label"),
        (bytes(8) + b"plain", "plain"),
    ],
)
def test_user_comment_is_decoded_by_its_character_set(raw: bytes, text: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = raw
    recorded = load_bytes(encode(PHOTO, exif=exif.tobytes())).metadata.exif
    assert recorded["UserComment"] == text


def test_exif_is_json_serialisable() -> None:
    exif = Image.Exif()
    exif[0x011A] = 72.0  # XResolution, a rational
    exif.get_ifd(0x8769)[0x9101] = b"\x01\x02\x03\x00"  # ComponentsConfiguration, binary
    recorded = load_bytes(encode(PHOTO, exif=exif.tobytes())).metadata.exif
    json.dumps(dict(recorded))
    assert recorded["XResolution"] == 72.0
    assert recorded["ComponentsConfiguration"] == "hex:01020300"


def test_xmp_packet_in_jpeg() -> None:
    evidence = load_bytes(encode(PHOTO, xmp=XMP.encode()))
    assert evidence.metadata.xmp is not None and "trainedAlgorithmicMedia" in evidence.metadata.xmp


def test_xmp_packet_in_png_and_text_chunks() -> None:
    info = png_info(Comment="packed on 2024-05-01", Software="Studio")
    info.add_itxt("XML:com.adobe.xmp", XMP)
    info.add_itxt("Description", "商品照片", lang="zh", tkey="说明", zip=True)
    info.add_text("Author", "shop photographer", zip=True)  # zTXt
    evidence = load_bytes(encode(PHOTO, "PNG", pnginfo=info))
    assert evidence.metadata.xmp is not None and "trainedAlgorithmicMedia" in evidence.metadata.xmp
    assert evidence.metadata.png_text == {
        "Comment": "packed on 2024-05-01",
        "Software": "Studio",
        "Description": "商品照片",
        "Author": "shop photographer",
    }


def test_png_text_after_the_image_data_is_found() -> None:
    data = encode(PHOTO, "PNG")
    iend = data.rindex(b"IEND") - 4
    data = (
        data[:iend] + png_chunk(b"tEXt", b"parameters\x00steps: 30, sampler: Euler") + data[iend:]
    )
    evidence = load_bytes(data)
    assert evidence.metadata.png_text["parameters"] == "steps: 30, sampler: Euler"


def test_icc_profile_description() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    evidence = load_bytes(encode(PHOTO, icc_profile=profile))
    assert evidence.metadata.icc_profile == "sRGB built-in"
    assert load_bytes(encode(PHOTO)).metadata.icc_profile is None


def test_jpeg_quantization_tables_in_natural_order() -> None:
    evidence = load_bytes(encode(PHOTO, quality=50))
    luma = evidence.metadata.jpeg_quant_tables[0]
    # The JPEG standard's luminance table (Annex K), which libjpeg uses at quality 50.
    assert luma[:8] == (16, 11, 10, 16, 24, 40, 51, 61)
    assert luma[::8] == (16, 12, 14, 14, 18, 24, 49, 72)
    assert not evidence.metadata.jpeg_progressive
    assert load_bytes(encode(PHOTO, progressive=True)).metadata.jpeg_progressive


def test_c2pa_reader_is_called_with_the_bytes_the_type_and_the_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, str, str]] = []
    store = C2paStore(manifest_store={"active_manifest": "urn:1"}, validation_state="Valid")

    def fake(data: bytes, mime: str, *, source: str = "<bytes>") -> C2paStore:
        calls.append((len(data), mime, source))
        return store

    monkeypatch.setattr(metadata_module, "read_c2pa", fake)
    data = encode(PHOTO, "PNG")
    assert load_bytes(data, source="claim.png").metadata.c2pa is store
    video = make_video(frames=5)
    assert load_bytes(video, source="unboxing.mp4").metadata.c2pa is store
    assert calls == [
        (len(data), "image/png", "claim.png"),
        (len(video), "video/mp4", "unboxing.mp4"),
    ]


def test_a_failing_c2pa_reader_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, mime: str, *, source: str = "<bytes>") -> Any:
        raise RuntimeError("JUMBF box\nlength out of range")

    monkeypatch.setattr(metadata_module, "read_c2pa", broken)
    store = load_bytes(encode(PHOTO)).metadata.c2pa
    assert store == C2paStore(None, None, error="RuntimeError: JUMBF box length out of range")


def test_no_c2pa_store_in_a_plain_photo() -> None:
    assert load_bytes(encode(PHOTO)).metadata.c2pa is None


def test_c2pa_conformance_file_carries_a_store(shared_data: Path) -> None:
    signed = shared_data / "c2pa" / "image" / "jpeg" / "adobe-20220124-C.jpg"
    if not signed.is_file():
        pytest.skip(f"C2PA conformance file not found: {signed}")
    store = load_path(signed).metadata.c2pa
    assert store is not None and store.manifest_store is not None


def test_video_container_tags_are_recorded() -> None:
    data = make_video(frames=5, tags={"title": "unboxing", "creation_time": "2024-05-01T10:00:00Z"})
    container = load_bytes(data).metadata.container
    assert container["title"] == "unboxing"
    assert container["major_brand"] == "isom"
    assert container["creation_time"].startswith("2024-05-01")
    assert container["video.handler_name"] == "VideoHandler"

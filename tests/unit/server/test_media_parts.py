"""Pure parts of the media domain: signatures, byte ranges, file names."""

from __future__ import annotations

import pytest

from server.media.controllers import RangeNotSatisfiable, byte_range
from server.media.probe import Rejected, sniff
from server.media.upload import clean_filename


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(60), ("image", "image/jpeg")),
        (b"\x89PNG\r\n\x1a\n" + bytes(56), ("image", "image/png")),
        (b"GIF89a" + bytes(58), ("image", "image/gif")),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(48), ("image", "image/webp")),
        (b"\x00\x00\x00\x20ftypisom" + bytes(52), ("video", "video/mp4")),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(52), ("video", "video/quicktime")),
        (b"\x00\x00\x00\x20ftypM4V " + bytes(52), ("video", "video/x-m4v")),
        (
            b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm",
            ("video", "video/webm"),
        ),
    ],
)
def test_the_first_bytes_decide_the_kind(head: bytes, expected: tuple[str, str]) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    ("head", "status", "message"),
    [
        (b"hello, this is text" + bytes(40), 415, "not an image or video"),
        (b"\x00\x00\x00\x20ftypM4A " + bytes(52), 415, "audio file"),
        (b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\x82\x88matroska", 415, "mkv"),
        (b"<svg xmlns=", 415, "not an image or video"),
    ],
)
def test_other_files_are_refused_by_their_bytes(head: bytes, status: int, message: str) -> None:
    with pytest.raises(Rejected, match=message) as caught:
        sniff(head)
    assert caught.value.status == status


def test_byte_ranges() -> None:
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-9", 100) == (0, 9)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=-5", 100) == (95, 99)
    assert byte_range("bytes=-500", 100) == (0, 99)
    assert byte_range("bytes=50-1000", 100) == (50, 99)
    assert byte_range("bytes=0-1,5-9", 100) is None  # several ranges: the whole file
    assert byte_range("items=0-1", 100) is None
    for unsatisfiable in ("bytes=100-", "bytes=9-3", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            byte_range(unsatisfiable, 100)


def test_file_names_are_cleaned() -> None:
    assert clean_filename("C:\\\\Users\\\\me\\\\photo.jpg") == "photo.jpg"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("bad\x00name\n.png") == "badname.png"
    assert clean_filename("...") == "upload"
    assert len(clean_filename("a" * 500 + ".png")) == 200

"""Upload nodes: a file picked on the node is uploaded with a progress bar and shown."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import Pages
from tests.browser.editor import data_of, import_workflow, node, node_json, open_canvas, stored_graph
from tests.support import User


def tiny_png(width: int = 8, height: int = 6) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([200, 80, 40]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_upload_an_image_and_a_video_and_see_them(pages: Pages, person: Callable[[str], User], tmp_path: Path) -> None:
    ada = person("Ada")
    uploads = [
        node_json("img", "upload_image", 0, 0, label="Photo"),
        node_json("vid", "upload_video", 0, 300, label="Clip"),
    ]
    workflow_id = import_workflow(ada, "Uploads", uploads, [])
    page = pages.open(ada)
    open_canvas(page, workflow_id)
    image = tmp_path / "photo.png"
    image.write_bytes(tiny_png())
    node(page, "img").get_by_label("Image file").set_input_files(str(image))

    probe = ada.http.post("/api/media", files={"file": ("photo.png", image.read_bytes(), "image/png")})
    if probe.status_code in (404, 405):
        # The media API lands with its own issue; until then the node says so in place.
        expect(node(page, "img").get_by_role("alert")).to_have_text("Uploads are not available on this server yet.")
        pytest.skip("POST /api/media is not on this server yet (media issue); the widget's refusal was checked")

    expect(node(page, "img").get_by_role("img", name="Uploaded image")).to_be_visible()
    assert node(page, "img").get_by_role("img", name="Uploaded image").evaluate("img => img.naturalWidth") > 0
    stored = stored_graph(ada, workflow_id, lambda g: bool(data_of(g, "img").get("media_id")))
    assert data_of(stored, "img")["media_id"]

    video = tmp_path / "clip.webm"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libvpx", rate=10)  # VP8: every Chromium build plays it
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(10):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (index * 20,) * 3))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    node(page, "vid").get_by_label("Video file").set_input_files(str(video))
    player = node(page, "vid").get_by_label("Uploaded video")
    expect(player).to_be_visible()
    page.wait_for_function("v => v.readyState >= 1", arg=player.element_handle())

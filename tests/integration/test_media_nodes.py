"""Upload, crop and frame nodes on a real worker: the pixels they produce, and their failures."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from server.settings import Settings
from tests.integration.runs_support import (
    edge,
    import_workflow,
    in_process_worker,
    node,
    nodes_of,
    runs_settings,
    start_run,
    wait_for_run,
)
from tests.media_files import BLUE, GREEN, RED, SECOND_COLOURS, WHITE, blocks, close_to, colour_at, colour_video, encode
from tests.support import User


@pytest.fixture(scope="module", autouse=True)
def worker(settings: Settings, runs_url: str) -> Iterator[None]:
    with in_process_worker(runs_settings(settings)):
        yield


def upload(user: User, data: bytes, filename: str) -> str:
    response = user.http.post("/api/media", files={"file": (filename, data)})
    assert response.status_code == 201, response.text
    media_id: str = response.json()["id"]
    return media_id


def colours(image: Image.Image) -> set[tuple[int, ...]]:
    return {colour for _, colour in image.convert("RGB").getcolors() or []}


def fetch(user: User, output: dict[str, Any]) -> bytes:
    response = user.http.get(f"/api/media/{output['media_id']}")
    assert response.status_code == 200, response.text
    return response.content


def run_graph(user: User, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    workflow_id = import_workflow(user, nodes, edges)
    return wait_for_run(user.http, start_run(user.http, workflow_id)["id"], timeout=60)


@pytest.fixture
def owner(runs_user: Callable[..., User]) -> User:
    user = runs_user("owner")
    user.create_workflow(name="So uploads are allowed")
    return user


def test_crop_keeps_format_and_cuts_the_right_pixels(owner: User) -> None:
    png = upload(owner, encode(blocks(200, 100), "PNG"), "blocks.png")
    gif = upload(owner, encode(blocks(200, 100).convert("P"), "GIF"), "blocks.gif")
    run = run_graph(
        owner,
        [
            node("png", "upload_image", media_id=png),
            node("gif", "upload_image", media_id=gif),
            node("green", "crop_image", x_percent=50, y_percent=0, width_percent=50, height_percent=50),
            node("quarter", "text", text=" 25 "),  # numbers may arrive as text
            node("middle", "crop_image", width_percent=50.0, height_percent=50),
            node("gif-crop", "crop_image", x_percent=0, y_percent=50, width_percent=50, height_percent=50),
        ],
        [
            edge("png", "green", "image_url", "image"),
            edge("png", "middle", "image_url", "image"),
            edge("quarter", "middle", "x_percent", "text"),
            edge("quarter", "middle", "y_percent", "text"),
            edge("gif", "gif-crop", "image_url", "image"),
        ],
    )
    assert run["status"] == "success", run["nodes"]
    nodes = nodes_of(run)
    green = fetch(owner, nodes["green"]["outputs"]["output"])
    with Image.open(io.BytesIO(green)) as image:
        assert image.format == "PNG" and image.size == (100, 50)
        assert colours(image) == {GREEN}
    middle = fetch(owner, nodes["middle"]["outputs"]["output"])
    with Image.open(io.BytesIO(middle)) as image:
        assert image.size == (100, 50)
    assert [colour_at(middle, x, y) for x, y in ((0, 0), (99, 0), (0, 49), (99, 49))] == [RED, GREEN, BLUE, WHITE]
    from_gif = fetch(owner, nodes["gif-crop"]["outputs"]["output"])
    with Image.open(io.BytesIO(from_gif)) as image:
        assert image.format == "PNG" and colours(image) == {BLUE}


def test_crop_applies_exif_orientation_and_keeps_jpeg(owner: User) -> None:
    shown = blocks(200, 100)
    stored = shown.rotate(90, expand=True)  # as a camera held upright stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    media_id = upload(owner, encode(stored, "JPEG", quality=95, exif=exif.tobytes()), "upright.jpg")
    run = run_graph(
        owner,
        [
            node("photo", "upload_image", media_id=media_id),
            node("crop", "crop_image", x_percent=50, y_percent=0, width_percent=50, height_percent=50),
        ],
        [edge("photo", "crop", "image_url", "image")],
    )
    assert run["status"] == "success", run["nodes"]
    output = nodes_of(run)["crop"]["outputs"]["output"]
    assert output["content_type"] == "image/jpeg" and (output["width"], output["height"]) == (100, 50)
    cropped = fetch(owner, output)
    assert close_to(colour_at(cropped, 50, 25), GREEN)


def test_extract_frame_seeks_exactly(owner: User, tmp_path: Path) -> None:
    video = upload(owner, colour_video(tmp_path / "colours.mp4", seconds=7).read_bytes(), "colours.mp4")
    moments = {"start": 0, "two-and-a-half": "2.5", "half": "50%", "late": 6.95}
    run = run_graph(
        owner,
        [node("video", "upload_video", media_id=video)]
        + [node(name, "extract_frame", timestamp=value) for name, value in moments.items()],
        [edge("video", name, "video_url", "video") for name in moments],
    )
    assert run["status"] == "success", run["nodes"]
    nodes = nodes_of(run)
    expected = {"start": 0, "two-and-a-half": 2, "half": 3, "late": 6}  # 50% of 7 s is 3.5 s
    for name, second in expected.items():
        output = nodes[name]["outputs"]["output"]
        assert output["content_type"] == "image/png" and (output["width"], output["height"]) == (160, 120)
        frame = fetch(owner, output)
        assert Image.open(io.BytesIO(frame)).format == "PNG"
        assert close_to(colour_at(frame, 80, 60), SECOND_COLOURS[second]), (name, colour_at(frame, 80, 60))
    assert nodes["half"]["outputs"]["output"]["timestamp"] == pytest.approx(3.5)


def test_out_of_range_values_fail_with_the_value_and_the_limit(owner: User, tmp_path: Path) -> None:
    image = upload(owner, encode(blocks(), "PNG"), "b.png")
    video = upload(owner, colour_video(tmp_path / "v.mp4", seconds=3).read_bytes(), "v.mp4")
    run = run_graph(
        owner,
        [
            node("image", "upload_image", media_id=image),
            node("video", "upload_video", media_id=video),
            node("wide", "crop_image", x_percent=60, width_percent=50),
            node("tall", "crop_image", y_percent=30.5, height_percent=70),
            node("late", "extract_frame", timestamp=12),
        ],
        [
            edge("image", "wide", "image_url", "image"),
            edge("image", "tall", "image_url", "image"),
            edge("video", "late", "video_url", "video"),
        ],
    )
    assert run["status"] == "partial"
    nodes = nodes_of(run)
    assert "X (60%) plus width (50%)" in nodes["wide"]["error"] and "110%" in nodes["wide"]["error"]
    assert "100%" in nodes["wide"]["error"]
    assert "Y (30.5%) plus height (70%)" in nodes["tall"]["error"]
    late = nodes["late"]["error"]
    assert "Timestamp 12 s" in late and "past the end" in late and "3.00 s long" in late


def test_upload_nodes_without_a_usable_file_ask_for_an_upload(
    owner: User, runs_user: Callable[..., User], tmp_path: Path
) -> None:
    stranger = runs_user("stranger")
    stranger.create_workflow(name="Theirs")
    theirs = upload(stranger, encode(blocks(), "PNG"), "theirs.png")
    mine_video = upload(owner, colour_video(tmp_path / "v.mp4", seconds=1).read_bytes(), "v.mp4")
    run = run_graph(
        owner,
        [
            node("empty", "upload_image", media_id=""),
            node("foreign", "upload_image", media_id=theirs),
            node("garbage", "upload_video", media_id="not-an-id"),
            node("wrong-kind", "upload_image", media_id=mine_video),
        ],
        [],
    )
    assert run["status"] == "failed"
    nodes = nodes_of(run)
    assert "has no image yet: upload an image" in nodes["empty"]["error"]
    assert "not a file of this workflow" in nodes["foreign"]["error"] and "upload" in nodes["foreign"]["error"]
    assert "upload a video" in nodes["garbage"]["error"]
    assert "holds a video, not an image" in nodes["wrong-kind"]["error"]
    # The stranger's file did not become readable through the attempt.
    assert owner.http.get(f"/api/media/{theirs}").status_code == 404


def test_the_marketing_kit_runs_for_a_new_user_without_any_llm_configured(owner: User) -> None:
    workflow = owner.create_workflow(template="marketing-kit")
    run = wait_for_run(owner.http, start_run(owner.http, workflow["id"])["id"], timeout=60)
    assert run["status"] == "partial"
    nodes = nodes_of(run)
    for node_id in ("upload-image", "crop", "details", "upload-video", "frame"):
        assert nodes[node_id]["status"] == "success", (node_id, nodes[node_id]["error"])
    assert "No language model is configured" in nodes["copywriter"]["error"]
    assert "GALAXY_MODELS" in nodes["copywriter"]["error"] and "OPENAI_API_KEY" in nodes["copywriter"]["error"]
    assert nodes["social"]["status"] == "skipped"
    crop = nodes["crop"]["outputs"]["output"]
    assert crop["content_type"] == "image/jpeg" and (crop["width"], crop["height"]) == (768, 576)  # 80% of 960 by 720
    frame = nodes["frame"]["outputs"]["output"]
    assert frame["timestamp"] == pytest.approx(2.0) and (frame["width"], frame["height"]) == (480, 272)
    assert fetch(owner, frame)[:8] == b"\x89PNG\r\n\x1a\n"

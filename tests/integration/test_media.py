"""Media uploads and downloads over real HTTP: accepted types, every rejection leaving nothing
behind (on disk or in the database), ranges, thumbnails and who may read a file."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from server.settings import Settings
from tests.media_files import audio_only, blocks, colour_video, encode, png_bomb
from tests.support import User, assert_problem, sql

NewUser = Callable[..., User]


def upload(user: User, data: bytes, filename: str, **fields: str) -> httpx.Response:
    return user.http.post("/api/media", files={"file": (filename, data)}, data=fields)


def stored_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.media_dir.rglob("*") if p.is_file())


def media_rows(settings: Settings, user: User) -> int:
    rows = sql(settings.database_url, "SELECT count(*) AS n FROM media WHERE owner = $1::uuid", user.id)
    return int(rows[0]["n"])


@pytest.fixture
def member(new_user: NewUser) -> User:
    user = new_user("uploader")
    user.create_workflow(name="For uploads")
    return user


IMAGES = [
    ("photo.jpg", "JPEG", "image/jpeg"),
    ("photo.png", "PNG", "image/png"),
    ("photo.webp", "WEBP", "image/webp"),
    ("photo.gif", "GIF", "image/gif"),
]


@pytest.mark.parametrize(("filename", "fmt", "content_type"), IMAGES)
def test_each_image_type_is_accepted_by_its_bytes(member: User, filename: str, fmt: str, content_type: str) -> None:
    data = encode(blocks(120, 80), fmt)
    response = upload(member, data, filename.replace(".", "-renamed."))  # the name does not decide
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "image" and body["content_type"] == content_type
    assert (body["width"], body["height"], body["size"], body["duration"]) == (120, 80, len(data), None)
    served = member.http.get(f"/api/media/{body['id']}")
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == content_type
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert "immutable" in served.headers["cache-control"] and served.headers["accept-ranges"] == "bytes"
    assert served.headers["content-disposition"].startswith("inline; filename=")


VIDEOS = [
    ("clip.mp4", "mp4", "libx264", "video/mp4"),
    ("clip.mov", "mov", "libx264", "video/quicktime"),
    ("clip.m4v", "ipod", "libx264", "video/x-m4v"),
    ("clip.webm", "webm", "libvpx-vp9", "video/webm"),
]


@pytest.mark.parametrize(("filename", "container", "codec", "content_type"), VIDEOS)
def test_each_video_type_is_accepted_and_probed(
    member: User, tmp_path: Path, filename: str, container: str, codec: str, content_type: str
) -> None:
    path = colour_video(tmp_path / filename, seconds=3, container=container, codec=codec)
    response = upload(member, path.read_bytes(), "video.bin")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "video" and body["content_type"] == content_type
    assert (body["width"], body["height"]) == (160, 120)
    assert body["duration"] == pytest.approx(3.0, abs=0.15)
    assert body["filename"].endswith("." + filename.rsplit(".", 1)[1])


def _truncated_jpeg() -> bytes:
    data = encode(blocks(400, 300), "JPEG")
    return data[: len(data) // 2]


REJECTIONS: list[tuple[str, Callable[[Path], bytes], int, str]] = [
    ("notes.png", lambda _: b"These are my notes, not a picture.\n" * 20, 415, "not an image or video"),
    ("empty.jpg", lambda _: b"", 422, "empty"),
    ("half.jpg", lambda _: _truncated_jpeg(), 422, "truncated"),
    ("bomb.png", lambda _: png_bomb(), 413, "pixels"),
    ("song.mp4", lambda tmp: audio_only(tmp / "song.mp4").read_bytes(), 422, "no video stream"),
    ("film.mkv", lambda tmp: colour_video(tmp / "x.mkv", seconds=1, container="matroska").read_bytes(), 415, "mkv"),
    ("huge.jpg", lambda _: b"\xff\xd8\xff\xe0" + bytes(25 * 1024 * 1024), 413, "25 MiB"),
]


@pytest.mark.parametrize(("filename", "make", "status", "message"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejected_uploads_leave_nothing_behind(
    member: User, settings: Settings, tmp_path: Path, filename: str, make: Callable[[Path], bytes], status: int,
    message: str,
) -> None:  # fmt: skip
    data = make(tmp_path)
    files_before = stored_files(settings)
    assert_problem(upload(member, data, filename), status, message)
    assert stored_files(settings) == files_before
    assert media_rows(settings, member) == 0


def test_malformed_requests_are_refused(member: User, settings: Settings) -> None:
    assert_problem(member.http.post("/api/media", json={"file": "x"}), 415, "multipart/form-data")
    assert_problem(member.http.post("/api/media", data={"workflow_id": "abc"}), 415)
    no_file = member.http.post("/api/media", files={"other": ("a.txt", b"x")})
    assert_problem(no_file, 400, "Unknown form field")
    two = member.http.post(
        "/api/media", files=[("file", ("a.png", encode(blocks(), "PNG"))), ("file", ("b.png", encode(blocks(), "PNG")))]
    )
    assert_problem(two, 400, "one file")
    assert media_rows(settings, member) == 0


def test_who_may_upload(new_user: NewUser, settings: Settings) -> None:
    loner, owner, viewer = new_user("loner"), new_user("owner"), new_user("viewer")
    data = encode(blocks(), "PNG")
    assert_problem(upload(loner, data, "a.png"), 403, "Create a workflow first")
    workflow = owner.create_workflow(name="Shared")
    owner.share(workflow["id"], viewer, "viewer")
    assert_problem(upload(viewer, data, "a.png", workflow_id=workflow["id"]), 403, "editor")
    assert_problem(upload(loner, data, "a.png", workflow_id=workflow["id"]), 404)
    query = loner.http.post("/api/media", params={"workflow_id": workflow["id"]}, files={"file": ("a.png", data)})
    assert_problem(query, 404)
    assert_problem(upload(owner, data, "a.png", workflow_id="not-a-uuid"), 400, "workflow_id")
    assert upload(owner, data, "a.png", workflow_id=workflow["id"]).status_code == 201
    assert media_rows(settings, loner) == media_rows(settings, viewer) == 0


def test_media_is_served_only_to_members_of_a_workflow_that_uses_it(new_user: NewUser) -> None:
    owner, viewer, stranger = new_user("owner"), new_user("viewer"), new_user("stranger")
    stranger.create_workflow(name="Elsewhere")
    workflow = owner.create_workflow(name="Private")
    owner.share(workflow["id"], viewer, "viewer")
    media_id = upload(owner, encode(blocks(), "PNG"), "a.png", workflow_id=workflow["id"]).json()["id"]
    assert viewer.http.get(f"/api/media/{media_id}").status_code == 200
    assert_problem(stranger.http.get(f"/api/media/{media_id}"), 404)
    assert_problem(stranger.http.get(f"/api/media/{media_id}", params={"w": 256}), 404)
    assert_problem(stranger.http.get("/api/media/00000000-0000-0000-0000-000000000000"), 404)
    owner.http.delete(f"/api/workflows/{workflow['id']}/members/{viewer.id}")
    assert_problem(viewer.http.get(f"/api/media/{media_id}"), 404)
    # A file uploaded without naming a workflow is its uploader's alone.
    loose = upload(stranger, encode(blocks(), "PNG"), "b.png").json()["id"]
    assert stranger.http.get(f"/api/media/{loose}").status_code == 200
    assert_problem(owner.http.get(f"/api/media/{loose}"), 404)
    assert viewer.http.post(f"/api/workflows/{workflow['id']}/duplicate").status_code == 404


def test_a_duplicate_or_an_import_takes_along_only_the_files_its_creator_may_read(new_user: NewUser) -> None:
    owner, editor, outsider = new_user("owner"), new_user("editor"), new_user("outsider")
    outsider.create_workflow(name="Theirs")
    workflow = owner.create_workflow(template="marketing-kit")
    owner.share(workflow["id"], editor, "editor")
    image_id = {n["id"]: n for n in workflow["graph"]["nodes"]}["upload-image"]["data"]["media_id"]
    copy = editor.http.post(f"/api/workflows/{workflow['id']}/duplicate").json()
    owner.http.delete(f"/api/workflows/{workflow['id']}/members/{editor.id}")
    assert editor.http.get(f"/api/media/{image_id}").status_code == 200  # through the copy
    exported = editor.http.get(f"/api/workflows/{copy['id']}/export").json()
    imported = outsider.http.post("/api/workflows/import", json=exported)
    assert imported.status_code == 201
    assert_problem(outsider.http.get(f"/api/media/{image_id}"), 404)


def test_same_bytes_are_stored_once(member: User, settings: Settings) -> None:
    data = encode(blocks(64, 64), "PNG")
    first, second = upload(member, data, "a.png").json(), upload(member, data, "b.png").json()
    assert first["id"] != second["id"]
    digest = hashlib.sha256(data).hexdigest()
    expected = settings.media_dir / digest[:2] / digest[2:4] / digest
    assert [p for p in stored_files(settings) if p.name == digest] == [expected]


def test_range_requests(member: User, tmp_path: Path) -> None:
    data = colour_video(tmp_path / "v.mp4", seconds=2).read_bytes()
    media_id = upload(member, data, "v.mp4").json()["id"]
    url = f"/api/media/{media_id}"

    def ranged(value: str, **headers: str) -> httpx.Response:
        return member.http.get(url, headers={"range": value, **headers})

    first = ranged("bytes=0-99")
    assert first.status_code == 206 and first.content == data[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(data)}" and first.headers["content-length"] == "100"
    assert ranged("bytes=-10").content == data[-10:]
    tail = ranged(f"bytes={len(data) - 5}-")
    assert tail.status_code == 206 and tail.content == data[-5:]
    assert ranged(f"bytes=10-{len(data) * 2}").content == data[10:]
    unsatisfiable = ranged(f"bytes={len(data)}-")
    assert unsatisfiable.status_code == 416 and unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"
    assert ranged("bytes=0-9", **{"if-range": '"other"'}).status_code == 200
    etag = member.http.get(url).headers["etag"]
    assert member.http.get(url, headers={"if-none-match": etag}).status_code == 304


def test_thumbnails(member: User, tmp_path: Path) -> None:
    big = encode(blocks(1000, 500), "JPEG", quality=90)
    media_id = upload(member, big, "big.jpg").json()["id"]
    thumb = member.http.get(f"/api/media/{media_id}", params={"w": 256})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.size == (256, 128)
    assert thumb.headers["etag"] != member.http.get(f"/api/media/{media_id}").headers["etag"]
    again = member.http.get(f"/api/media/{media_id}", params={"w": 256})
    assert again.content == thumb.content
    assert_problem(member.http.get(f"/api/media/{media_id}", params={"w": 300}), 400, "256")
    video = upload(member, colour_video(tmp_path / "v.mp4", seconds=1).read_bytes(), "v.mp4").json()["id"]
    assert_problem(member.http.get(f"/api/media/{video}", params={"w": 256}), 400, "images only")


def test_template_workflow_starts_with_the_sample_files(member: User) -> None:
    workflow = member.create_workflow(template="marketing-kit")
    nodes = {n["id"]: n for n in workflow["graph"]["nodes"]}
    for node_id, kind in (("upload-image", "image"), ("upload-video", "video")):
        media_id = nodes[node_id]["data"]["media_id"]
        served = member.http.get(f"/api/media/{media_id}")
        assert served.status_code == 200 and served.headers["content-type"].startswith(kind)
    assert workflow["problems"] == []

"""The LLM node end to end: a real web server, a real worker, litellm, and an OpenAI-compatible
server on 127.0.0.1 that streams real server-sent events (never a patched litellm)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from server.settings import Settings
from tests.collab_client import YClient, eventually
from tests.fake_llm import Error, FakeLLM, Hang, Stream, fake_llm
from tests.integration.runs_support import (
    import_workflow,
    in_process_worker,
    node,
    nodes_of,
    runs_settings,
    start_run,
    text,
    wait_for_run,
)
from tests.media_files import blocks, encode
from tests.support import Clients, User, run_server

MODEL = "openai/fake-model"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(fake: FakeLLM) -> None:
    fake.script.clear()
    fake.requests.clear()
    fake.default = Stream()


@pytest.fixture(scope="module")
def llm_settings(settings: Settings, fake: FakeLLM) -> Settings:
    return runs_settings(
        settings,
        redis_namespace=settings.redis_namespace + "-llm",
        models=(MODEL, "gemini/gemini-2.0-flash"),
        llm_base_url=fake.base_url,
        llm_timeout=1,
        llm_max_retries=2,
        llm_retry_delay_ms=20,
    )


@pytest.fixture(scope="module")
def llm_url(llm_settings: Settings) -> Iterator[str]:
    with run_server(llm_settings) as url, in_process_worker(llm_settings):
        yield url


@pytest.fixture
def owner(clients: Clients, llm_url: str) -> User:
    return clients.user(llm_url, "owner")


def link(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, Any]:
    return {"id": f"{source}-{target}-{target_handle}", "source": source, "sourceHandle": source_handle,
            "target": target, "targetHandle": target_handle}  # fmt: skip


def llm_workflow(user: User, **llm_data: Any) -> str:
    return import_workflow(
        user,
        [
            text("ask", "Describe the product"),
            node("llm", "llm", **{"model": "", "system_prompt": "Be brief.", **llm_data}),
        ],
        [link("ask", "text", "llm", "user_message")],
    )


def run_once(user: User, workflow_id: str) -> dict[str, Any]:
    return nodes_of(wait_for_run(user.http, start_run(user.http, workflow_id)["id"], timeout=60))["llm"]


def test_models_lists_what_this_server_can_call(owner: User, new_user: Callable[..., User]) -> None:
    listed = owner.http.get("/api/models").json()
    assert listed == {
        "models": [{"id": MODEL, "provider": "openai", "default": True}],  # gemini has no key here
        "default": MODEL,
        "hint": "",
    }
    unconfigured = new_user().http.get("/api/models").json()
    assert unconfigured["models"] == [] and unconfigured["default"] is None
    assert "GALAXY_MODELS" in unconfigured["hint"] and "OPENAI_API_KEY" in unconfigured["hint"]


def test_tokens_stream_to_websocket_clients_and_the_request_carries_prompts_and_images(
    owner: User, llm_url: str, fake: FakeLLM
) -> None:
    owner.create_workflow(name="uploads")
    photo = encode(blocks(200, 100), "PNG")
    media_id = owner.http.post("/api/media", files={"file": ("p.png", photo)}).json()["id"]
    tokens = [f"word{i} " for i in range(30)]
    fake.default = Stream(tokens=tokens, delay=0.01)
    workflow_id = import_workflow(
        owner,
        [
            text("sys", "You write product copy."),
            text("ask", "Describe the product"),
            node("photo", "upload_image", media_id=media_id),
            node("crop", "crop_image", x_percent=50, width_percent=50),
            node("llm", "llm", model=MODEL, temperature=0.2),
        ],
        [
            link("sys", "text", "llm", "system_prompt"),
            link("ask", "text", "llm", "user_message"),
            link("photo", "image", "crop", "image_url"),
            link("photo", "image", "llm", "images"),
            link("crop", "output", "llm", "images"),
        ],
    )
    token = owner.http.post("/api/tokens", json={"name": "socket"}).json()["token"]
    socket_url = llm_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"

    async def watch() -> tuple[str, list[dict[str, Any]]]:
        client = await (await YClient(socket_url).connect()).wait_synced()
        try:
            run_id = (await asyncio.to_thread(start_run, owner.http, workflow_id))["id"]
            await eventually(lambda: any(e["type"] == "run_finished" for e in client.events), timeout=30)
        finally:
            await client.close()
        return run_id, [e for e in client.events if e.get("run_id") == run_id]

    run_id, events = asyncio.run(watch())
    mine = [e for e in events if e.get("node_id") == "llm"]
    kinds = [e["type"] for e in mine]
    assert kinds[0] == "node_started" and kinds[-1] == "node_finished" and "node_progress" in kinds
    deltas = [e["delta"] for e in mine if e["type"] == "node_progress"]
    assert 1 < len(deltas) < len(tokens)  # streamed, and coalesced
    run = wait_for_run(owner.http, run_id)
    result = nodes_of(run)["llm"]
    assert result["status"] == "success" and "".join(deltas) == result["outputs"]["output"] == "".join(tokens)
    assert result["usage"]["prompt_tokens"] == 11 and result["usage"]["completion_tokens"] == 7
    assert result["usage"]["model"] == MODEL and result["usage"]["attempts"] == 1

    (request,) = fake.requests
    assert request["model"] == "fake-model" and request["stream"] is True and request["temperature"] == 0.2
    system, user = request["messages"]
    assert system == {"role": "system", "content": "You write product copy."}
    assert user["role"] == "user" and user["content"][0] == {"type": "text", "text": "Describe the product"}
    urls = [part["image_url"]["url"] for part in user["content"][1:]]
    assert all(url.startswith("data:image/png;base64,") for url in urls) and len(urls) == 2
    sent = {base64.b64decode(url.split(",", 1)[1]) for url in urls}
    crop_id = nodes_of(run)["crop"]["outputs"]["output"]["media_id"]
    assert sent == {photo, owner.http.get(f"/api/media/{crop_id}").content}


def test_a_run_read_mid_stream_holds_the_text_so_far_and_the_seq_to_continue_from(
    owner: User, llm_url: str, fake: FakeLLM
) -> None:
    tokens = [f"t{i} " for i in range(24)]
    fake.default = Stream(tokens=tokens, delay=0.08)
    workflow_id = llm_workflow(owner, model=MODEL)
    token = owner.http.post("/api/tokens", json={"name": "socket"}).json()["token"]
    socket_url = llm_url.replace("http://", "ws://") + f"/ws/workflows/{workflow_id}?token={token}"

    async def watch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        client = await (await YClient(socket_url).connect()).wait_synced()
        reads = []

        def progressed() -> int:
            return sum(e["type"] == "node_progress" for e in client.events)

        try:
            run_id = (await asyncio.to_thread(start_run, owner.http, workflow_id))["id"]
            for _ in range(3):  # three reads while the answer grows
                goal = progressed() + 2
                await eventually(lambda: progressed() > goal)  # noqa: B023 (awaited at once)
                reads.append((await asyncio.to_thread(owner.http.get, f"/api/runs/{run_id}")).json())
            await eventually(lambda: any(e["type"] == "run_finished" for e in client.events), timeout=30)
        finally:
            await client.close()
        return reads, client.events

    reads, events = asyncio.run(watch())
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for read in reads:
        llm = nodes_of(read)["llm"]
        assert llm["status"] == "running" and llm["streamed"]
        # Exactly the deltas up to the read's seq, and the events after it complete the answer.
        before = "".join(e["delta"] for e in events if e["type"] == "node_progress" and e["seq"] <= read["seq"])
        after = "".join(e["delta"] for e in events if e["type"] == "node_progress" and e["seq"] > read["seq"])
        assert llm["streamed"] == before and before + after == "".join(tokens)
    assert reads[0]["seq"] < reads[1]["seq"] < reads[2]["seq"]
    done = owner.http.get(f"/api/runs/{reads[0]['id']}").json()
    assert done["seq"] == len(events) and nodes_of(done)["llm"]["streamed"] == ""
    assert nodes_of(done)["llm"]["outputs"]["output"] == "".join(tokens)


ERROR_CASES: list[tuple[str, list[Any], str, str, int]] = [
    ("bad key", [Error(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key")],
     "refused the API key", "Incorrect API key", 1),
    ("rate limited", [Error(429, "Rate limit reached", "requests", "rate_limit_exceeded")] * 3,
     "still was after 3 attempts", "Rate limit reached", 3),
    ("server error", [Error(500, "The server had an error")], "HTTP 500", "The server had an error", 1),
    ("timeout", [Hang(5)], "did not answer within 1 seconds", "Timeout", 1),
    ("unknown model", [Error(404, "The model `fake-model` does not exist", code="model_not_found")],
     "does not know the model", "does not exist", 1),
    ("context", [Error(400, "This model's maximum context length is 4096 tokens", code="context_length_exceeded")],
     "longer than openai/fake-model accepts", "maximum context length", 1),
]  # fmt: skip


@pytest.mark.parametrize(("case", "script", "message", "detail", "calls"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_provider_errors_become_actionable_messages(
    owner: User, fake: FakeLLM, case: str, script: list[Any], message: str, detail: str, calls: int
) -> None:
    fake.then(*script)
    result = run_once(owner, llm_workflow(owner))
    assert result["status"] == "failed"
    assert message in result["error"], result["error"]
    assert detail in result["error_detail"], result["error_detail"]
    assert len(fake.requests) == calls
    assert result["usage"]["attempts"] == calls


def test_a_rate_limit_that_clears_is_retried_to_success(owner: User, fake: FakeLLM) -> None:
    fake.then(Error(429, "Rate limit reached", code="rate_limit_exceeded"), Error(429, "Rate limit reached"))
    result = run_once(owner, llm_workflow(owner))
    assert result["status"] == "success", (result["error"], result["error_detail"], fake.requests)
    assert result["outputs"]["output"] == "Echo: Describe the product"
    assert len(fake.requests) == 3 and result["usage"]["attempts"] == 3


def test_models_the_server_cannot_call_fail_before_any_request(owner: User, fake: FakeLLM) -> None:
    unknown = run_once(owner, llm_workflow(owner, model="openai/other"))
    assert "does not offer" in unknown["error"] and MODEL in unknown["error"]
    keyless = run_once(owner, llm_workflow(owner, model="gemini/gemini-2.0-flash"))
    assert "needs GEMINI_API_KEY" in keyless["error"]
    assert fake.requests == []


def test_the_web_process_never_imports_litellm(llm_settings: Settings, tmp_path: Path) -> None:
    import subprocess
    import sys

    from server.settings import PROJECT_ROOT, to_environment

    probe = (
        "import sys\nfrom server.app import create_app\nfrom server.settings import load_settings\n"
        "create_app(load_settings())\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'litellm'))\n"
    )
    env = {**to_environment(llm_settings), "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    output = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert msgspec.json.decode(output.stdout.strip().splitlines()[-1].replace("'", '"')) == []

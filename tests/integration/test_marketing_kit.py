"""The whole Product Marketing Kit on two real `galaxy worker` processes, with its LLM nodes
calling an OpenAI-compatible server on 127.0.0.1 through litellm."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from server.settings import Settings
from tests.fake_llm import FakeLLM, Stream, fake_llm
from tests.integration.runs_support import nodes_of, runs_settings, start_run, wait_for_run, worker_processes
from tests.support import Clients, run_server

MODEL = "openai/kit-model"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        server.default = Stream(delay=0.02)  # echo the user message, word by word
        yield server


@pytest.fixture(scope="module")
def kit_url(
    settings: Settings, fake: FakeLLM, node_log: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    kit_settings = runs_settings(
        settings, redis_namespace=settings.redis_namespace + "-kit", models=(MODEL,), llm_base_url=fake.base_url
    )
    with run_server(kit_settings) as url, worker_processes(kit_settings, node_log, 2, tmp_path_factory.mktemp("kit")):
        yield url


def _span(nodes: dict[str, dict[str, Any]], ids: list[str]) -> tuple[datetime, datetime]:
    starts = [datetime.fromisoformat(nodes[i]["started_at"]) for i in ids]
    ends = [datetime.fromisoformat(nodes[i]["finished_at"]) for i in ids]
    return min(starts), max(ends)


@pytest.mark.timeout(180)
def test_the_whole_kit_runs_with_a_model_configured(clients: Clients, kit_url: str, fake: FakeLLM) -> None:
    user = clients.user(kit_url, "marketer")
    workflow = user.create_workflow(template="marketing-kit")
    run = wait_for_run(user.http, start_run(user.http, workflow["id"])["id"], timeout=120)
    nodes = nodes_of(run)
    assert run["status"] == "success", {k: v["error"] for k, v in nodes.items()}

    branch_a = _span(nodes, ["upload-image", "crop", "copywriter"])
    branch_b = _span(nodes, ["upload-video", "frame"])
    assert branch_a[0] < branch_b[1] and branch_b[0] < branch_a[1], "the two branches overlapped in time"

    by_system = {r["messages"][0]["content"]: r for r in fake.requests}
    copy_request = next(r for k, r in by_system.items() if "copywriter" in k)
    social_request = next(r for k, r in by_system.items() if "social media" in k)
    copy_user = copy_request["messages"][1]["content"]
    assert copy_user[0]["text"].startswith("Product: Aurora") and len(copy_user) == 2  # details + cropped photo

    social_user = social_request["messages"][1]["content"]
    assert social_user[0]["text"] == nodes["copywriter"]["outputs"]["output"]  # LLM #1's text
    images = {base64.b64decode(part["image_url"]["url"].split(",", 1)[1]) for part in social_user[1:]}
    crop, frame = nodes["crop"]["outputs"]["output"], nodes["frame"]["outputs"]["output"]
    assert images == {user.http.get(f"/api/media/{m['media_id']}").content for m in (crop, frame)}
    assert nodes["social"]["outputs"]["output"].startswith("Echo: Echo: Product: Aurora")
    assert nodes["social"]["usage"]["total_tokens"] == 18
    assert run["outputs_by_label"]["Social media post"] == nodes["social"]["outputs"]

"""The LLM configuration from settings, and `GET /api/models` (answered without litellm)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from engine.nodes.llm_config import LLMConfig, provider_of
from server.settings import Settings


def llm_config(settings: Settings) -> LLMConfig:
    return LLMConfig(
        models=settings.models,
        default_model=settings.default_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        timeout=float(settings.llm_timeout),
        max_retries=settings.llm_max_retries,
        retry_delay=settings.llm_retry_delay_ms / 1000,
        provider_keys=settings.provider_keys,
    )


class ModelOut(msgspec.Struct):
    id: str
    provider: str
    default: bool


class ModelList(msgspec.Struct):
    """The models nodes can use now; `hint` says what to set when there are none."""

    models: list[ModelOut]
    default: str | None
    hint: str


class ModelController(Controller):
    path = "/api/models"
    tags = ["nodes"]

    @get("/", summary="The language models this server can call now (for the LLM node's picker)")
    async def models(self, settings: NamedDependency[Settings]) -> ModelList:
        config = llm_config(settings)
        default = config.default()
        models = [ModelOut(id=m, provider=provider_of(m), default=m == default) for m in config.available()]
        return ModelList(models=models, default=default or None, hint="" if models else config.no_provider_message())

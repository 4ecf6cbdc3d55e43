"""Provider errors (litellm exceptions) as messages a person can act on; the raw error goes in
the failure's detail. Imported only by the LLM executor, after litellm itself."""

from __future__ import annotations

from typing import Any

from engine.nodes.base import NodeFailed
from engine.nodes.llm_config import LLMConfig, provider_of


def _raw(err: BaseException) -> str:
    status = getattr(err, "status_code", None)
    return (f"{type(err).__name__} (HTTP {status}): {err}" if status else f"{type(err).__name__}: {err}")[:4000]


# Providers and OpenAI-compatible servers word these differently, and litellm does not map them all.
CONTEXT_WORDS = ("context length", "context window", "context_length_exceeded", "too many tokens", "prompt is too long")
POLICY_WORDS = ("content policy", "content_policy", "content management policy", "safety system", "content_filter")


def _says(err: BaseException, litellm: Any, words: tuple[str, ...]) -> bool:
    text = str(err).lower()
    return isinstance(err, litellm.BadRequestError) and any(word in text for word in words)


def is_rate_limit(litellm: Any, err: BaseException) -> bool:
    return isinstance(err, litellm.RateLimitError)


def to_failure(litellm: Any, err: BaseException, *, model: str, config: LLMConfig, attempts: int) -> NodeFailed:
    """The `NodeFailed` for a provider error raised while calling `model`."""
    detail = _raw(err)
    where = f"the server at {config.base_url}" if provider_of(model) == "openai" and config.base_url else "the provider"
    key = "LLM_API_KEY" if provider_of(model) == "openai" and config.base_url else config.missing_key(model)
    key = key or {"openai": "OPENAI_API_KEY"}.get(provider_of(model), f"{provider_of(model).upper()}_API_KEY")
    if isinstance(err, litellm.AuthenticationError | litellm.PermissionDeniedError):
        message = f"{where.capitalize()} refused the API key for {model}; check {key} on the workers."
    elif isinstance(err, litellm.RateLimitError):
        message = (
            f"{where.capitalize()} is rate limiting {model} and still was after {attempts} attempts; wait a "
            "minute and run the node again, or raise the account's quota."
        )
    elif isinstance(err, litellm.Timeout):
        message = (
            f"{model} did not answer within {config.timeout:g} seconds; run the node again, or raise LLM_TIMEOUT "
            "if long answers are expected."
        )
    elif isinstance(err, litellm.ContextWindowExceededError) or _says(err, litellm, CONTEXT_WORDS):
        message = (
            f"The prompt and images are longer than {model} accepts (its context window); shorten the "
            "messages or send fewer images."
        )
    elif isinstance(err, litellm.ContentPolicyViolationError) or _says(err, litellm, POLICY_WORDS):
        message = f"{where.capitalize()} refused this request under its content policy; change the prompt or images."
    elif isinstance(err, litellm.NotFoundError) or (
        isinstance(err, litellm.BadRequestError) and "model" in str(err).lower() and "not" in str(err).lower()
    ):
        message = f"{where.capitalize()} does not know the model {model}; correct GALAXY_MODELS or the node's model."
    elif isinstance(err, litellm.APIConnectionError):
        message = f"Could not reach {where} for {model}; check that it is running and reachable from the workers."
    elif isinstance(err, litellm.BadRequestError):
        message = f"{where.capitalize()} rejected the request to {model}: {str(err)[:300]}"
    elif isinstance(err, litellm.InternalServerError | litellm.ServiceUnavailableError | litellm.BadGatewayError):
        status = getattr(err, "status_code", 500)
        message = f"{where.capitalize()} failed while answering (HTTP {status}); run the node again later."
    else:
        message = f"The call to {model} failed ({type(err).__name__}); run the node again, or see the detail."
    return NodeFailed(message, detail=detail)

"""Which language models this deployment can call, decided from configuration alone (no
litellm import, so the web process can answer `GET /api/models` without loading it)."""

from __future__ import annotations

from dataclasses import dataclass, field

# litellm provider prefix → the variable holding its key (None: needs no key).
PROVIDER_KEYS: dict[str, str | None] = {
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "ollama": None,
    "ollama_chat": None,
}
SETUP_HINT = (
    "set GALAXY_MODELS to the litellm model names to offer (for example openai/gpt-4o-mini, "
    "gemini/gemini-2.0-flash, anthropic/claude-3-5-haiku-latest or ollama_chat/llama3.2) and the "
    "provider's key (OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY, ...), or LLM_BASE_URL for an "
    "OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio) with openai/<model> names"
)


def provider_of(model: str) -> str:
    """The litellm provider of a model name (names without a prefix are OpenAI's)."""
    prefix, slash, _ = model.partition("/")
    return prefix if slash else "openai"


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """The LLM part of the deployment's configuration."""

    models: tuple[str, ...] = ()
    default_model: str = ""
    base_url: str = ""
    api_key: str = ""
    timeout: float = 120.0
    max_retries: int = 3
    retry_delay: float = 1.0
    provider_keys: frozenset[str] = field(default_factory=frozenset)

    def missing_key(self, model: str) -> str | None:
        """The variable that must be set before `model` can be called, or None when it can be."""
        provider = provider_of(model)
        if provider == "openai" and self.base_url:
            return None  # an OpenAI-compatible server of our own; LLM_API_KEY is optional
        variable = PROVIDER_KEYS.get(provider, f"{provider.upper()}_API_KEY")
        if variable is None or variable in self.provider_keys:
            return None
        return variable

    def offered(self) -> list[str]:
        """Every model named in the configuration, default first."""
        names = list(self.models)
        if self.default_model and self.default_model not in names:
            names.insert(0, self.default_model)
        return names

    def available(self) -> list[str]:
        """The offered models whose provider is configured."""
        return [m for m in self.offered() if self.missing_key(m) is None]

    def default(self) -> str:
        """The model a node without a choice uses: GALAXY_DEFAULT_MODEL, else the first available."""
        available = self.available()
        if self.default_model in available:
            return self.default_model
        return available[0] if available else ""

    def no_provider_message(self) -> str:
        if not self.offered():
            return f"No language model is configured on this server: {SETUP_HINT}."
        needed = sorted({v for m in self.offered() if (v := self.missing_key(m)) is not None})
        return (
            f"No provider is configured for the models this server offers ({', '.join(self.offered())}): "
            f"set {' or '.join(needed)} on the workers, or LLM_BASE_URL for an OpenAI-compatible server."
        )

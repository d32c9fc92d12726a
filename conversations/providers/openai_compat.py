"""One provider for every OpenAI-compatible endpoint: the project's local inference server now,
vLLM (``vllm serve BASE --enable-lora``) in a scale-out deployment.

Through the official ``openai`` client (its retries, timeouts, SSE parsing and error types).
The endpoint picks the model version by the request's ``model`` field (a PEFT adapter name),
so one base URL serves every version. Groq keeps its own client (``providers.groq``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai

from conversations.providers.base import Completion, ProviderError, Usage
from conversations.providers.clients import ClientCache
from conversations.providers.errors import error_from_sdk

SERVICE = "The local model"
_clients = ClientCache(lambda options: openai.AsyncOpenAI(**options), lambda options: openai.OpenAI(**options))


def reset_clients() -> None:
    _clients.clear()


@dataclass(frozen=True)
class OpenAICompatibleProvider:
    base_url: str  # e.g. http://127.0.0.1:8766/v1
    model: str  # the endpoint's name for the model (a version name, or "base")
    api_key: str = ""
    timeout: float = 30.0
    connect_timeout: float = 2.0
    max_tokens: int = 256
    temperature: float = 0.7
    name: str = "local"

    def _options(self) -> dict:
        # No retries: a local failure falls back to the hosted model at once instead.
        return {"api_key": self.api_key or "none", "base_url": self.base_url, "max_retries": 0,
                "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout)}

    def _key(self) -> tuple:
        return (self.base_url, self.api_key, self.timeout, self.connect_timeout)

    def _request(self, messages: list[dict]) -> dict:
        return {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                "temperature": self.temperature}

    def _completion(self, reply, started: float) -> Completion:
        text = (reply.choices[0].message.content or "") if reply.choices else ""
        usage = Usage(reply.usage.prompt_tokens, reply.usage.completion_tokens) if reply.usage else Usage()
        return Completion(text, usage, self.model, int((time.monotonic() - started) * 1000), provider=self.name)

    async def complete(self, messages: list[dict]) -> Completion:
        started = time.monotonic()
        try:
            reply = await _clients.async_client(self._key(), self._options()).chat.completions.create(
                **self._request(messages))
        except Exception as exc:
            raise error_from_sdk(exc, openai, service=SERVICE) from exc
        return self._completion(reply, started)

    def complete_sync(self, messages: list[dict]) -> Completion:
        started = time.monotonic()
        try:
            reply = _clients.sync_client(self._key(), self._options()).chat.completions.create(
                **self._request(messages))
        except Exception as exc:
            raise error_from_sdk(exc, openai, service=SERVICE) from exc
        return self._completion(reply, started)

    async def stream(self, messages: list[dict]) -> AsyncIterator[str | Usage]:
        usage = Usage()
        try:
            chunks = await _clients.async_client(self._key(), self._options()).chat.completions.create(
                **self._request(messages), stream=True, stream_options={"include_usage": True})
        except Exception as exc:
            raise error_from_sdk(exc, openai, service=SERVICE) from exc
        try:
            async for chunk in chunks:
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
        except ProviderError:
            raise
        except Exception as exc:
            raise error_from_sdk(exc, openai, service=SERVICE) from exc
        finally:
            await chunks.close()  # stops generation upstream when the caller stops early
        yield usage

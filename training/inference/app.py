"""HTTP face of the inference server: OpenAI chat completions, vLLM-style adapter loading, health.

Why this shape: the web side talks to every OpenAI-compatible endpoint with one client (the
local server here, vLLM on GPU hosts), so requests, streamed chunks and errors look exactly
like OpenAI's and Groq's: ``chat.completion`` / ``chat.completion.chunk`` objects, SSE
``data:`` lines ending in ``data: [DONE]``, errors as ``{"error": {"message", "type", "code"}}``.

Handlers validate, make sure the model version is loaded (``versions.Versions``), queue a
``GenerationRequest`` on the engine and relay what the engine thread emits through an
asyncio queue. A client that goes away cancels its request; the engine drops the row at its
next step.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from training.inference.engine import Engine, GenerationRequest
from training.inference.versions import BASE_NAME, VersionError, Versions

ROLES = {"system", "user", "assistant"}


class RequestError(Exception):
    def __init__(self, message: str, *, status: int = 400, code: str | None = None, param: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.code, self.param, self.type = status, code, param, type_


def error_response(message: str, *, status: int, code: str | None, type_: str = "invalid_request_error",
                   param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "code": code, "param": param}}, status_code=status)


class Server:
    """The loaded base model, its engine and its versions; one per process."""

    def __init__(self, config):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from training.base_models import serving_dtype_choose

        if not (Path(config.base_model) / "config.json").is_file():  # never let transformers try the Hub
            raise SystemExit(f"no base model in {config.base_model}: run `python manage.py bootstrap_base_model` "
                             "or set BASE_MODEL / --base-model")
        self.config = config
        self.started = time.monotonic()
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.dtype = serving_dtype_choose(config.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(config.base_model)
        model = AutoModelForCausalLM.from_pretrained(config.base_model, dtype=getattr(torch, self.dtype)).eval()
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        self.engine = Engine(model, self.tokenizer, max_batch=config.max_batch, batch_wait=config.batch_wait,
                             max_waiting=config.max_waiting).start()
        self.versions = Versions(self.engine, storage_dir=config.storage_dir, base_dir=config.base_model)

    def close(self) -> None:
        self.engine.stop()

    def health(self) -> dict:
        return {
            "status": "ok",
            "base_model": {"path": str(self.versions.base_dir), "fingerprint": self.versions.base_fingerprint,
                           "dtype": self.dtype},
            "loaded_versions": [v.describe() for v in self.versions.loaded.values()],
            "refused_versions": dict(self.versions.refused),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "queue_depth": self.engine.waiting + self.engine.running,
            "waiting": self.engine.waiting,
            "running": self.engine.running,
            "max_batch": self.engine.max_batch,
            "peak_running": self.engine.peak_running,
        }

    def prompt_ids(self, messages) -> list[int]:
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list", param="messages")
        clean = []
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                raise RequestError("each message needs a role: system, user or assistant", param="messages")
            content = m.get("content")
            if isinstance(content, list):  # content parts: text only
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            if not isinstance(content, str):
                raise RequestError("each message needs text content", param="messages")
            clean.append({"role": m["role"], "content": content})
        out = self.tokenizer.apply_chat_template(clean, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])


def _number(body: dict, name: str, default, low: float, high: float):
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RequestError(f"{name} must be a number between {low} and {high}", param=name)
    return value


async def _body(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def _authorised(request: Request) -> bool:
    key = request.app.state.server.config.api_key
    if not key:
        return True
    header = request.headers.get("authorization", "")
    return header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), key.encode())


def endpoint(handler):
    """Auth, then the handler; every failure in the OpenAI error shape."""

    async def wrapped(request: Request):
        if not _authorised(request):
            return error_response("Invalid API key", status=401, code="invalid_api_key", type_="authentication_error")
        try:
            return await handler(request, request.app.state.server)
        except RequestError as exc:
            return error_response(str(exc), status=exc.status, code=exc.code, param=exc.param, type_=exc.type)
        except VersionError as exc:
            kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
            return error_response(str(exc), status=exc.status, code=exc.code, type_=kind, param="model")

    return wrapped


async def chat_completions(request: Request, server: Server):
    body = await _body(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model is required: 'base' or a model version name", param="model")
    if body.get("n", 1) != 1:
        raise RequestError("only n=1 is supported", param="n")
    prompt = server.prompt_ids(body.get("messages"))
    room = server.context - len(prompt)
    if room < 1:
        raise RequestError(f"the conversation is {len(prompt)} tokens; this model's context is {server.context}",
                           code="context_length_exceeded", param="messages")
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = int(_number({"max_tokens": limit}, "max_tokens", server.config.max_tokens, 1, 1 << 30))
    temperature = float(_number(body, "temperature", 1.0, 0.0, 2.0))
    top_p = float(_number(body, "top_p", 1.0, 0.0, 1.0))
    await server.versions.ensure(model)

    loop, events = asyncio.get_running_loop(), asyncio.Queue()

    def emit(kind: str, payload) -> None:  # engine thread -> this request's event loop
        try:
            loop.call_soon_threadsafe(events.put_nowait, (kind, payload))
        except RuntimeError:  # the loop is closed: the server is going down
            pass

    job = GenerationRequest(
        prompt_ids=prompt, adapter=None if model == BASE_NAME else model,
        max_tokens=min(max_tokens, server.config.max_tokens, room), deadline=time.monotonic() + server.config.timeout,
        emit=emit, temperature=temperature, top_p=top_p, ignore_eos=body.get("ignore_eos") is True,
    )
    if not server.engine.submit(job):
        raise RequestError("the inference server is busy; retry shortly", status=503, code="server_overloaded",
                           type_="server_error")
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_stream(job, events, meta, include_usage), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return await _complete(request, job, events, meta)


def _usage(job: GenerationRequest) -> dict:
    return {"prompt_tokens": len(job.prompt_ids), "completion_tokens": len(job.generated),
            "total_tokens": len(job.prompt_ids) + len(job.generated)}


def _chunk(meta: dict, delta: dict, finish_reason: str | None = None) -> str:
    payload = {**meta, "object": "chat.completion.chunk", "system_fingerprint": None,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    return f"data: {json.dumps(payload)}\n\n"


def _error_event(message: str) -> str:
    return f"data: {json.dumps({'error': {'message': message, 'type': 'server_error', 'code': 'generation_failed'}})}\n\n"


async def _stream(job: GenerationRequest, events: asyncio.Queue, meta: dict, include_usage: bool):
    try:
        yield _chunk(meta, {"role": "assistant", "content": ""})
        while True:
            kind, payload = await events.get()
            if kind == "delta":
                yield _chunk(meta, {"content": payload})
                continue
            if kind == "done":
                yield _chunk(meta, {}, payload)
                if include_usage:
                    usage = {**meta, "object": "chat.completion.chunk", "system_fingerprint": None, "choices": [],
                             "usage": _usage(job)}
                    yield f"data: {json.dumps(usage)}\n\n"
            else:
                yield _error_event(payload)
            yield "data: [DONE]\n\n"
            return
    finally:  # the client went away (or we are done): the engine drops the row
        job.cancel()


async def _complete(request: Request, job: GenerationRequest, events: asyncio.Queue, meta: dict):
    text = []
    while True:
        try:
            kind, payload = await asyncio.wait_for(events.get(), timeout=0.5)
        except TimeoutError:
            if await request.is_disconnected():
                job.cancel()
                return error_response("client disconnected", status=499, code="client_closed_request")
            continue
        if kind == "delta":
            text.append(payload)
        elif kind == "error":
            return error_response(payload, status=500, code="generation_failed", type_="server_error")
        else:
            return JSONResponse({
                **meta, "object": "chat.completion", "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(text)},
                             "logprobs": None, "finish_reason": payload}],
                "usage": _usage(job),
            })


async def load_lora_adapter(request: Request, server: Server):
    body = await _body(request)
    name, path = body.get("lora_name"), body.get("lora_path")
    if not isinstance(name, str) or (path is not None and not isinstance(path, str)):
        raise RequestError("lora_name (and optionally lora_path) are required strings")
    version = await server.versions.load(name, path)
    return JSONResponse({"status": "loaded", "version": version.describe()})


async def unload_lora_adapter(request: Request, server: Server):
    body = await _body(request)
    name = body.get("lora_name")
    if not isinstance(name, str):
        raise RequestError("lora_name is required", param="lora_name")
    await server.versions.unload(name)
    return JSONResponse({"status": "unloaded", "name": name})


async def list_models(request: Request, server: Server):
    created = int(time.time() - (time.monotonic() - server.started))
    data = [{"id": BASE_NAME, "object": "model", "created": created, "owned_by": "therapist-ai",
             "root": str(server.versions.base_dir), "parent": None}]
    data += [{"id": v.name, "object": "model", "created": int(v.loaded_at), "owned_by": "therapist-ai",
              "root": str(v.path), "parent": BASE_NAME} for v in server.versions.loaded.values()]
    return JSONResponse({"object": "list", "data": data})


async def health(request: Request):
    return JSONResponse(request.app.state.server.health())


def create_app(config) -> Starlette:
    """Load the base model, start the engine and return the ASGI app (the engine stops at shutdown)."""
    server = Server(config)

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            server.close()

    app = Starlette(routes=[
        Route("/v1/chat/completions", endpoint(chat_completions), methods=["POST"]),
        Route("/v1/load_lora_adapter", endpoint(load_lora_adapter), methods=["POST"]),
        Route("/v1/unload_lora_adapter", endpoint(unload_lora_adapter), methods=["POST"]),
        Route("/v1/models", endpoint(list_models), methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.server = server
    return app

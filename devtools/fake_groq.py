"""A fake Groq upstream: a real HTTP server speaking ``/openai/v1/chat/completions``.

Used two ways:

* by the tests (``with FakeGroq() as fake:`` starts it on a free loopback port in a
  background thread; the real ``groq`` client is pointed at ``fake.base_url``), and
* as the development responder (``python -m devtools.fake_groq --port 8765``), which
  ``scripts/run.sh`` starts when there is no ``GROQ_API_KEY`` on a developer machine.

It answers JSON and server-sent-event requests in Groq's (OpenAI's) shape, with a final
usage block, and can be told to misbehave the ways the real service does: 429 with
``retry-after``, 500, hang (the client times out), drop the connection mid-stream,
401 for an invalid key. Every request it receives is recorded, so a test can assert that
the language model was (or was not) asked. No Django here: the CLI runs without settings.

Requests for the *guard* model (``guard_model``, a model name of its own, as the safety guard
sends) get the guard's answer instead: ``guard_reply`` (Llama Guard's ``safe`` /
``unsafe\nS11``, JSON, or garbage), after ``guard_delay`` seconds, or ``guard_fault``
("500", "hang", ...). They are listed in ``guard_requests``, never in ``chat_requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field, replace

CHAT_PATH = "/openai/v1/chat/completions"
FAULTS = ("", "429", "500", "hang", "drop", "401")


@dataclass(frozen=True)
class FakeGroqConfig:
    first_token_delay: float = 0.0  # seconds before the first token (or the JSON body)
    tokens_per_second: float = 0.0  # 0: as fast as the socket allows
    fault: str = ""  # one of FAULTS; "" behaves
    fault_times: int | None = None  # misbehave for this many requests, then behave (None: always)
    retry_after: float = 0.05  # seconds, sent with 429 (retry-after-ms and retry-after)
    drop_after_chunks: int = 3  # "drop": content chunks sent before the connection is cut
    hang_seconds: float = 60.0  # "hang": how long to sit on the request before closing
    reply: str | None = None  # fixed reply text (None: generated from the last user message)
    guard_model: str = "meta-llama/llama-guard-4-12b"  # requests for this model get the guard's answers
    guard_reply: str = "safe"
    guard_delay: float = 0.0  # seconds before the guard answers
    guard_fault: str = ""  # one of FAULTS, for guard requests only (always, while set)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict
    received_at: float = field(default_factory=time.time)

    @property
    def messages(self) -> list[dict]:
        return list(self.body.get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


# --- Reply text -------------------------------------------------------------------------

_THEMES: list[tuple[tuple[str, ...], str]] = [
    (("sleep", "tired", "insomnia", "awake"),
     "Poor sleep can make everything feel heavier. A steady wind-down routine, like dimming "
     "the lights and putting the phone away half an hour before bed, often helps a little."),
    (("work", "job", "boss", "deadline", "exam", "school"),
     "Pressure at work or school can pile up quickly. It may help to pick the one task that "
     "matters most today and let the rest wait until tomorrow."),
    (("anxious", "anxiety", "worried", "worry", "panic", "nervous"),
     "Anxiety can feel overwhelming in the moment. Slow breathing, in for four counts and out "
     "for six, tells your body that it is safe to settle."),
    (("sad", "down", "depressed", "empty", "cry"),
     "Feeling low is hard, and you do not have to push it away. Small things, like a short "
     "walk or a message to someone you trust, can make the next hour a bit easier."),
    (("lonely", "alone", "isolated", "friends"),
     "Loneliness hurts, and many people feel it more than they say. Reaching out to one "
     "person, even with a short message, is a good first step."),
    (("partner", "relationship", "family", "mother", "father", "argument"),
     "Relationships can bring up strong feelings. Naming what you need, calmly and in your "
     "own words, is often the start of a better conversation."),
]
_OPENINGS = (
    "Thank you for sharing that with me.",
    "I hear you, and I am glad you reached out.",
    "That sounds like a lot to carry.",
    "It makes sense that you feel this way.",
)
_GENERAL = (
    "One thing that can help is to notice what you are feeling without judging it, and to "
    "be as kind to yourself as you would be to a friend."
)
_CLOSINGS = (
    "What feels most important to you right now?",
    "Would you like to tell me a little more about it?",
    "What has helped you, even a little, in the past?",
)


def reply_for(text: str) -> str:
    """Supportive canned text chosen from the patient's last message (deterministic)."""
    lowered = text.lower()
    digest = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)
    middle = next((body for words, body in _THEMES if any(w in lowered for w in words)), _GENERAL)
    return " ".join(
        (_OPENINGS[digest % len(_OPENINGS)], middle, _CLOSINGS[(digest // 7) % len(_CLOSINGS)])
    )


def tokens_of(text: str) -> list[str]:
    """Word-sized pieces that concatenate back to ``text``."""
    return re.findall(r"\s*\S+", text) or [text]


def _count_tokens(messages: list[dict]) -> int:
    words = sum(len(str(m.get("content", "")).split()) for m in messages)
    return max(1, int(words * 1.3) + 4 * len(messages))


# --- HTTP -------------------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error"}


class _Responder:
    """Answers one request on one connection."""

    def __init__(self, server: FakeGroq, writer: asyncio.StreamWriter):
        self.server = server
        self.writer = writer

    async def head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()

    async def json(self, status: int, payload: dict, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        headers = {"content-type": "application/json", "content-length": str(len(body)),
                   "x-request-id": f"req_{uuid.uuid4().hex[:16]}", **(extra or {})}
        await self.head(status, headers)
        self.writer.write(body)
        await self.writer.drain()

    async def chunk(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.writer.drain()

    async def event(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.chunk(f"data: {text}\n\n".encode())


def _error(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, **({"code": code} if code else {})}}


class FakeGroq:
    """The fake upstream. ``with FakeGroq(tokens_per_second=50) as fake: ... fake.base_url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **config):
        self.host = host
        self.port = port
        self.config = FakeGroqConfig(**config)
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._faults_served = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- control (thread-safe) --
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def configure(self, **changes) -> None:
        """Change latency, token rate or fault for the following requests."""
        with self._lock:
            self.config = replace(self.config, **changes)
            self._faults_served = 0

    def reset(self, **config) -> None:
        """Back to defaults (plus ``config``) and forget received requests."""
        with self._lock:
            self.config = FakeGroqConfig(**config)
            self._requests.clear()
            self._faults_served = 0

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        """Requests for the chat model (not the guard's)."""
        guard = self.config.guard_model
        return [r for r in self.requests if r.path == CHAT_PATH and r.body.get("model") != guard]

    @property
    def guard_requests(self) -> list[ReceivedRequest]:
        guard = self.config.guard_model
        return [r for r in self.requests if r.path == CHAT_PATH and r.body.get("model") == guard]

    # -- lifecycle --
    def start(self) -> FakeGroq:
        self._thread = threading.Thread(target=self._run_thread, name="fake-groq", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeGroq:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run_thread(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.serve())
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def serve(self) -> None:
        """Start listening on the current event loop (the CLI calls this directly)."""
        self._server = await asyncio.start_server(self._connection, self.host, self.port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- HTTP handling --
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(self, reader, writer) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, path = line.decode("latin-1").split(" ")[:2]
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        respond = _Responder(self, writer)
        if path.split("?")[0] != CHAT_PATH or method != "POST":
            await respond.json(404, _error(f"Unknown path {path}", "invalid_request_error"))
            return True
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            await respond.json(400, _error("Request body is not JSON", "invalid_request_error"))
            return True
        with self._lock:
            self._requests.append(ReceivedRequest(method, path, headers, body))
            config = self.config
            if body.get("model") == config.guard_model:
                guarded = True
            else:
                guarded = False
                faulty = config.fault and (config.fault_times is None or self._faults_served < config.fault_times)
                if faulty:
                    self._faults_served += 1
        if guarded:
            return await self._guard(respond, body, config)
        return await self._answer(respond, body, config, config.fault if faulty else "")

    async def _guard(self, respond: _Responder, body: dict, config: FakeGroqConfig) -> bool:
        """The guard model: its configured answer (JSON, or one streamed chunk), late or faulty."""
        await asyncio.sleep(config.guard_delay)
        guard = replace(config, reply=config.guard_reply, first_token_delay=0.0, tokens_per_second=0.0)
        return await self._answer(respond, body, guard, config.guard_fault)

    async def _answer(self, respond: _Responder, body: dict, config: FakeGroqConfig, fault: str) -> bool:
        if fault == "401":
            await respond.json(401, _error("Invalid API Key", "invalid_request_error", "invalid_api_key"))
            return True
        if fault == "429":
            await respond.json(
                429,
                _error("Rate limit reached for model. Please try again later.", "tokens", "rate_limit_exceeded"),
                {"retry-after": str(max(1, round(config.retry_after))),
                 "retry-after-ms": str(int(config.retry_after * 1000))},
            )
            return True
        if fault == "500":
            await respond.json(500, _error("Internal server error", "internal_server_error"))
            return True
        if fault == "hang":
            await asyncio.sleep(config.hang_seconds)
            return False
        messages = body.get("messages") or []
        last_user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        text = config.reply if config.reply is not None else reply_for(str(last_user))
        model = body.get("model") or "llama-3.1-8b-instant"
        tokens = tokens_of(text)
        usage = {"prompt_tokens": _count_tokens(messages), "completion_tokens": len(tokens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            return await self._stream(respond, body, config, fault, model, tokens, usage)
        await asyncio.sleep(config.first_token_delay + (len(tokens) / config.tokens_per_second
                                                        if config.tokens_per_second else 0))
        await respond.json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": "fp_fakegroq",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "x_groq": {"id": f"req_{uuid.uuid4().hex[:16]}"},
        })
        return True

    async def _stream(self, respond, body, config, fault, model, tokens, usage) -> bool:
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model, "system_fingerprint": "fp_fakegroq"}

        def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}], **extra}

        await respond.head(200, {"content-type": "text/event-stream", "cache-control": "no-cache",
                                 "transfer-encoding": "chunked",
                                 "x-request-id": f"req_{uuid.uuid4().hex[:16]}"})
        await respond.event(chunk({"role": "assistant", "content": ""}))
        await asyncio.sleep(config.first_token_delay)
        gap = 1.0 / config.tokens_per_second if config.tokens_per_second else 0.0
        for index, token in enumerate(tokens):
            if fault == "drop" and index >= config.drop_after_chunks:
                respond.writer.transport.abort()  # cut mid-body: the client sees an incomplete read
                return False
            if index and gap:
                await asyncio.sleep(gap)
            await respond.event(chunk({"content": token}))
        x_groq = {"id": f"req_{uuid.uuid4().hex[:16]}", "usage": usage}
        await respond.event(chunk({}, "stop", x_groq=x_groq))
        if (body.get("stream_options") or {}).get("include_usage"):
            await respond.event({**base, "choices": [], "usage": usage})
        await respond.event("[DONE]")
        await respond.chunk(b"")
        return True


# --- CLI --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Development responder speaking Groq's chat API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ttft", type=float, default=0.25, help="seconds to the first token")
    parser.add_argument("--tps", type=float, default=60.0, help="tokens per second (0: unlimited)")
    parser.add_argument("--fault", choices=FAULTS, default="", help="misbehave on every request")
    parser.add_argument("--guard-delay", type=float, default=0.0, help="seconds before the guard model answers")
    parser.add_argument("--guard-reply", default="safe", help="the guard model's answer")
    args = parser.parse_args(argv)
    fake = FakeGroq(args.host, args.port, first_token_delay=args.ttft, tokens_per_second=args.tps,
                    fault=args.fault, guard_delay=args.guard_delay, guard_reply=args.guard_reply)

    async def run() -> None:
        await fake.serve()
        print(f"Development responder (fake Groq) listening on {fake.base_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await fake._shutdown()

    asyncio.run(run())


if __name__ == "__main__":
    main()

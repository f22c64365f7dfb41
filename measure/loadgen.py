"""An asynchronous load generator for any OpenAI-compatible endpoint (httpx, streamed responses).

Closed loop: at each concurrency level, that many workers each send requests back to back, so
exactly `concurrency` requests are in flight. Every request streams `/v1/completions` with a
fixed prompt and `max_tokens` (and `ignore_eos`, a vLLM extension, so every answer has that
length); the last chunk carries the server's `usage`. Per level: output tokens/s over the level's
wall time, TTFT and TPOT percentiles (TPOT = (latency - TTFT) / (output tokens - 1)).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx

from cost.catalog import strictload
from cost.errors import InputError

# ~ 4 characters a token for English text: a prompt of N tokens is about 4N characters.
_PROMPT_TEXT = ("Measure, then decide: observed usage and measured throughput from a running server "
                "tell more than any estimate made before it was deployed. ")


def prompt_of(tokens: int) -> str:
    """A plain-English prompt of about `tokens` tokens."""
    text = _PROMPT_TEXT * (1 + tokens * 4 // len(_PROMPT_TEXT))
    return text[: max(4, tokens * 4)]


@dataclass(frozen=True)
class RequestResult:
    ok: bool
    latency_s: float
    ttft_s: float
    prompt_tokens: int
    output_tokens: int
    error: str = ""

    @property
    def tpot_s(self) -> float | None:
        return (self.latency_s - self.ttft_s) / (self.output_tokens - 1) if self.output_tokens > 1 else None


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile q (0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass(frozen=True)
class Level:
    """One concurrency level of the sweep."""

    concurrency: int
    wall_s: float
    requests: int
    errors: int
    prompt_tokens: int
    output_tokens: int
    output_tok_s: float
    ttft_s: dict[str, float | None]
    tpot_s: dict[str, float | None]
    first_error: str = ""

    @property
    def avg_prompt_tokens(self) -> float:
        return self.prompt_tokens / self.requests if self.requests else 0.0

    @property
    def avg_output_tokens(self) -> float:
        return self.output_tokens / self.requests if self.requests else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"avg_prompt_tokens": self.avg_prompt_tokens, "avg_output_tokens": self.avg_output_tokens}


@dataclass
class Sweep:
    endpoint: str
    model: str
    prompt_tokens: int
    max_tokens: int
    levels: list[Level] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"endpoint": self.endpoint, "model": self.model, "prompt_tokens": self.prompt_tokens,
                "max_tokens": self.max_tokens, "levels": [lv.to_dict() for lv in self.levels]}


class NotAStream(ValueError):
    """An answer that is not an OpenAI completion stream; the message shows what came back."""


def _chunk(data: str, url: str) -> dict:
    """One `data:` payload of the stream: a JSON object with a `choices` list, else NotAStream."""
    try:
        chunk = strictload.json_text(data, url)
    except InputError as e:
        raise NotAStream(f"a stream chunk that is not JSON: {strictload.first_bytes(data)!r} ({e.detail or e.allowed})") from None
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list) or not all(isinstance(c, dict) and isinstance(c.get("delta") or {}, dict)
                                                for c in choices):
        raise NotAStream(f"a stream chunk without a choices list: {strictload.first_bytes(data)!r}")
    return chunk


def _tokens(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= strictload.MAX_MAGNITUDE:
        raise NotAStream(f"usage.{name} is {value!r}, not a whole number of tokens")
    return value


async def one_request(client: httpx.AsyncClient, url: str, body: dict) -> RequestResult:
    """Stream one completion; TTFT at the first chunk that carries text. An answer that is not a completion
    stream (an HTML page, garbage, JSON of another shape) is a failed request that shows its first bytes."""
    t0 = time.perf_counter()
    ttft = None
    usage = None
    first_line = None
    try:
        async with client.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                text = (await r.aread()).decode(errors="replace")
                return RequestResult(False, time.perf_counter() - t0, 0.0, 0, 0,
                                     f"HTTP {r.status_code}: {strictload.first_bytes(text, 200)!r}")
            async for line in r.aiter_lines():
                first_line = line if first_line is None else first_line
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = _chunk(data, url)
                if ttft is None and any(c.get("text") or (c.get("delta") or {}).get("content") for c in chunk["choices"]):
                    ttft = time.perf_counter() - t0
                if chunk.get("usage"):
                    usage = chunk["usage"]
        latency = time.perf_counter() - t0
        if usage is None:
            return RequestResult(False, latency, ttft or latency, 0, 0, "no usage in the stream "
                                 f"(stream_options.include_usage); it began {strictload.first_bytes(first_line or '')!r}")
        prompt, output = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
    except httpx.HTTPError as e:
        return RequestResult(False, time.perf_counter() - t0, 0.0, 0, 0, f"{type(e).__name__}: {e}")
    except NotAStream as e:
        return RequestResult(False, time.perf_counter() - t0, 0.0, 0, 0, f"not a completion stream: {e}")
    return RequestResult(True, latency, ttft if ttft is not None else latency, prompt, output)


async def run_level(client: httpx.AsyncClient, url: str, body: dict, concurrency: int, requests_per_worker: int,
                    on_done: Callable[[], None] | None = None) -> Level:
    """`concurrency` workers, each sending `requests_per_worker` requests back to back."""
    results: list[RequestResult] = []

    async def worker() -> None:
        for _ in range(requests_per_worker):
            results.append(await one_request(client, url, body))
            if on_done:
                on_done()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    ok = [r for r in results if r.ok]
    out = sum(r.output_tokens for r in ok)
    ttft = [r.ttft_s for r in ok]
    tpot = [t for r in ok if (t := r.tpot_s) is not None]
    pct = lambda xs: {"p50": percentile(xs, 50), "p90": percentile(xs, 90), "p99": percentile(xs, 99)}
    errors = [r for r in results if not r.ok]
    return Level(concurrency, wall, len(ok), len(errors), sum(r.prompt_tokens for r in ok), out, out / wall,
                 pct(ttft), pct(tpot), errors[0].error if errors else "")


def _progress_bar(total: int):
    """A rich progress bar when rich is installed and stderr is a terminal; else plain lines."""
    import sys

    try:
        from rich.progress import Progress
        has_rich = True
    except ImportError:
        has_rich = False
    if has_rich and sys.stderr.isatty():
        prog = Progress(transient=False)
        task = prog.add_task("calibrate", total=total)
        return prog, (lambda: prog.advance(task)), (lambda text: prog.update(task, description=text))
    state = {"n": 0}

    def advance() -> None:
        state["n"] += 1

    return None, advance, (lambda text: print(f"calibrate: {text} ({state['n']}/{total} requests)", file=sys.stderr))


async def sweep_async(endpoint: str, model: str, concurrencies: list[int], *, prompt_tokens: int = 128,
                      max_tokens: int = 64, requests_per_worker: int = 2, api_key: str | None = None,
                      timeout_s: float = 300.0, show_progress: bool = True) -> Sweep:
    """Run the sweep; each level's requests all finish before the next level starts."""
    if not endpoint.startswith(("http://", "https://")):
        raise InputError("endpoint", endpoint, "an http:// or https:// base URL of an OpenAI-compatible server")
    if not concurrencies or any(c < 1 for c in concurrencies):
        raise InputError("concurrency", concurrencies, "positive whole numbers, e.g. 1,2,4,8")
    url = endpoint.rstrip("/") + "/v1/completions"
    body = {"model": model, "prompt": prompt_of(prompt_tokens), "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    total = sum(c * requests_per_worker for c in concurrencies)
    prog, advance, describe = _progress_bar(total) if show_progress else (None, None, lambda text: None)
    result = Sweep(endpoint, model, prompt_tokens, max_tokens)
    limits = httpx.Limits(max_connections=max(concurrencies) + 4, max_keepalive_connections=max(concurrencies) + 4)
    if prog:
        prog.start()
    try:
        async with httpx.AsyncClient(timeout=timeout_s, headers=headers, limits=limits) as client:
            for c in concurrencies:
                describe(f"concurrency {c}")
                level = await run_level(client, url, body, c, requests_per_worker, advance)
                if level.requests == 0:
                    raise InputError("endpoint", endpoint, "a server that completes requests",
                                     f"every request at concurrency {c} failed: {level.first_error}")
                result.levels.append(level)
                describe(f"concurrency {c}: {level.output_tok_s:,.1f} output tok/s")
    finally:
        if prog:
            prog.stop()
    return result


def sweep(endpoint: str, model: str, concurrencies: list[int], **kwargs) -> Sweep:
    """Synchronous wrapper of `sweep_async`, on a private event loop: unlike asyncio.run it leaves the
    thread's current loop alone (the Pulumi SDK, in the same process for tests, relies on it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(sweep_async(endpoint, model, concurrencies, **kwargs))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

"""Observe a running vLLM over a window, then redo the economics with what was measured."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cost import catalog
from cost.errors import InputError
from cost.usage import Usage
from cost.workload import Workload
from measure import metrics as m

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str, key: str = "window") -> float:
    """Seconds in a duration such as 6s, 5m, 1h or 90 (seconds)."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise InputError(key, text, "a positive duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def seconds_per_month() -> float:
    return catalog.assumptions()["hours_per_month"] * 3600.0


@dataclass(frozen=True)
class Observation:
    """Token counts and load of a vLLM deployment over a window."""

    source: str
    window_s: float
    samples: int
    started_at: float
    input_tokens: float
    output_tokens: float
    requests: float
    running: dict[str, float]
    waiting: dict[str, float]
    kv_usage: dict[str, float]
    resets: tuple[dict, ...] = ()
    queries: tuple[str, ...] = field(default=())
    served_models: tuple[str, ...] = ()   # vLLM's model_name label on the token counters (its --served-model-name)

    @property
    def input_tokens_per_s(self) -> float:
        return self.input_tokens / self.window_s

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.window_s

    @property
    def tokens_per_month(self) -> float:
        return (self.input_tokens + self.output_tokens) / self.window_s * seconds_per_month()

    def request_size(self, fallback: Workload | None = None) -> tuple[int, int]:
        """Average (input, output) tokens per finished request; the fallback's when none finished."""
        if self.requests >= 1:
            return (max(1, round(self.input_tokens / self.requests)), max(1, round(self.output_tokens / self.requests)))
        f = fallback or Workload(0.0)
        return f.avg_input_tokens, f.avg_output_tokens

    def usage(self, model: str | None = None, fallback: Workload | None = None) -> Usage:
        avg_in, avg_out = self.request_size(fallback)
        when = dt.datetime.fromtimestamp(self.started_at + self.window_s, dt.UTC).isoformat(timespec="seconds")
        return Usage(self.tokens_per_month, avg_in, avg_out, round(self.window_s, 3),
                     f"breakeven observe: {self.source}, {self.samples} samples over {self.window_s:.1f} s", when,
                     model, self.requests)

    def to_dict(self) -> dict:
        return {"source": self.source, "window_s": self.window_s, "samples": self.samples,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "requests": self.requests,
                "input_tokens_per_s": self.input_tokens_per_s, "output_tokens_per_s": self.output_tokens_per_s,
                "tokens_per_month": self.tokens_per_month, "running": self.running, "waiting": self.waiting,
                "kv_cache_usage": self.kv_usage, "resets": list(self.resets),
                "served_models": list(self.served_models), **({"queries": list(self.queries)} if self.queries else {})}


def from_scrapes(scrapes: list[m.Scrape], source: str) -> Observation:
    """An observation from scrapes taken across the window (first and last bound it)."""
    if len(scrapes) < 2:
        raise InputError("samples", len(scrapes), "at least 2 scrapes across the window")
    m.require(scrapes, (m.PROMPT_TOKENS, m.GENERATION_TOKENS, m.REQUESTS, m.RUNNING, m.WAITING))
    kv = m.kv_metric(scrapes)
    window = scrapes[-1].at - scrapes[0].at
    if window <= 0:
        raise InputError("window", window, "a positive time between the first and last scrape")
    inc, resets = {}, []
    for metric in m.COUNTERS:
        inc[metric], r = m.increase(scrapes, metric)
        resets += r
    return Observation(
        source=source, window_s=window, samples=len(scrapes), started_at=scrapes[0].at,
        input_tokens=inc[m.PROMPT_TOKENS], output_tokens=inc[m.GENERATION_TOKENS], requests=inc[m.REQUESTS],
        running=m.gauge_stats(scrapes, m.RUNNING), waiting=m.gauge_stats(scrapes, m.WAITING),
        kv_usage=m.gauge_stats(scrapes, kv), resets=tuple(r.to_dict() for r in resets),
        served_models=tuple(sorted({v for s in scrapes for _, labels in s.values.get(m.PROMPT_TOKENS, {})
                                    for k, v in labels if k == "model_name"})),
    )


def watch(source: Any, window_s: float, samples: int, sleep: Callable[[float], None] = time.sleep,
          progress: Callable[[str], None] | None = None) -> Observation:
    """Scrape `samples` times evenly across `window_s` seconds (endpoints or pods)."""
    if samples < 2:
        raise InputError("samples", samples, "a whole number, at least 2 (the window's two ends)")
    scrapes = [source.scrape()]
    for i in range(1, samples):
        sleep(window_s / (samples - 1))
        scrapes.append(source.scrape())
        if progress:
            progress(f"scrape {i + 1}/{samples}")
    return from_scrapes(scrapes, source.describe())


def from_prometheus(source: Any, window_s: float, at: float | None = None) -> Observation:
    """An observation from a Prometheus server's view of the window ending `at` (now)."""
    end = time.time() if at is None else at
    w = source.window(m.COUNTERS, m.GAUGES, m.KV_USAGE, window_s, end)
    kv = next(k for k in m.KV_USAGE if k in w.gauges)
    resets = tuple({"metric": name, "series": f"{source.describe()} (resets() over the window)", "count": n}
                   for name, n in w.resets.items() if n)
    return Observation(
        source=source.describe(), window_s=window_s, samples=0, started_at=end - window_s,
        input_tokens=w.increases[m.PROMPT_TOKENS], output_tokens=w.increases[m.GENERATION_TOKENS],
        requests=w.increases[m.REQUESTS], running=w.gauges[m.RUNNING], waiting=w.gauges[m.WAITING],
        kv_usage=w.gauges[kv], resets=resets, queries=w.queries,
    )


def economics(obs: Observation, deployment: Any, declared: Workload | None, *, book: Any = None,
              factors: Any = None) -> dict:
    """Measured utilization and $/1M against the APIs, and the verdict on the measured workload next
    to the verdict on the declared one (when one was declared)."""
    from cost.decide.advice import advise
    from cost.estimate import estimate
    from cost.report_model import verdict_document

    measured = obs.usage(deployment.model, declared).workload(declared)
    est = advise(estimate(deployment, measured, book=book, factors=factors))
    full_tok_s = est.full_capacity_tokens_per_month / seconds_per_month()
    measured_tok_s = obs.input_tokens_per_s + obs.output_tokens_per_s
    served = obs.tokens_per_month
    before = advise(estimate(deployment, declared, book=book, factors=factors)) if declared is not None else None
    return {
        "deployment": {"model": deployment.model, "gpu": deployment.gpu, "gpus_per_replica": deployment.gpus_per_replica,
                       "replicas": deployment.replicas, "precision": deployment.precision, "pricing": deployment.pricing},
        "measured_workload": {"tokens_per_month": served, "avg_input_tokens": measured.avg_input_tokens,
                              "avg_output_tokens": measured.avg_output_tokens},
        "modelled_capacity_tokens_per_s": full_tok_s,
        "utilization": measured_tok_s / full_tok_s if full_tok_s else None,
        "monthly_usd": round(est.monthly_usd, 2),
        "measured_usd_per_mtok": round(est.monthly_usd / served * 1e6, 4) if served > 0 else None,
        "apis": [{"id": q.offer.id, "usd_per_mtok": round(q.usd_per_mtok, 4), "monthly_usd": round(q.monthly_usd, 2)}
                 for q in est.apis],
        "verdict": verdict_document(est.verdict),
        "declared_verdict": verdict_document(before.verdict) if before else None,
        "verdict_changes": (before.verdict.choice != est.verdict.choice) if before else None,
    }

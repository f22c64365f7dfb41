"""vLLM's Prometheus metrics: parse one scrape, and turn samples over a window into increases.

Counters are handled like Prometheus's `increase()`: per series, a value lower than the one
before is a counter reset (a restarted process), and the increase across it is the new value
(the counter restarted from zero). A series that first appears inside the window (a new pod)
counts from zero. Resets are reported, never turned into a negative or zeroed rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from cost.catalog.strictload import first_bytes
from cost.errors import InputError

PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
REQUESTS = "vllm:request_success_total"
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
# vLLM renamed the KV-cache gauge (V1, 2025); either spelling is read, the current one is named in errors
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
COUNTERS = (PROMPT_TOKENS, GENERATION_TOKENS, REQUESTS)
GAUGES = (RUNNING, WAITING)
READ = COUNTERS + GAUGES + KV_USAGE    # what breakeven computes with: each value finite and >= 0

Series = tuple[str, tuple[tuple[str, str], ...]]   # (source, sorted labels): one time series


@dataclass(frozen=True)
class Scrape:
    """One scrape of one or more targets: seconds since the epoch, and value per metric per series."""

    at: float
    values: dict[str, dict[Series, float]]


@dataclass(frozen=True)
class Reset:
    metric: str
    series: str
    at: float
    before: float
    after: float

    def to_dict(self) -> dict:
        return {"metric": self.metric, "series": self.series, "at": self.at, "before": self.before, "after": self.after}


def parse(text: str, source: str, key: str = "endpoint") -> dict[str, dict[Series, float]]:
    """Samples of one Prometheus text exposition, by sample name, keyed by (source, labels). Anything else (an
    HTML page, JSON, garbage), or a metric breakeven reads without a finite value, is an InputError naming `key`,
    the source and the first bytes of what it answered."""
    out: dict[str, dict[Series, float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.setdefault(s.name, {})[(source, tuple(sorted(s.labels.items())))] = float(s.value)
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise InputError(key, source, "a Prometheus text exposition (vLLM's /metrics)",
                         f"it answered {first_bytes(text)!r}: {e}") from None
    for name in READ:
        for series, value in out.get(name, {}).items():
            if not math.isfinite(value) or value < 0:
                raise InputError(key, source, f"a finite, non-negative {name}",
                                 f"{series_name(series)} is {value!r}")
    return out


def merge(parts: list[dict[str, dict[Series, float]]]) -> dict[str, dict[Series, float]]:
    """Samples of several targets scraped at (about) the same time, as one."""
    out: dict[str, dict[Series, float]] = {}
    for p in parts:
        for name, series in p.items():
            out.setdefault(name, {}).update(series)
    return out


def series_name(s: Series) -> str:
    source, labels = s
    return source + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def require(scrapes: list[Scrape], metrics: tuple[str, ...]) -> None:
    """InputError naming the first metric missing from any scrape."""
    for sc in scrapes:
        for m in metrics:
            if not sc.values.get(m):
                raise InputError("metric", m, "a vLLM /metrics endpoint that exposes it",
                                 f"not in the scrape at {sc.at:.0f}; is this a vLLM server (v0.6 or later)?")


def kv_metric(scrapes: list[Scrape]) -> str:
    """The KV-cache usage gauge these scrapes carry (current or older name)."""
    for name in KV_USAGE:
        if all(sc.values.get(name) for sc in scrapes):
            return name
    raise InputError("metric", KV_USAGE[0], "a vLLM /metrics endpoint that exposes it",
                     f"(or the older {KV_USAGE[1]}) missing from a scrape")


def increase(scrapes: list[Scrape], metric: str) -> tuple[float, list[Reset]]:
    """Total increase of a counter over the scrapes (summed over its series), and the resets seen."""
    total = 0.0
    resets: list[Reset] = []
    seen: dict[Series, float] = {}
    for i, sc in enumerate(scrapes):
        for s, v in sc.values.get(metric, {}).items():
            if s not in seen:
                if i > 0:          # a series born inside the window (new pod) counted from zero
                    total += v
            elif v < seen[s]:      # reset: the counter restarted from zero
                total += v
                resets.append(Reset(metric, series_name(s), sc.at, seen[s], v))
            else:
                total += v - seen[s]
            seen[s] = v
    return total, resets


def gauge_stats(scrapes: list[Scrape], metric: str) -> dict[str, float]:
    """Mean and max over the scrapes of a gauge summed over its series (KV usage: mean over series)."""
    per = []
    for sc in scrapes:
        vals = list(sc.values.get(metric, {}).values())
        per.append((sum(vals) / len(vals)) if metric in KV_USAGE and vals else sum(vals))
    return {"mean": sum(per) / len(per), "max": max(per)} if per else {"mean": 0.0, "max": 0.0}

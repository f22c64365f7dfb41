"""Sizing from the capacity model: one replica's operating point within the latency targets, the targets it
misses, the tokens it serves in a month, and the replicas that carry a workload.

Physics, below pricing: everything here follows from `cost.physics.capacity` and the workload alone (no price),
so the pricing modules (`cost.pricing.hosting` sizes the hosting offers) and `cost.estimate` both take it from here.
"""

from __future__ import annotations

import math
from dataclasses import replace

from cost import catalog
from cost.deployment import Deployment
from cost.physics import capacity
from cost.physics.factors import Factors
from cost.workload import Workload

SECONDS_PER_HOUR = 3600


def serving_point(model: catalog.Model, gpu: catalog.Gpu, d: Deployment, w: Workload,
                  factors: Factors | None = None) -> capacity.Throughput:
    """One replica's operating point: as many requests in flight as the KV cache, max_num_seqs and the
    TPOT target allow, and fewer when the TTFT target needs it (the largest concurrency meeting it)."""
    def at(concurrency: int | None) -> capacity.Throughput:
        return capacity.throughput(model, gpu, d.gpus_per_replica, d.precision, w.avg_input_tokens, w.avg_output_tokens,
                                   concurrency=concurrency, tpot_target_s=w.tpot_target_s,
                                   gpu_memory_utilization=d.gpu_memory_utilization, max_num_seqs=d.max_num_seqs,
                                   factors=factors, kv_cache_dtype=d.kv_cache_dtype, expert_parallel=d.expert_parallel,
                                   prefix_cache_hit_rate=w.prefix_cache_hit_rate, api_servers=d.api_servers)

    t = at(d.concurrency)
    target = w.ttft_target_s
    if target is None or t.ttft_s <= target or t.concurrency <= 1:
        return t
    one = at(1)
    if one.ttft_s > target:
        return one                               # unmet at any concurrency; target_misses says so
    lo, hi = 1, t.concurrency                    # at(lo) meets the TTFT target, at(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid).ttft_s <= target:
            lo = mid
        else:
            hi = mid
    return replace(at(lo), limited_by="ttft-target")


def target_misses(t: capacity.Throughput, w: Workload) -> list[str]:
    """The latency targets a replica misses at its operating point, with the numbers."""
    out = []
    if w.tpot_target_s is not None and t.tpot_s > w.tpot_target_s * (1 + 1e-9):
        out.append(f"TPOT {t.tpot_s * 1000:.1f} ms at {t.concurrency} request(s) in flight against a target of "
                   f"{w.tpot_target_s * 1000:g} ms")
    if w.ttft_target_s is not None and t.ttft_s > w.ttft_target_s * (1 + 1e-9):
        out.append(f"TTFT {t.ttft_s * 1000:.0f} ms at {t.concurrency} request(s) in flight against a target of "
                   f"{w.ttft_target_s * 1000:g} ms")
    return out


def replica_tokens_per_month(t: capacity.Throughput, w: Workload) -> float:
    """Input + output tokens one replica serves in a month at 100 % utilization."""
    return t.output_tok_s * w.tokens_per_request / w.avg_output_tokens * SECONDS_PER_HOUR * catalog.assumptions()["hours_per_month"]


def replicas_needed(t: capacity.Throughput, w: Workload) -> int:
    """Serving replicas that carry the declared volume at the planned utilization (at least 1)."""
    per_replica = replica_tokens_per_month(t, w) * w.utilization
    return max(1, math.ceil(w.tokens_per_month / per_replica * (1 - 1e-12))) if per_replica > 0 else 1


def sized(d: Deployment, w: Workload, factors: Factors | None = None) -> Deployment:
    """The deployment with replicas "auto" (None) resolved: as many as carry the workload (see `replicas_needed`).
    A deployment with replicas given, or with its capacity given instead of modelled, is returned unchanged
    (the latter with one replica when auto)."""
    if d.replicas is not None:
        return d
    if d.capacity_tokens_per_month is not None:
        return replace(d, replicas=1)
    t = serving_point(catalog.model(d.model), catalog.gpu(d.gpu), d, w, factors)
    return replace(d, replicas=replicas_needed(t, w))

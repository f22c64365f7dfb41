"""Search the catalog for the cheapest configuration that serves a workload.

Pure pricing: every AWS instance x tensor-parallel size that fits the model, meets the latency
targets and carries the volume at the planned utilization, priced by GPU hours. The policy pack
uses it to say what a cheaper stack would look like; a closed-form capacity model keeps the
search to a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cost import capacity, catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.nodes import plan_nodes
from cost.workload import Workload

HOURS = catalog.assumptions()["hours_per_month"]


@dataclass(frozen=True)
class Alternative:
    """A catalog configuration that serves a workload, with its GPU bill and latencies."""

    deployment: Deployment
    gpu_monthly_usd: float
    ttft_s: float
    tpot_s: float

    def describe(self) -> str:
        d = self.deployment
        return (f"{d.replicas}+{d.redundancy} replica(s) x {d.gpus_per_replica}x {d.gpu} on {d.instance_type} "
                f"({d.pricing}, {d.precision})")


def gpu_monthly_usd(d: Deployment, book=None) -> float:
    """GPU hours only (serving + failover units), the part of the bill the configuration decides."""
    p = plan_nodes(d, book)
    return p.units * p.unit_usd_hr * HOURS


def cheapest_alternative(d: Deployment, w: Workload, book=None, context_tokens: int | None = None) -> Alternative | None:
    """The cheapest AWS configuration that fits the model at the same context and precision, meets the
    declared TTFT / TPOT targets and serves the declared volume at the planned utilization, keeping the
    same capacity type and redundancy. None when no catalog configuration does."""
    model = catalog.model(d.model)
    ctx = context_tokens or max(d.max_model_len or 0, w.tokens_per_request)
    per_replica_factor = w.tokens_per_request / w.avg_output_tokens * 3600 * HOURS * w.utilization
    best: Alternative | None = None
    for inst in catalog.instances().values():
        gpu = catalog.gpu(inst.gpu)
        for tp in capacity.TP_SIZES:
            if tp > inst.gpus or model.attention_heads % tp:
                continue
            try:
                if not capacity.memory_fit(model, gpu, tp, d.precision, ctx, d.gpu_memory_utilization).fits:
                    continue
                t = capacity.throughput(model, gpu, tp, d.precision, w.avg_input_tokens, w.avg_output_tokens,
                                        tpot_target_s=w.tpot_target_s, gpu_memory_utilization=d.gpu_memory_utilization,
                                        max_num_seqs=d.max_num_seqs)
            except InputError:
                continue
            if w.ttft_target_s is not None and t.ttft_s > w.ttft_target_s:
                continue
            if w.tpot_target_s is not None and t.tpot_s > w.tpot_target_s:
                continue
            per_replica = t.output_tok_s * per_replica_factor
            replicas = max(1, math.ceil(w.tokens_per_month / per_replica)) if per_replica > 0 else None
            if replicas is None:
                continue
            hourly = d.hourly_usd_per_gpu if (d.hourly_usd_per_gpu is not None and inst.gpu == d.gpu) else None
            try:
                cand = Deployment.build(model=d.model, gpu=inst.gpu, instance_type=inst.type, gpus_per_replica=tp,
                                        replicas=replicas, redundancy=d.redundancy, precision=d.precision, pricing=d.pricing,
                                        hourly_usd_per_gpu=hourly, gpu_memory_utilization=d.gpu_memory_utilization,
                                        max_num_seqs=d.max_num_seqs, max_model_len=d.max_model_len, name=d.name)
                usd = gpu_monthly_usd(cand, book)
            except InputError:
                continue  # e.g. no spot price for this instance in the catalog
            if best is None or usd < best.gpu_monthly_usd - 1e-9:
                best = Alternative(cand, usd, t.ttft_s, t.tpot_s)
    return best

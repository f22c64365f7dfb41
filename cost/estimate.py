"""Price one self-hosted deployment against the same workload on every equivalent API."""

from __future__ import annotations

from dataclasses import dataclass

from cost import api_prices, capacity, catalog
from cost.api_prices import ApiQuote, PriceBook
from cost.deployment import Deployment
from cost.factors import Factors
from cost.nodes import NodePlan, plan_nodes
from cost.tco import LineItem, Overheads, deployment_items, stack_items
from cost.verdict import Breakeven, Verdict, breakeven, decide
from cost.workload import Workload, require_within_context

__all__ = ["Estimate", "Overheads", "estimate", "plan_nodes", "NodePlan"]

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class Estimate:
    deployment: Deployment
    workload: Workload
    plan: NodePlan
    line_items: tuple[LineItem, ...]
    fit: capacity.MemoryFit
    throughput: capacity.Throughput | None  # None when the capacity was given, not modelled
    capacity_tokens_per_month: float        # at the planned utilization, serving replicas only
    apis: tuple[ApiQuote, ...]
    breakeven: tuple[Breakeven, ...]
    verdict: Verdict

    @property
    def monthly_usd(self) -> float:
        return sum(i.monthly_usd for i in self.line_items)

    @property
    def full_capacity_tokens_per_month(self) -> float:
        return self.capacity_tokens_per_month / self.workload.utilization

    @property
    def usd_per_mtok(self) -> float:
        """Effective price of the capacity bought: monthly cost / tokens at the planned utilization."""
        return self.monthly_usd / self.capacity_tokens_per_month * 1e6

    @property
    def usd_per_mtok_at_workload(self) -> float:
        """Price per 1M tokens of the declared workload (the volume actually served)."""
        served = min(self.workload.tokens_per_month, self.full_capacity_tokens_per_month)
        return self.monthly_usd / served * 1e6 if served else float("inf")

    def to_dict(self) -> dict:
        d, w, t = self.deployment, self.workload, self.throughput
        return {
            "deployment": {
                "name": d.name, "model": d.model, "gpu": d.gpu, "gpus_per_replica": d.gpus_per_replica,
                "replicas": d.replicas, "redundancy": d.redundancy, "precision": d.precision, "pricing": d.pricing,
                "instance_type": self.plan.instance_type, "billing": self.plan.billing, "nodes": self.plan.nodes,
                "gpus": self.plan.gpus,
            },
            "workload": {
                "tokens_per_month": w.tokens_per_month, "input_share": round(w.input_share, 4),
                "avg_input_tokens": w.avg_input_tokens, "avg_output_tokens": w.avg_output_tokens,
                "utilization": w.utilization, "requests_per_month": round(w.requests_per_month, 1),
            },
            "self_hosted": {
                "monthly_usd": round(self.monthly_usd, 2),
                "line_items": [i.to_dict() for i in self.line_items],
                "capacity_tokens_per_month": round(self.capacity_tokens_per_month),
                "capacity_source": "model" if t else "given (capacity_tokens_per_month)",
                "usd_per_mtok": round(self.usd_per_mtok, 4),
                "usd_per_mtok_at_workload": round(self.usd_per_mtok_at_workload, 4),
                "output_tok_s": None if t is None else round(t.output_tok_s * d.replicas, 1),
                "output_tok_s_per_replica": None if t is None else round(t.output_tok_s, 1),
                "max_concurrency": self.fit_concurrency,
                "concurrency": None if t is None else t.concurrency,
                "ttft_s": None if t is None else round(t.ttft_s, 4),
                "tpot_s": None if t is None else round(t.tpot_s, 4),
                "limited_by": None if t is None else t.limited_by,
                "memory": {
                    "weights_gb": round(self.fit.weights_gb, 2), "usable_gb": round(self.fit.usable_gb, 2),
                    "kv_bytes_per_token": self.fit.kv_bytes_per_token,
                    "kv_capacity_tokens": self.fit.kv_capacity_tokens,
                },
            },
            "apis": [
                {"id": q.offer.id, "label": q.offer.label, "tier": q.offer.tier, "monthly_usd": round(q.monthly_usd, 2),
                 "usd_per_mtok": round(q.usd_per_mtok, 4), "request_usd": round(q.request_usd, 8), "source": q.offer.source}
                for q in self.apis
            ],
            "breakeven": [b.to_dict() for b in self.breakeven],
            "verdict": self.verdict.to_dict(),
        }

    @property
    def fit_concurrency(self) -> int:
        if self.throughput is not None:
            return self.throughput.max_concurrency
        return self.fit.kv_capacity_tokens // max(1, self.workload.tokens_per_request)


def estimate(
    deployment: Deployment,
    workload: Workload,
    *,
    book: PriceBook | None = None,
    overheads: Overheads = Overheads(),
    stack_share: float = 1.0,
    factors: Factors | None = None,
) -> Estimate:
    """Price a deployment for a workload.

    stack_share: the part of the per-stack overheads (staff, monitoring) this deployment carries;
    a fleet splits them between its models, a single estimate carries them whole.
    factors: the capacity model's efficiency factors; None = the published fit.
    """
    d, w = deployment, workload
    model, gpu = catalog.model(d.model), catalog.gpu(d.gpu)
    require_within_context(w, model.id, model.context, d.max_model_len)
    context = max(d.max_model_len or 0, w.tokens_per_request)
    fit = capacity.require_fit(model, gpu, d.gpus_per_replica, d.precision, context, d.gpu_memory_utilization,
                               key="gpus_per_replica")
    plan = plan_nodes(d, book)
    items = deployment_items(plan, overheads)
    for item in stack_items(overheads):
        items.append(LineItem(item.name, item.quantity * stack_share, item.unit, item.unit_usd,
                              item.source if stack_share == 1 else f"{stack_share:.0%} share of the stack; {item.source}"))
    monthly = sum(i.monthly_usd for i in items)

    if d.capacity_tokens_per_month is not None:
        tput = None
        cap = d.capacity_tokens_per_month
    else:
        tput = capacity.throughput(model, gpu, d.gpus_per_replica, d.precision, w.avg_input_tokens, w.avg_output_tokens,
                                   concurrency=d.concurrency, tpot_target_s=w.tpot_target_s,
                                   gpu_memory_utilization=d.gpu_memory_utilization, max_num_seqs=d.max_num_seqs,
                                   factors=factors)
        tokens_per_s = tput.output_tok_s * w.tokens_per_request / w.avg_output_tokens * d.replicas
        cap = tokens_per_s * SECONDS_PER_HOUR * catalog.assumptions()["hours_per_month"] * w.utilization
    full = cap / w.utilization

    quotes = api_prices.quotes_for(d.model, w, book, include_custom_hosting=d.exemptions.fine_tuned)
    bes = tuple(breakeven(monthly, full, q.offer.id, q.usd_per_mtok) for q in quotes)
    comparable = [q for q in quotes if q.offer.tier == "equivalent"] or [q for q in quotes if q.offer.tier == "quality"]
    verdict = decide(
        self_monthly_usd=monthly, capacity_tokens=cap, full_capacity_tokens=full, tokens_per_month=w.tokens_per_month,
        equivalent=[(q.offer.id, q.monthly_usd, q.usd_per_mtok) for q in comparable],
        exemptions=d.exemptions.claimed(w.ttft_target_s),
    )
    return Estimate(d, w, plan, tuple(items), fit, tput, cap, tuple(quotes), bes, verdict)

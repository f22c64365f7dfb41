"""One deployment's weights path, as `breakeven estimate --weights-source` shows it: where each GPU node keeps the
weights (cost/physics/weights_cache.py) and where a replaced node gets them (cost/physics/weights_source.py).

Priced with the functions the Pulumi program's platform bill uses (infra/pricing.py), for the program's default
GPU AMI (AL2023, whose nodes prepare the cache directory), so `estimate` and the preview agree line for line.
These are platform costs: like the rest of the platform bill (EKS, NAT, system nodes), they are not in the
deployment's monthly total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cost.physics import weights_source as ws
from cost.physics.weights_cache import WeightsCache, node_cache_gib, plan_cache
from cost.pricing.tco import LineItem

DEFAULT_AMI_TYPE = "AL2023_x86_64_NVIDIA"   # the program's default breakeven:cluster.gpuAmiType


@dataclass(frozen=True)
class WeightsPath:
    name: str
    source: str                     # huggingface | s3 (weights_source.SOURCES)
    weights_bytes: int
    weights_gib: int                # rounded up, as the cache, the disk and the startup window use it
    nodes: int
    cache: WeightsCache
    line_items: tuple[LineItem, ...]
    seed_usd: float                 # one-time: filling the S3 copy (0 for huggingface)
    seed_source: str
    startup_window_s: int           # a pod on a replaced node: fetch, load, warm up (the chart's startup window)

    @property
    def seconds_per_gib(self) -> int:
        return ws.seconds_per_gib(self.source)

    @property
    def monthly_usd(self) -> float:
        return sum(i.monthly_usd for i in self.line_items)

    def to_dict(self) -> dict:
        return {"source": self.source, "weights_bytes": self.weights_bytes, "weights_gib": self.weights_gib,
                "nodes": self.nodes, "cache": self.cache.to_dict(),
                "seconds_per_gib": self.seconds_per_gib, "startup_window_s": self.startup_window_s,
                "monthly_usd": round(self.monthly_usd, 2), "line_items": [i.to_dict() for i in self.line_items],
                "seed_usd": round(self.seed_usd, 2), "seed_source": self.seed_source,
                "in_monthly_total": False}


def hub_line(name: str, gb_per_node: float, nodes: int) -> LineItem:
    """The weights' share of the platform bill's NAT data line: every node start downloads them again."""
    from cost.pricing.platform import prices as platform_prices

    nat = platform_prices()["nat_gateway"]
    return LineItem(f"NAT data processed, {name} weights (node starts)", nodes * ws.restarts_per_month() * gb_per_node,
                    "GB", nat["usd_per_gb_processed"],
                    f"{nodes} node(s) x {ws.restarts_per_month():g} starts/month x {gb_per_node:,.1f} GB; {nat['source']}")


def plan(name: str, weights_bytes: int, instance_type: str, replicas_per_instance: int, nodes: int, source: str,
         ami_type: str = DEFAULT_AMI_TYPE) -> WeightsPath:
    """The weights path of `nodes` GPU nodes of `instance_type`, each carrying `replicas_per_instance` replicas of a
    `weights_bytes` checkpoint, whose replaced nodes get the weights from `source`."""
    gib = math.ceil(weights_bytes / 2**30)
    cache = plan_cache(instance_type, ami_type, node_cache_gib(gib, replicas_per_instance))
    if source == "s3":
        items = ws.s3_bill([(name, weights_bytes, nodes)])
        seed, seed_src = ws.seed_usd(weights_bytes)
    else:
        items = [hub_line(name, ws.hub_gb_per_node(gib, replicas_per_instance), nodes)]
        seed, seed_src = 0.0, "no copy: each node start downloads from the Hugging Face Hub"
    return WeightsPath(name, source, weights_bytes, gib, nodes, cache, tuple(items), seed, seed_src,
                       ws.cold_start_s(source, gib))

"""Where a replaced GPU node gets the model weights from, and what that path costs and takes.

A restarted pod on the same node reuses the node-local cache (cost/physics/weights_cache.py). A *replaced* node
(upgrade, repair, spot reclaim) starts empty. Two paths are built (`models[].weights.source`):

- `huggingface`: vLLM downloads the checkpoint from the Hugging Face Hub through the NAT gateways: NAT data
  processed per node start, startup window at DOWNLOAD_S_PER_GIB (cost/physics/weights_cache.py).
- `s3`: a regional S3 copy of the checkpoint, streamed into GPU memory by vLLM's Run:ai streamer
  (`--load-format runai_streamer`, model path `s3://bucket/prefix`), through a free S3 gateway endpoint
  (no NAT), read-only on that prefix (IRSA). A one-time seed Job fills the prefix (infra/components/weights_s3.py).

The default is the cheaper of the two for the stack (`choose`); where the program does not own the VPC
and the cluster's OIDC provider (an existing cluster) only `huggingface` is built.

Alternatives, priced with cost/data/weights-source.yaml (us-east-1, checked 2026-12-06); example: Llama 3.1
70B bf16 (141.1 GB), 4 GPU nodes in 2 zones, 2 node replacements per node a month (cost/data/platform.yaml):

| path                                  | monthly                                 | example    | replaced node reads at     |
|---------------------------------------|-----------------------------------------|------------|----------------------------|
| re-download from HF through NAT       | nodes x restarts x GB x $0.045          | $50.80     | 15 s/GiB (stated, ~68 MiB/s)|
| S3 + gateway endpoint + Run:ai stream | GB x $0.023 + GETs ($0.0004/1k)         | $3.30      | 2 s/GiB (derived below)    |
| EBS snapshot + Fast Snapshot Restore  | $0.75 per AZ-hour x 730 x zones + GB x $0.05 | $1,102.06 | volume initialised at creation |
| FSx for Lustre Persistent-2 (1.2 TiB) | 1,288 GB x $0.145 (one AZ only)          | $186.83    | 125 MB/s per TiB           |

Snapshot restore and FSx cost more than the S3 copy by two orders of magnitude, and FSx lives in one zone
(a zone outage takes the weights of every zone with it); neither is built.

The S3 throughput is a planning figure, not a measurement: the streamer's `concurrency` S3 connections at
AWS's lower bound of 85 MB/s each, of which half is planned for (the startup probe must not fire early).
"""

from __future__ import annotations

import math
from functools import cache

from cost import catalog
from cost.physics.weights_cache import DOWNLOAD_S_PER_GIB, STARTUP_BASE_S
from cost.pricing.tco import LineItem

HOURS = 730.0
SOURCES = ("huggingface", "s3")


@cache
def prices() -> dict:
    return catalog._load("weights-source.yaml")


def _checked(item: dict) -> str:
    return f"{' '.join(str(item['source']).split())} (checked {prices()['checked']})"


def restarts_per_month() -> float:
    """Node replacements a month each GPU node makes (cost/data/platform.yaml, assumed)."""
    from cost.pricing.platform import prices as platform_prices

    return float(platform_prices()["assumed"]["node_restarts_per_month"])


def s3_seconds_per_gib() -> int:
    """Planning seconds per GiB streamed from S3: concurrency x MB/s per connection x planning share."""
    s = prices()["streamer"]
    bytes_s = s["concurrency"] * s["mb_s_per_connection"] * 1e6 * s["planning_share"]
    return math.ceil(2**30 / bytes_s)


def seconds_per_gib(source: str) -> int:
    """The startup window's seconds per GiB of weights for the path a replaced node takes."""
    return s3_seconds_per_gib() if source == "s3" else DOWNLOAD_S_PER_GIB


def cold_start_s(source: str, weights_gib: int) -> int:
    """A pod on a replaced node: fetch the weights by `source`, load them, warm up (the chart's window)."""
    return STARTUP_BASE_S + math.ceil(seconds_per_gib(source) * weights_gib)


def streamer_concurrency() -> int:
    return int(prices()["streamer"]["concurrency"])


def hub_gb_per_node(weights_gib: int, replicas_per_instance: int) -> float:
    """GB (1e9) a node start downloads from the Hub through NAT: each replica's pod fetches its weights."""
    return replicas_per_instance * weights_gib * 2**30 / 1e9


def nat_redownload_usd(weights_bytes: float, nodes: int) -> float:
    """Monthly NAT data processed when every node start downloads the weights from Hugging Face."""
    from cost.pricing.platform import prices as platform_prices

    return nodes * restarts_per_month() * weights_bytes / 1e9 * platform_prices()["nat_gateway"]["usd_per_gb_processed"]


def s3_lines(name: str, weights_bytes: float, nodes: int) -> list[LineItem]:
    """Monthly line items of one model's S3 copy: storage, the ranged GETs of its nodes' starts, the endpoint."""
    p = prices()
    gb = weights_bytes / 1e9
    chunks = math.ceil(weights_bytes / (p["streamer"]["chunk_mib"] * 2**20))
    gets = nodes * restarts_per_month() * chunks
    return [
        LineItem(f"S3 weights copy, {name} (Standard)", gb, "GB-month", p["s3_standard"]["usd_per_gb_month"],
                 f"{weights_bytes:,.0f} bytes (cost/data/checkpoints.yaml); {_checked(p['s3_standard'])}"),
        LineItem(f"S3 GET requests, {name} (node starts)", gets / 1000, "1k requests", p["s3_requests"]["usd_per_1000_get"],
                 f"{nodes} node(s) x {restarts_per_month():g} starts/month x {chunks:,} ranged GETs of "
                 f"{p['streamer']['chunk_mib']} MiB (assumed); {_checked(p['s3_requests'])}"),
    ]


def s3_bill(copies: list[tuple[str, float, int]]) -> list[LineItem]:
    """The S3 path's monthly line items for (model name, checkpoint bytes, nodes) copies: each copy's storage and
    GETs, then the one gateway endpoint they share. The program's platform bill and `breakeven estimate` both
    price it here."""
    if not copies:
        return []
    return [*(item for name, weights_bytes, nodes in copies for item in s3_lines(name, weights_bytes, nodes)),
            endpoint_line()]


def endpoint_line() -> LineItem:
    """The S3 gateway endpoint: free, stated so the bill shows why no NAT data is priced for the weights."""
    g = prices()["gateway_endpoint"]
    return LineItem("S3 gateway VPC endpoint", HOURS, "endpoint-hours", g["usd_hr"], _checked(g))


def seed_usd(weights_bytes: float) -> tuple[float, str]:
    """One-time cost of filling the S3 copy: the Hub download through NAT and the multipart PUTs."""
    from cost.pricing.platform import prices as platform_prices

    p, nat = prices(), platform_prices()["nat_gateway"]
    puts = math.ceil(weights_bytes / (p["seed"]["multipart_chunk_mib"] * 2**20))
    usd = weights_bytes / 1e9 * nat["usd_per_gb_processed"] + puts / 1000 * p["s3_requests"]["usd_per_1000_put"]
    return usd, (f"{weights_bytes / 1e9:,.1f} GB x ${nat['usd_per_gb_processed']} NAT + {puts:,} PUTs x "
                 f"${p['s3_requests']['usd_per_1000_put']}/1k; {nat['source']}; {_checked(p['s3_requests'])}")


def s3_monthly_usd(weights_bytes: float, nodes: int) -> float:
    return sum(i.monthly_usd for i in s3_lines("", weights_bytes, nodes))


def choose(weights_bytes: float, nodes: int, program_owns_cluster: bool) -> str:
    """The default path: s3 where the program can build it and it costs less than re-downloading through NAT."""
    if program_owns_cluster and s3_monthly_usd(weights_bytes, nodes) < nat_redownload_usd(weights_bytes, nodes):
        return "s3"
    return "huggingface"

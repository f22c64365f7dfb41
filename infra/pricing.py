"""Price a placed stack with `cost`: the one function the program, the preview and the tests share.

Each model's placement (infra/placement.py: its sized deployment) is turned into one `cost.economics.Economics`
value (the stack-config codec); the same values go on the workloads and node groups the program creates, and the
policy pack prices them with the same `cost.economics.price`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cost import economics as econ
from cost.errors import InputError
from cost.pricing.fleet import Fleet, Tier
from infra.config.spec import P, StackSpec, price_book
from infra.placement import ModelPlacement, Placement, weights_on_instance_store

if TYPE_CHECKING:
    import datetime as dt

    from cost.pricing.api_prices import PriceBook
    from cost.pricing.platform import RootVolume
    from cost.pricing.tco import LineItem


def stack_economics(spec: StackSpec) -> econ.StackEconomics:
    p = spec.pricing
    routing = None
    if spec.routing is not None:
        routing = econ.Routing(spec.routing.workload,
                               tuple(Tier(t.name, t.share, deployment=t.model, api=t.api) for t in spec.routing.tiers))
    return econ.StackEconomics(spec.stack, spec.production, p.price_book, p.overheads, p.budget_usd_per_month, routing)


def economics(spec: StackSpec, p: ModelPlacement) -> econ.Economics:
    """One model's economics value: what its workload annotation and node-group tags carry (its sized replicas)."""
    return econ.Economics(p.deployment, p.model.workload, stack_economics(spec))


def price(placement: Placement, book: PriceBook | None = None) -> Fleet:
    """The fleet cost of the placed spec: every model's sized deployment and workload, and the routing tiers.
    `book`: the price book the spec names, when the caller has read it already."""
    spec = placement.spec
    if book is None:
        book = price_book(spec)
    try:
        return econ.price([economics(spec, p) for p in placement.models], book)
    except InputError as e:
        raise (e if e.key.startswith(P) else e.under(P)) from None


def gpu_root_volume(spec: StackSpec, p: ModelPlacement) -> RootVolume:
    """The gp3 root volume of one of the model's GPU nodes: the spec's disk size, with throughput and
    IOPS to write the weights of the replicas packed on the node (cost/pricing/platform.py), unless the node keeps
    them on its NVMe instance store (infra/components/weights.py)."""
    from cost.pricing.platform import root_volume

    on_nvme = spec.cluster.existing is None and weights_on_instance_store(p, spec.cluster.gpu_ami_type)
    written = 0 if on_nvme else p.plan.replicas_per_instance * p.model.weights_gib * 2**30   # weights on NVMe: none on gp3
    return root_volume(p.disk_gib(spec.pricing.overheads), written)


def platform_bill(placement: Placement, on: dt.date | None = None) -> list[LineItem]:
    """Line items of everything the program creates besides the GPU nodes (empty for an existing cluster), at the
    prices in force `on` (None: today)."""
    from cost.physics.weights_source import hub_gb_per_node
    from cost.pricing.platform import GpuPool, Platform, bill
    from infra.config.spec import today

    spec = placement.spec
    c = spec.cluster
    if c.existing is not None:
        return []
    # A model streamed from S3 (cost/physics/weights_source.py) sends no weights through NAT: its bytes come over the
    # gateway endpoint, and its S3 copy is priced instead.
    pools = tuple(GpuPool(p.model.name, p.nodes, gpu_root_volume(spec, p),
                          0.0 if p.weights_source == "s3" else hub_gb_per_node(p.model.weights_gib, p.plan.replicas_per_instance))
                  for p in placement.models)
    q = Platform(c.kubernetes_version, len(c.zones) if c.nat_gateways == "one-per-zone" else 1,
                 c.system_instance_type, c.system_nodes, pools)
    try:
        return bill(q, on or today(), key=f"{P}cluster") + weights_s3_lines(placement)
    except InputError as e:
        raise (e if e.key.startswith(P) else e.under(P)) from None


def weights_s3_lines(placement: Placement) -> list[LineItem]:
    """The S3 weights path's line items: each S3-sourced model's copy and GETs, and the one gateway endpoint."""
    from cost.physics import weights_source

    return weights_source.s3_bill([(p.model.name, p.model.weights_bytes, p.nodes) for p in placement.models
                                   if p.weights_source == "s3"])

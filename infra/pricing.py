"""Price a stack spec with `cost`: the one function the program, the preview and the tests share.

The spec is turned into one `cost.economics.Economics` value per model (the stack-config codec); the
same values go on the workloads and node groups the program creates, and the policy pack prices
them with the same `cost.economics.price`.
"""

from __future__ import annotations

from cost import economics as econ
from cost.errors import InputError
from cost.fleet import Fleet, Tier

from infra.spec import P, ModelSpec, StackSpec


def price_book(spec: StackSpec):
    """The price book the spec names (None: the AWS catalog and the genai-prices snapshot)."""
    if not spec.pricing.price_book:
        return None
    from infra.spec import _load_book

    return _load_book(spec.pricing.price_book)


def stack_economics(spec: StackSpec) -> econ.StackEconomics:
    p = spec.pricing
    routing = None
    if spec.routing is not None:
        routing = econ.Routing(spec.routing.workload,
                               tuple(Tier(t.name, t.share, deployment=t.model, api=t.api) for t in spec.routing.tiers))
    return econ.StackEconomics(spec.stack, spec.production, p.price_book, p.overheads, p.budget_usd_per_month, routing)


def economics(spec: StackSpec, m: ModelSpec) -> econ.Economics:
    """One model's economics value: what its workload annotation and node-group tags carry."""
    return econ.Economics(m.deployment, m.workload, stack_economics(spec))


def price(spec: StackSpec, book=None) -> Fleet:
    """The fleet cost of the spec: every model's deployment and workload, and the routing tiers."""
    if book is None:
        book = price_book(spec)
    try:
        return econ.price([economics(spec, m) for m in spec.models], book)
    except InputError as e:
        raise (e if e.key.startswith(P) else e.under(P)) from None

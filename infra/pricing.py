"""Price a stack spec with `cost`: the one function the program, the preview and the tests share."""

from __future__ import annotations

from cost.errors import InputError
from cost.fleet import Fleet, Tier, price_fleet

from infra.spec import P, StackSpec


def price_book(spec: StackSpec):
    """The price book the spec names (None: the AWS catalog and the genai-prices snapshot)."""
    if not spec.pricing.price_book:
        return None
    from infra.spec import _load_book

    return _load_book(spec.pricing.price_book)


def price(spec: StackSpec, book=None) -> Fleet:
    """The fleet cost of the spec: every model's deployment and workload, and the routing tiers."""
    if book is None:
        book = price_book(spec)
    tiers = [] if spec.routing is None else [Tier(t.name, t.share, deployment=t.model, api=t.api) for t in spec.routing.tiers]
    try:
        return price_fleet(
            [(m.deployment, m.workload) for m in spec.models],
            tiers=tiers,
            routed_workload=None if spec.routing is None else spec.routing.workload,
            book=book,
            overheads=spec.pricing.overheads,
            budget_usd_per_month=spec.pricing.budget_usd_per_month,
        )
    except InputError as e:
        raise (e if e.key.startswith(P) else e.under(P)) from None

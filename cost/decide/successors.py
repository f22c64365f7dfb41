"""Newer models of the same family that serve the same use (cost/data/successors.yaml), priced for the
same workload on their cheapest comparable API, and listed when that costs less."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from cost import catalog
from cost.errors import InputError
from cost.pricing import api_prices
from cost.pricing.api_prices import ApiQuote, PriceBook
from cost.workload import Workload

__all__ = ["Successor", "successors_of", "cheaper_successors"]

_FILE = "successors.yaml"


@dataclass(frozen=True)
class Successor:
    """A successor model and what the same workload costs on its cheapest comparable API."""

    model: str
    cheapest_api: str
    monthly_usd: float
    instead_of_usd: float | None   # this model's cheapest comparable API for the same workload (None: none listed)
    source: str

    def to_dict(self) -> dict:
        return {"model": self.model, "cheapest_api": self.cheapest_api, "monthly_usd": round(self.monthly_usd, 2),
                "instead_of_usd": None if self.instead_of_usd is None else round(self.instead_of_usd, 2),
                "source": self.source}


@cache
def successors_of() -> dict[str, tuple[tuple[str, str], ...]]:
    """model id -> ((successor id, source), ...), loaded and checked once."""
    with open(catalog.DATA / _FILE, encoding="utf-8") as fh:
        doc = catalog.load_yaml(fh)
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for model_id, entries in (doc.get("successors") or {}).items():
        key = f"{_FILE}: successors.{model_id}"
        mid = catalog.model(model_id, key).id
        found = []
        for i, e in enumerate(entries or []):
            if not isinstance(e, dict) or not isinstance(e.get("source"), str) or not e["source"].strip():
                raise InputError(f"{key}[{i}].source", None if not isinstance(e, dict) else e.get("source"),
                                 "a non-empty string: where it says the successor serves the same use")
            succ = catalog.model(e.get("model"), f"{key}[{i}].model").id
            if succ == mid:
                raise InputError(f"{key}[{i}].model", e.get("model"), f"a model other than {mid}")
            found.append((succ, " ".join(e["source"].split())))
        out[mid] = tuple(found)
    return out


def _cheapest(quotes: list[ApiQuote], providers: tuple[str, ...] | None) -> ApiQuote | None:
    comparable, _ = api_prices.comparables(quotes, [], providers)
    return min(comparable, key=lambda q: q.monthly_usd) if comparable else None


def cheaper_successors(model_id: str, workload: Workload, book: PriceBook | None = None,
                       providers: tuple[str, ...] | None = None) -> list[Successor]:
    """The successors whose cheapest comparable API serves the workload for less than this model's does
    (same request shape, batch rates and provider allow-list). Empty when the model has none listed."""
    return list(_cheaper_successors(model_id, workload, book, None if providers is None else tuple(providers)))


@lru_cache(maxsize=4096)
def _cheaper_successors(model_id: str, workload: Workload, book: PriceBook | None,
                        providers: tuple[str, ...] | None) -> tuple[Successor, ...]:
    """cheaper_successors' list, kept for the process: a pure function of its (immutable, hashable) arguments, asked
    again by every estimate of an optimizer's search over the same workload."""
    mid = catalog.model(model_id).id
    listed = successors_of().get(mid, ())
    if not listed:
        return ()
    current = _cheapest(api_prices.quotes_for(mid, workload, book), providers)
    out = []
    for succ, source in listed:
        best = _cheapest(api_prices.quotes_for(succ, workload, book), providers)
        if best is not None and (current is None or best.monthly_usd < current.monthly_usd):
            out.append(Successor(succ, best.offer.id, best.monthly_usd,
                                 None if current is None else current.monthly_usd, source))
    return tuple(out)

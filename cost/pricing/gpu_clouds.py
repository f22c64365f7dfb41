"""GPU rental prices on clouds other than AWS (cost/data/gpu-clouds.yaml): what the same deployment costs
elsewhere, and what AWS costs extra against the cheapest comparable GPU. The Pulumi program deploys AWS only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

from cost import catalog
from cost.errors import InputError
from cost.pricing.api_prices import PriceBook

__all__ = ["CloudOffer", "Elsewhere", "AWS", "offers", "cloud_ids", "parse_clouds", "book_for", "elsewhere",
           "offer_priced"]

AWS = "aws"
_FILE = "gpu-clouds.yaml"
_PRICINGS = ("on-demand", "spot")


@dataclass(frozen=True)
class CloudOffer:
    """One GPU rental on another cloud, per GPU-hour."""

    cloud: str
    product: str
    gpu: str
    pricing: str
    usd_per_gpu_hour: float
    min_gpus: int
    source: str
    checked: str

    @property
    def cited(self) -> str:
        """The price with where and when it was read."""
        return f"{self.cloud} {self.product} ${self.usd_per_gpu_hour:g}/GPU-h ({self.source}, read {self.checked})"


def _offer(e: object, where: str) -> CloudOffer:
    if not isinstance(e, dict):
        raise InputError(where, e, "a mapping with cloud, product, gpu, pricing, usd_per_gpu_hour, min_gpus, source, checked")
    for key in ("cloud", "product", "source"):
        if not isinstance(e.get(key), str) or not e[key].strip():
            raise InputError(f"{where}.{key}", e.get(key), "a non-empty string")
    if e["cloud"] == AWS:
        raise InputError(f"{where}.cloud", AWS, "a cloud other than aws (AWS prices are in instances.yaml)")
    if e.get("pricing") not in _PRICINGS:
        raise InputError(f"{where}.pricing", e.get("pricing"), " or ".join(_PRICINGS))
    usd = e.get("usd_per_gpu_hour")
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd) or usd <= 0:
        raise InputError(f"{where}.usd_per_gpu_hour", usd, "a positive USD price per GPU-hour")
    n = e.get("min_gpus", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"{where}.min_gpus", n, "a whole number, at least 1")
    if not e.get("checked"):
        raise InputError(f"{where}.checked", e.get("checked"), "the date the price was read (YYYY-MM-DD)")
    return CloudOffer(e["cloud"], e["product"], catalog.gpu(e.get("gpu"), f"{where}.gpu").id, e["pricing"], float(usd), n,
                      e["source"], str(e["checked"]))


@cache
def offers() -> tuple[CloudOffer, ...]:
    """Every offer in cost/data/gpu-clouds.yaml (loaded and checked once)."""
    with open(catalog.DATA / _FILE, encoding="utf-8") as fh:
        doc = catalog.load_yaml(fh)
    return tuple(_offer(e, f"{_FILE}: offers[{i}]") for i, e in enumerate(doc.get("offers") or []))


def offer_priced(unit_source: str) -> CloudOffer | None:
    """The offer a node plan was priced from (its `unit_source` is the offer's citation), or None (AWS, a book)."""
    return next((o for o in offers() if o.cited == unit_source), None)


def cloud_ids() -> tuple[str, ...]:
    """aws and every other cloud with an offer, in catalog order."""
    return (AWS,) + tuple(dict.fromkeys(o.cloud for o in offers()))


def parse_clouds(text: str | tuple[str, ...] | None, key: str = "--clouds") -> tuple[str, ...]:
    """`aws,lambda,runpod` or `all` as cloud ids (None: aws only); InputError naming the key otherwise."""
    if text is None:
        return (AWS,)
    items = [x.strip().lower() for x in (text.split(",") if isinstance(text, str) else text) if x.strip()]
    if items == ["all"]:
        return cloud_ids()
    known = cloud_ids()
    for item in items:
        if item not in known:
            raise InputError(key, item, "all, or a comma-separated list of " + ", ".join(known))
    if not items:
        raise InputError(key, text, "all, or a comma-separated list of " + ", ".join(known))
    return tuple(dict.fromkeys(items))


def book_for(offer: CloudOffer, base: PriceBook | None) -> PriceBook:
    """A price book that prices the offer's GPU per GPU-hour (and keeps the base book's APIs, if any)."""
    gpus = {offer.gpu: {offer.pricing: (offer.usd_per_gpu_hour, offer.cited)}}
    if base is None:
        return PriceBook(f"{offer.cloud} {offer.product}", offer.cited, "override", (), gpus)
    return PriceBook(f"{base.name} + {offer.cloud} {offer.product}", base.source, base.apis_mode, base.apis, gpus,
                     base.applies_to, base.path)


@dataclass(frozen=True)
class Elsewhere:
    """What an AWS deployment's GPUs cost on the cheapest comparable rental elsewhere."""

    offer: CloudOffer
    aws_usd_per_gpu_hour: float
    gpus: int
    extra_usd_per_month: float       # AWS GPU hours less the same GPU hours elsewhere (negative: AWS is cheaper)

    def to_dict(self) -> dict:
        o = self.offer
        return {"cloud": o.cloud, "product": o.product, "gpu": o.gpu, "usd_per_gpu_hour": o.usd_per_gpu_hour,
                "aws_usd_per_gpu_hour": round(self.aws_usd_per_gpu_hour, 4), "gpus": self.gpus,
                "aws_extra_usd_per_month": round(self.extra_usd_per_month, 2), "source": o.source, "checked": o.checked}


def elsewhere(gpu: str, gpus: int, aws_usd_per_gpu_hour: float, clouds: tuple[str, ...] | None = None) -> Elsewhere | None:
    """The cheapest on-demand rental of the same GPU on another cloud (of `clouds`, None: all), priced for the
    same GPU count; None when no other cloud lists the GPU."""
    best = _cheapest_on_demand(gpu, None if clouds is None else tuple(clouds))
    if best is None or gpus <= 0:
        return None
    hours = catalog.assumptions()["hours_per_month"]
    return Elsewhere(best, aws_usd_per_gpu_hour, gpus, (aws_usd_per_gpu_hour - best.usd_per_gpu_hour) * gpus * hours)


@lru_cache(maxsize=256)
def _cheapest_on_demand(gpu: str, clouds: tuple[str, ...] | None) -> CloudOffer | None:
    """The cheapest on-demand offer of a GPU on the clouds named (None: all), from the catalog read once per process."""
    found = [o for o in offers() if o.gpu == gpu and o.pricing == "on-demand" and (clouds is None or o.cloud in clouds)]
    return min(found, key=lambda o: o.usd_per_gpu_hour) if found else None

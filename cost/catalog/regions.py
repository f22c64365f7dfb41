"""AWS Regions and Availability Zones from the dated catalog `cost/data/regions.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cost.catalog import _load
from cost.errors import InputError


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    zones: tuple[str, ...]            # zone names as AWS spells them: us-east-1a, ...
    az_ids: tuple[str, ...]
    independently_mapped: bool        # zone letters map to physical zones per account
    constrained_az_ids: tuple[str, ...]
    gpu_zones: dict[str, tuple[str, ...]] | None  # instance type -> zone names offering it; None = not recorded
    source: str


@cache
def regions() -> dict[str, Region]:
    """Every Region in the catalog, keyed by code."""
    doc = _load("regions.yaml")
    src = f"{doc['source']} (checked {doc['checked']})"
    return {
        code: Region(code, r["name"], tuple(f"{code}{letter}" for letter in r["zones"]), tuple(r.get("az_ids", ())),
                     bool(r.get("independently_mapped", False)), tuple(r.get("constrained_az_ids", ())),
                     None if r.get("gpu_zones") is None else {k: tuple(v) for k, v in r["gpu_zones"].items()}, src)
        for code, r in doc["regions"].items()
    }


def region(code: str, key: str = "region") -> Region:
    """Look up a Region by code (`us-east-1`)."""
    if code not in regions():
        raise InputError(key, code, "an AWS Region code: " + ", ".join(regions()),
                         f"checked against {regions()['us-east-1'].source}")
    return regions()[code]


def zone(name: str, region_code: str, key: str = "zone") -> str:
    """Check an Availability Zone name (`us-east-1a`) against its Region."""
    r = region(region_code)
    if name not in r.zones:
        raise InputError(key, name, f"an Availability Zone of {region_code}: " + ", ".join(r.zones))
    return name

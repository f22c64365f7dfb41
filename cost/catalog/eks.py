"""EKS Kubernetes versions: which are supported on a date, at which rate, and the default.

Data: cost/data/eks.yaml (the support calendar). Pure Python, no Pulumi.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from cost import catalog
from cost.errors import InputError


@dataclass(frozen=True)
class Version:
    version: str
    released: dt.date
    end_of_standard: dt.date
    end_of_extended: dt.date
    source: str

    def support(self, on: dt.date) -> str:
        """"standard", "extended" or "ended" on a date."""
        if on <= self.end_of_standard:
            return "standard"
        return "extended" if on <= self.end_of_extended else "ended"


@cache
def versions() -> dict[str, Version]:
    doc = catalog._load("eks.yaml")
    src = f"{doc['source']} (checked {doc['checked']})"
    return {v: Version(v, d["released"], d["end_of_standard"], d["end_of_extended"], src) for v, d in doc["versions"].items()}


def default_version(on: dt.date) -> str:
    """The newest version released by `on` and still in standard support."""
    live = [v for v in versions().values() if v.released <= on and v.support(on) == "standard"]
    if not live:
        raise ValueError(f"cost/data/eks.yaml has no version in standard support on {on}: update the calendar")
    return max(live, key=lambda v: tuple(int(x) for x in v.version.split("."))).version


def check(version: str, on: dt.date, key: str) -> Version:
    """The calendar entry of a version EKS still runs on `on` (standard or extended support)."""
    v = versions().get(str(version))
    live = [x.version for x in versions().values() if x.released <= on and x.support(on) != "ended"]
    if v is None or v.support(on) == "ended" or v.released > on:
        raise InputError(key, version, ", ".join(f'"{x}" ({versions()[x].support(on)} support)' for x in live),
                         f"EKS versions on {on} per cost/data/eks.yaml")
    return v

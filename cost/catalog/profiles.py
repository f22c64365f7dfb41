"""Workload profiles (chat, rag, batch): sourced defaults from cost/data/profiles.yaml that flags override."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cost import catalog
from cost.errors import InputError


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    defaults: dict        # flag name without dashes -> value
    source: str


@cache
def profiles() -> dict[str, Profile]:
    """Every shipped profile by name."""
    with open(catalog.DATA / "profiles.yaml", encoding="utf-8") as fh:
        doc = catalog.load_yaml(fh)
    return {name: Profile(name, p["description"], dict(p["defaults"]), p["source"]) for name, p in doc["profiles"].items()}


def profile(name: str) -> Profile:
    """One profile; InputError `profile` naming the shipped ones otherwise."""
    found = profiles().get(str(name).lower())
    if found is None:
        raise InputError("profile", name, ", ".join(profiles()))
    return found


def apply(name: str | None, given: dict) -> tuple[dict, dict]:
    """Fill the values the user left out (None) from a profile.

    given: flag name without dashes -> value or None. Returns (values, set_by_profile) where
    set_by_profile maps each flag the profile filled to its value.
    """
    values = dict(given)
    if name is None:
        return values, {}
    p = profile(name)
    filled = {}
    for key, val in p.defaults.items():
        if values.get(key) is None:
            values[key] = val
            filled[key] = val
    return values, filled

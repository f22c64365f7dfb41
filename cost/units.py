"""Parsing and formatting of token volumes and money."""

from __future__ import annotations

import re

from cost.errors import InputError

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_VOLUME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][0-9]+)?)\s*([kKmMbBgGtT]?)\s*$")


def parse_tokens(value: object, key: str = "tokens_per_month") -> float:
    """Parse a token volume such as 100M, 3.2B, 750000000 or 1e9 into a number of tokens."""
    if isinstance(value, bool):
        raise InputError(key, value, "a non-negative token volume such as 100M, 3.2B or 750000000")
    if isinstance(value, (int, float)):
        if value < 0 or value != value:
            raise InputError(key, value, "a non-negative token volume such as 100M, 3.2B or 750000000")
        return float(value)
    match = _VOLUME.match(str(value))
    if not match:
        raise InputError(key, value, "a non-negative token volume such as 100M, 3.2B or 750000000")
    return float(match.group(1)) * _SUFFIX[match.group(2).upper()]


def format_tokens(tokens: float) -> str:
    """Human form of a token volume: 750M, 3.17B, 12.5K."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(tokens) >= scale:
            return f"{tokens / scale:.3g}{suffix}"
    return f"{tokens:.0f}"


def format_usd(amount: float) -> str:
    """Money in USD with two decimals and thousands separators."""
    return f"${amount:,.2f}"

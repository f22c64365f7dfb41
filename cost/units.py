"""Parsing and formatting of token volumes and money."""

from __future__ import annotations

import math
import re

from cost.errors import InputError

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_VOLUME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][0-9]+)?)\s*([kKmMbBgGtT]?)\s*$")
# A sanity ceiling, not a physical limit: 10 quadrillion tokens a month is ~1,000x what the largest
# self-hosted fleets in the seeds serve; anything above it is a typo (1e40) or an overflow.
MAX_TOKENS_PER_MONTH = 1e16
TOKENS_ALLOWED = "a non-negative token volume such as 100M, 3.2B or 750000000 (at most 10000T)"


def parse_tokens(value: object, key: str = "tokens_per_month") -> float:
    """Parse a token volume such as 100M, 3.2B, 750000000 or 1e9 into a finite number of tokens."""
    if isinstance(value, bool):
        raise InputError(key, value, TOKENS_ALLOWED)
    if isinstance(value, (int, float)):
        tokens = float(value) if not isinstance(value, int) or abs(value) < 1e300 else math.inf
    else:
        match = _VOLUME.match(str(value))
        if not match:
            raise InputError(key, value, TOKENS_ALLOWED)
        tokens = float(match.group(1)) * _SUFFIX[match.group(2).upper()]
    if not math.isfinite(tokens) or not 0 <= tokens <= MAX_TOKENS_PER_MONTH:
        raise InputError(key, value, TOKENS_ALLOWED)
    return tokens


def format_tokens(tokens: float) -> str:
    """Human form of a token volume: 750M, 3.17B, 12.5K."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(tokens) >= scale:
            return f"{tokens / scale:.3g}{suffix}"
    return f"{tokens:.0f}"


def format_usd(amount: float) -> str:
    """Money in USD with two decimals and thousands separators."""
    return f"${amount:,.2f}"


def round_finite(x: float, digits: int) -> float | None:
    """Rounded, or None where the figure is undefined (no volume declared): reports are strict JSON."""
    return round(x, digits) if math.isfinite(x) else None

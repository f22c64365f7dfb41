"""What a deployment is asked to serve: the workload, priced identically on both sides."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cost.errors import InputError
from cost.units import MAX_TOKENS_PER_MONTH, TOKENS_ALLOWED

DEFAULT_REQUEST_TOKENS = 1000
MAX_REQUEST_TOKENS = 10_000_000  # above every open model's context (the context check below is the real limit)


def _finite(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class Workload:
    """A monthly token volume and the shape of an average request.

    tokens_per_month: input plus output tokens per month.
    avg_input_tokens / avg_output_tokens: the average request; their ratio is the input share.
    utilization: the share of the self-hosted capacity the plan expects to use (0..1].
    ttft_target_s / tpot_target_s: latency targets; None means none declared.
    batch: latency-insensitive work that a provider's batch API may serve (at its batch price).
    prefix_cache_hit_rate: share of prompt tokens vLLM's prefix cache serves (shared system prompts,
      RAG documents, chat history): not recomputed by the self-hosted side; 0 = none.
    """

    tokens_per_month: float
    avg_input_tokens: int = 600
    avg_output_tokens: int = 400
    utilization: float = 0.8
    ttft_target_s: float | None = None
    tpot_target_s: float | None = None
    batch: bool = False
    prefix_cache_hit_rate: float = 0.0

    @property
    def input_share(self) -> float:
        return self.avg_input_tokens / (self.avg_input_tokens + self.avg_output_tokens)

    @property
    def tokens_per_request(self) -> int:
        return self.avg_input_tokens + self.avg_output_tokens

    @property
    def requests_per_month(self) -> float:
        return self.tokens_per_month / self.tokens_per_request

    @property
    def input_tokens_per_month(self) -> float:
        return self.tokens_per_month * self.input_share

    @property
    def output_tokens_per_month(self) -> float:
        return self.tokens_per_month * (1 - self.input_share)

    @classmethod
    def build(
        cls,
        tokens_per_month: float,
        *,
        input_share: float | None = None,
        avg_input_tokens: int | None = None,
        avg_output_tokens: int | None = None,
        utilization: float = 0.8,
        ttft_target_s: float | None = None,
        tpot_target_s: float | None = None,
        batch: bool = False,
        prefix_cache_hit_rate: float = 0.0,
    ) -> Workload:
        """Validate and complete a workload.

        Give the request size (average input and output tokens), or an input share (the request
        is then 1,000 tokens split by it), or both when they agree within 1 %.
        """
        if not _finite(tokens_per_month) or not 0 <= tokens_per_month <= MAX_TOKENS_PER_MONTH:
            raise InputError("tokens_per_month", tokens_per_month, TOKENS_ALLOWED)
        if input_share is not None and not (_finite(input_share) and 0 < input_share < 1):
            raise InputError("input_share", input_share, "a fraction strictly between 0 and 1")
        sizes: tuple[tuple[str, float | None], ...] = (("avg_input_tokens", avg_input_tokens), ("avg_output_tokens", avg_output_tokens))
        for key, val in sizes:
            if val is not None and not (_finite(val) and int(val) == val and 1 <= val <= MAX_REQUEST_TOKENS):
                raise InputError(key, val, f"a whole number of tokens, from 1 to {MAX_REQUEST_TOKENS:,}")
        if not (_finite(utilization) and 0 < utilization <= 1):
            raise InputError("utilization", utilization, "a fraction in (0, 1]")
        if not (_finite(prefix_cache_hit_rate) and 0 <= prefix_cache_hit_rate < 1):
            raise InputError("prefix_cache_hit_rate", prefix_cache_hit_rate, "a fraction in [0, 1)")
        for key, val in (("ttft_target_s", ttft_target_s), ("tpot_target_s", tpot_target_s)):
            if val is not None and not (_finite(val) and 0 < val <= 3600):
                raise InputError(key, val, "a positive number of seconds, at most 3600")

        if avg_input_tokens is None and avg_output_tokens is None:
            share = 0.6 if input_share is None else input_share
            avg_input_tokens = max(1, round(DEFAULT_REQUEST_TOKENS * share))
            avg_output_tokens = max(1, DEFAULT_REQUEST_TOKENS - avg_input_tokens)
        elif avg_input_tokens is None or avg_output_tokens is None:
            known, known_key = (avg_input_tokens, "avg_input_tokens") if avg_input_tokens else (avg_output_tokens, "avg_output_tokens")
            if input_share is None:
                missing = "avg_output_tokens" if known_key == "avg_input_tokens" else "avg_input_tokens"
                raise InputError(missing, None, f"a whole number of tokens (or give input_share with {known_key})")
            share = input_share if known_key == "avg_input_tokens" else 1 - input_share
            other = max(1, round(known * (1 - share) / share))
            avg_input_tokens, avg_output_tokens = (known, other) if known_key == "avg_input_tokens" else (other, known)
        elif input_share is not None:
            implied = avg_input_tokens / (avg_input_tokens + avg_output_tokens)
            if abs(implied - input_share) > 0.01:
                raise InputError(
                    "input_share", input_share,
                    f"the share the request size implies ({implied:.3f}), or leave it out",
                    f"avg_input_tokens={avg_input_tokens}, avg_output_tokens={avg_output_tokens}",
                )
        return cls(
            tokens_per_month=float(tokens_per_month),
            avg_input_tokens=int(avg_input_tokens),
            avg_output_tokens=int(avg_output_tokens),
            utilization=float(utilization),
            ttft_target_s=ttft_target_s,
            tpot_target_s=tpot_target_s,
            batch=bool(batch),
            prefix_cache_hit_rate=float(prefix_cache_hit_rate),
        )


def require_within_context(workload: Workload, model_id: str, context: int, max_model_len: int | None = None) -> None:
    """A request (average input + output tokens) must fit the sequence length the server accepts:
    `max_model_len` when set, else the model's context. Blames the request or the limit, not memory."""
    need = workload.tokens_per_request
    if need > context:
        raise InputError("avg_input_tokens", workload.avg_input_tokens,
                         f"a request (input + output tokens) of at most {context:,}, {model_id}'s context",
                         f"a request of {workload.avg_input_tokens:,} + {workload.avg_output_tokens:,} tokens is longer "
                         "than the model can read")
    if max_model_len is not None and need > max_model_len:
        raise InputError("max_model_len", max_model_len, f"at least {need:,} (the average request: "
                         f"{workload.avg_input_tokens:,} in + {workload.avg_output_tokens:,} out), at most {context:,}",
                         "vLLM refuses requests longer than --max-model-len")

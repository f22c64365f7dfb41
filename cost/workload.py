"""What a deployment is asked to serve: the workload, priced identically on both sides.

`WorkloadFields` is the one pydantic model of the workload's fields: Python names (cost's arguments and the
economics wire), camelCase aliases (the stack-config spelling), what each accepts and its description. The
stack schema (infra/config/schema.py), the economics value (cost/economics_model.py) and `Workload.build`
all validate through it; the only difference between surfaces is the latency targets' unit (seconds here,
milliseconds in a stack file and on the command line: `WorkloadFieldsMs`, converted by `seconds`). What needs the catalog (a request within the model's context) is checked
where the catalog is (`require_within_context`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from cost.errors import InputError
from cost.pydantic_errors import Allowed, FromText, Whole, refuse, to_input_error
from cost.units import MAX_TOKENS_PER_MONTH, TOKENS_ALLOWED, parse_tokens

DEFAULT_REQUEST_TOKENS = 1000
DEFAULT_UTILIZATION = 0.8
MAX_REQUEST_TOKENS = 10_000_000  # above every open model's context (the context check below is the real limit)
MAX_LATENCY_S = 3600
MS_PER_S = 1000


def _volume(value: Any) -> float:
    """A monthly token volume: a number or the notation 100M, 3.2B (cost.units.parse_tokens)."""
    try:
        return parse_tokens(value)
    except InputError as e:
        refuse(e.allowed)


TokenVolume = Annotated[float, BeforeValidator(_volume), Field(ge=0, le=MAX_TOKENS_PER_MONTH), Allowed(TOKENS_ALLOWED),
                        FromText()]
RequestTokens = Annotated[Whole, Field(ge=1, le=MAX_REQUEST_TOKENS),
                          Allowed(f"a whole number of tokens, from 1 to {MAX_REQUEST_TOKENS:,}")]
LatencyS = Annotated[float, Field(gt=0, le=MAX_LATENCY_S), Allowed(f"a positive number of seconds, at most {MAX_LATENCY_S}")]
LatencyMs = Annotated[float, Field(gt=0, le=MAX_LATENCY_S * MS_PER_S)]


def seconds(ms: float | None) -> float | None:
    """A latency target as a stack file or the command line states it (ms), in seconds as `Workload` holds it."""
    return None if ms is None else ms / MS_PER_S


def milliseconds(s: float | None) -> float | None:
    """A latency target `Workload` holds (s), in the milliseconds a stack file, the command line and reports state."""
    return None if s is None else s * MS_PER_S


class WorkloadFields(BaseModel):
    """The fields of a workload as every surface states them (unset: the default `Workload.build` gives)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel,
                              frozen=True, validate_default=False)

    tokens_per_month: TokenVolume | None = Field(None, description="Input + output tokens per month (100M, 3.2B, ...); "
                                                                   "required unless a routing tier feeds the model.")
    input_share: Annotated[float, Field(gt=0, lt=1), Allowed("a fraction strictly between 0 and 1")] | None = Field(
        None, description="Share of tokens that are input; or give the request size below.")
    avg_input_tokens: RequestTokens | None = Field(None, description="Average input tokens per request.")
    avg_output_tokens: RequestTokens | None = Field(None, description="Average output tokens per request.")
    utilization: Annotated[float, Field(gt=0, le=1), Allowed("a fraction in (0, 1]")] | None = Field(
        None, description=f"Planned share of capacity used; default {DEFAULT_UTILIZATION}.")
    prefix_cache_hit_rate: Annotated[float, Field(ge=0, lt=1), Allowed("a fraction in [0, 1)")] | None = Field(
        None, description="Share of prompt tokens vLLM's prefix cache serves (shared system prompts, RAG documents, "
                          "chat history); priced as not recomputed, and at an API's cached-input price where it has "
                          "one; default 0.")


class WorkloadFieldsMs(WorkloadFields):
    """The workload as a stack file and the command line state it: the fields, with latency targets in milliseconds
    (`seconds` gives what `Workload.build` takes)."""

    ttft_target_ms: LatencyMs | None = Field(None, description="Time-to-first-token target (ms); under 50 counts as the "
                                                               "low-TTFT exemption.")
    tpot_target_ms: LatencyMs | None = Field(None, description="Time-per-output-token target (ms).")


class WorkloadArgs(WorkloadFields):
    """What `Workload.build` takes: the fields, the volume required, latency targets in seconds, the batch flag."""

    tokens_per_month: TokenVolume = Field(description="Input + output tokens per month: 100M, 3.2B, 750000000.")
    ttft_target_s: LatencyS | None = Field(None, description="Time-to-first-token target (s).",
                                           json_schema_extra={"flag": "--ttft-target-ms"})
    tpot_target_s: LatencyS | None = Field(None, description="Time-per-output-token target (s).",
                                           json_schema_extra={"flag": "--tpot-target-ms"})
    batch: bool = Field(False, description="Latency-insensitive work a provider's batch API may serve: compared with the "
                                           "providers' batch rates where they publish them.",
                        json_schema_extra={"flag": "--batch-api-prices"})


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
    def build(cls, tokens_per_month: Any, **fields: Any) -> Workload:
        """Validate and complete a workload (`WorkloadArgs`: errors name the argument).

        Give the request size (average input and output tokens), or an input share (the request
        is then 1,000 tokens split by it), or both when they agree within 1 %.
        """
        try:
            v = WorkloadArgs.model_validate({"tokens_per_month": tokens_per_month, **fields}, by_alias=False, by_name=True)
        except ValidationError as err:
            raise to_input_error(err, WorkloadArgs, "") from None
        return cls.complete(v)

    @classmethod
    def complete(cls, v: WorkloadArgs) -> Workload:
        """The workload from validated fields: the request size from the share where only that is given, the
        defaults where a field is unset. An InputError names the argument when share and size disagree."""
        input_share, avg_input_tokens, avg_output_tokens = v.input_share, v.avg_input_tokens, v.avg_output_tokens
        if avg_input_tokens is None and avg_output_tokens is None:
            share = 0.6 if input_share is None else input_share
            avg_input_tokens = max(1, round(DEFAULT_REQUEST_TOKENS * share))
            avg_output_tokens = max(1, DEFAULT_REQUEST_TOKENS - avg_input_tokens)
        elif avg_input_tokens is None or avg_output_tokens is None:
            known, known_key = (avg_input_tokens, "avg_input_tokens") if avg_input_tokens else (avg_output_tokens, "avg_output_tokens")
            if input_share is None:
                missing = "avg_output_tokens" if known_key == "avg_input_tokens" else "avg_input_tokens"
                raise InputError(missing, None, f"a whole number of tokens (or give input_share with {known_key})")
            assert known is not None   # exactly one of the two is None in this branch
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
            tokens_per_month=v.tokens_per_month,
            avg_input_tokens=avg_input_tokens,
            avg_output_tokens=avg_output_tokens,
            utilization=DEFAULT_UTILIZATION if v.utilization is None else v.utilization,
            ttft_target_s=v.ttft_target_s,
            tpot_target_s=v.tpot_target_s,
            batch=v.batch,
            prefix_cache_hit_rate=0.0 if v.prefix_cache_hit_rate is None else v.prefix_cache_hit_rate,
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

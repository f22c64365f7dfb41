"""The wire shape of the economics value (`cost.economics.Economics`) as one pydantic model.

It checks what a decoded annotation, tag set or dict holds (known keys, types, ranges, finite numbers) and
names a bad value by its path, e.g. `breakeven.dev/economics.workload.utilization`. What needs the catalogs
(a model id, a GPU, a tensor-parallel size that splits the heads) is checked by `Deployment.build` after it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from cost.catalog import strictload
from cost.deployment import LIMITS, CommitmentFields, DeploymentFields, ExemptionsFields
from cost.pydantic_errors import Allowed, Whole, real, refuse, to_input_error
from cost.workload import WorkloadArgs

VERSION = 1
LIMIT = strictload.MAX_MAGNITUDE


NUMBER = f"a finite number of magnitude at most {LIMIT:g}"
REPLICAS = f'the resolved number of serving replicas (sized, not "auto"), from 1 to {LIMITS["replicas"]}'
Number = Annotated[Any, real(-LIMIT, LIMIT, NUMBER), Allowed(NUMBER)]
NonNegative = Annotated[Any, real(0, LIMIT, "a non-negative number"), Allowed("a non-negative number")]
Share = Annotated[Any, real(0, 1, "a fraction in [0, 1]"), Allowed("a fraction in [0, 1]")]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class DeploymentValue(DeploymentFields):
    """The deployment on the wire: cost.deployment's model, read by its Python names, with its GPU and replicas
    resolved (never "auto"), its exemptions and commitment."""

    gpu: str
    replicas: Annotated[Whole, Field(ge=1, le=LIMITS["replicas"]), Allowed(REPLICAS)]
    exemptions: ExemptionsFields = ExemptionsFields.model_validate({})
    commitment: CommitmentFields | None = None


class WorkloadValue(WorkloadArgs):
    """The workload on the wire: cost.workload's model, read by its Python names (the request is written as its
    size, never its share: `NOT_WRITTEN`)."""


class OverheadsValue(_Value):
    storage_gib_per_node: NonNegative | None = None
    storage_usd_per_gib_month: NonNegative | None = None
    ops_tax_share: Share | None = None
    mlops_fte: NonNegative | None = None
    usd_per_fte_month: NonNegative | None = None
    monitoring_usd_per_month: NonNegative | None = None


class TierValue(_Value):
    name: str
    share: Number
    deployment: str | None = None
    api: str | None = None


class RoutingValue(_Value):
    workload: WorkloadValue
    tiers: Annotated[list[TierValue], Field(min_length=1), BeforeValidator(lambda v: list(v) if isinstance(v, tuple) else v),
                     Allowed("a list of tiers {name, share, deployment | api}")]


class StackValue(_Value):
    stack: str | None = ""
    production: bool = False
    price_book: Annotated[str, Field(min_length=1), Allowed("a price book name or file")] | None = None
    overheads: OverheadsValue | None = None
    budget_usd_per_month: Annotated[float, Field(gt=0, le=LIMIT), Allowed("a positive number of USD")] | None = None
    routing: RoutingValue | None = None


class EconomicsValue(_Value):
    version: Annotated[int, BeforeValidator(lambda v: v if v == VERSION else refuse(
        f"{VERSION} (the economics version this breakeven reads)")), Allowed(str(VERSION))]
    deployment: DeploymentValue
    workload: WorkloadValue
    stack: StackValue | None = None


# A workload's input share is an argument (the request size is derived from it), not a field of the wire.
NOT_WRITTEN: dict[str, Any] = {"workload": {"input_share"}, "stack": {"routing": {"workload": {"input_share"}}}}


def validate(doc: Any, key: str) -> EconomicsValue:
    """The economics value's shape checked; InputError naming `key.<path>` at the first bad value."""
    try:
        return EconomicsValue.model_validate(doc, by_alias=False, by_name=True)
    except ValidationError as err:
        raise to_input_error(err, EconomicsValue, f"{key}.") from None


def fields_given(value: BaseModel) -> dict[str, Any]:
    """The fields a decoded document set (defaults left to the dataclasses), nested values as plain dicts."""
    return value.model_dump(exclude_unset=True)


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
NON_NEGATIVE = f"a non-negative number, at most {LIMIT:g}"
NonNegative = Annotated[Any, real(0, LIMIT, NON_NEGATIVE), Allowed(NON_NEGATIVE)]
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
    """The non-GPU costs (cost.pricing.tco.Overheads), each overridable; unset: cost/data/assumptions.yaml."""

    storage_gib_per_node: NonNegative | None = Field(None, description="model storage per GPU node, in GiB")
    storage_usd_per_gib_month: NonNegative | None = Field(None, description="storage price in USD per GiB-month")
    ops_tax_share: Share | None = Field(None, description="share of GPU, failover and storage spend added as ops tax",
                                        json_schema_extra={"flag": "--ops-tax"})
    mlops_fte: NonNegative | None = Field(None, description="MLOps staff in full-time equivalents",
                                          json_schema_extra={"flag": "--fte"})
    usd_per_fte_month: NonNegative | None = Field(None, description="monthly cost of one FTE in USD")
    monitoring_usd_per_month: NonNegative | None = Field(None, description="monitoring in USD per month",
                                                         json_schema_extra={"flag": "--monitoring-usd"})


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


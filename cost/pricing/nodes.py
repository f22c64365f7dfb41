"""How replicas pack onto billed hardware, and what an hour of it costs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cost import catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.physics import multinode
from cost.pydantic_errors import Allowed, FromText, refuse


def _reserved_defaults() -> dict[str, float]:
    return {k: v for k, v in catalog.assumptions()["reserved_discount"].items() if k != "source"}


@dataclass(frozen=True)
class Rates:
    """Hardware price assumptions no public snapshot fixes (assumptions.yaml): the reserved discounts off
    on-demand, and where in the zones' spot range spot is priced (0 = cheapest zone, 0.5 = midpoint, 1 = dearest)."""

    reserved_1y: float = _reserved_defaults()["reserved-1y"]
    reserved_3y: float = _reserved_defaults()["reserved-3y"]
    spot_position: float = 0.5

    def __post_init__(self) -> None:
        for key in ("reserved_1y", "reserved_3y", "spot_position"):
            val = getattr(self, key)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0 <= val <= (1 if key == "spot_position" else 0.95):
                raise InputError(key, val, "a fraction in [0, 1] (0 = cheapest zone, 0.5 = midpoint, 1 = dearest)"
                                 if key == "spot_position" else "a discount in [0, 0.95] off the on-demand price")

    @property
    def reserved_discount(self) -> dict[str, float]:
        return {"reserved-1y": self.reserved_1y, "reserved-3y": self.reserved_3y}


_DEFAULT_RATES = Rates()
RESERVED_ALLOWED = "a discount in [0, 0.95] such as 0.35 (both terms), or 1y=0.3,3y=0.5"
SPOT_POINTS = {"low": 0.0, "mid": 0.5, "high": 1.0}
SPOT_ALLOWED = "low, mid, high or a fraction 0..1 of the zones' spot range"


def _reserved(value: Any) -> dict[str, float]:
    """0.35 (both terms) or 1y=0.3,3y=0.5 -> the Rates fields it sets."""
    try:
        text = str(value).strip()
        parts = dict(item.split("=", 1) for item in text.split(",")) if "=" in text else {"1y": text, "3y": text}
        fields = {f"reserved_{term.strip()}": float(rate) for term, rate in parts.items()}
        if set(fields) - {"reserved_1y", "reserved_3y"}:
            refuse(RESERVED_ALLOWED)
        Rates(**fields)   # each in [0, 0.95]
    except (ValueError, InputError):
        refuse(RESERVED_ALLOWED)
    return fields


def _spot(value: Any) -> float:
    """low, mid, high or a fraction -> the spot position."""
    try:
        position = SPOT_POINTS[value] if value in SPOT_POINTS else float(value)
        Rates(spot_position=position)   # in [0, 1]
    except (ValueError, InputError):
        refuse(SPOT_ALLOWED)
    return position


class RatesFields(BaseModel):
    """The rate assumptions as the command line states them (`Rates` holds what they set; unset: assumptions.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reserved_discount: Annotated[dict[str, float], BeforeValidator(_reserved), Allowed(RESERVED_ALLOWED),
                                 FromText()] | None = Field(
        None, description="discount off on-demand for reserved capacity: 0.35 (both terms) or 1y=0.3,3y=0.5")
    spot_price: Annotated[float, BeforeValidator(_spot), Allowed(SPOT_ALLOWED), FromText()] | None = Field(
        None, description="where in the zones' spot range spot is priced: low, mid (default), high or 0..1")

    def rates(self) -> Rates:
        """The Rates these set over the defaults."""
        return Rates(**(self.reserved_discount or {}),
                     **({} if self.spot_price is None else {"spot_position": self.spot_price}))


@dataclass(frozen=True)
class NodePlan:
    """The hardware a deployment is billed for.

    billing: "instance" (whole AWS instances) or "gpu" (per GPU-hour: a marketplace rental or a
      per-GPU price from --hourly-usd / a price book with no instance named).
    unit_usd_hr: price of one billed unit (an instance, or a GPU) and unit_source where it comes from.
    serving_units / failover_units: units carrying the planned replicas, and the extra units the
      redundancy replicas need.
    """

    billing: str
    instance_type: str | None
    gpus_per_instance: int
    instances_per_replica: int
    replicas_per_instance: int
    serving_units: int
    failover_units: int
    unit_usd_hr: float
    unit_source: str

    @property
    def units(self) -> int:
        return self.serving_units + self.failover_units

    @property
    def nodes(self) -> int:
        """Machines: instances, or for per-GPU billing one rented machine per replica."""
        return self.units if self.billing == "instance" else self.units // self.gpus_per_instance

    @property
    def gpus(self) -> int:
        return self.units * (self.gpus_per_instance if self.billing == "instance" else 1)


def _instance_for(instance_type: str | None, gpu: str, gpus_per_replica: int) -> catalog.Instance | None:
    if instance_type:
        return catalog.instance(instance_type, "instance_type")
    found = catalog.instances_for(gpu)
    if not found:
        return None
    fitting = [i for i in found if i.gpus >= gpus_per_replica]
    return fitting[0] if fitting else found[-1]


@lru_cache(maxsize=1024)   # pure in the (immutable) instance, capacity type and rates: one per instance and price
def _instance_price(inst: catalog.Instance, pricing: str, rates: Rates) -> tuple[float, str]:
    od = inst.on_demand_usd_hr
    if pricing == "marketplace":
        raise InputError("pricing", pricing, "on-demand, spot, reserved-1y or reserved-3y for an AWS instance",
                         "marketplace needs a per-GPU price: hourly_usd_per_gpu or a price book (seed-2025 has RTX-4090 and H100)")
    if pricing == "spot":
        if inst.spot_usd_hr is None:
            raise InputError("pricing", pricing, "on-demand or reserved-1y/3y", f"{inst.type} has no spot price in the catalog")
        assert inst.spot_usd_hr_range is not None   # spot_usd_hr is its midpoint
        low, high = inst.spot_usd_hr_range
        if rates.spot_position == 0.5:
            return inst.spot_usd_hr, f"{inst.type} spot, midpoint of ${low}-${high}/h; {inst.source}"
        usd = low + (high - low) * rates.spot_position
        return usd, f"{inst.type} spot, {rates.spot_position:.0%} of the way from ${low} to ${high}/h (zones' range); {inst.source}"
    if od is None:
        raise InputError("instance_type", inst.type, "an instance with an on-demand price (or give hourly_usd_per_gpu)",
                         f"{inst.type} has no on-demand price in the catalog")
    if pricing == "on-demand":
        return od, f"{inst.type} on-demand; {inst.source}"
    discount = rates.reserved_discount[pricing]
    return od * (1 - discount), f"{inst.type} on-demand ${od}/h less {discount:.0%} {pricing} discount (assumption); {inst.source}"


def plan_nodes(d: Deployment, book=None, rates: Rates | None = None) -> NodePlan:
    """Pack a deployment's replicas onto instances (or GPUs) and price one unit.

    Price precedence: hourly_usd_per_gpu, then the price book's per-GPU price, then the AWS catalog.
    Per-GPU prices bill GPUs; without an instance named they bill exactly the replicas' GPUs.
    """
    return _plan(d.model, d.gpu, d.instance_type, d.gpus_per_replica, d.hourly_usd_per_gpu, d.pricing, d.serving_replicas,
                 d.redundancy, book, rates or _DEFAULT_RATES)


@lru_cache(maxsize=8192)
def _plan(model_id: str, gpu: str, instance_type: str | None, gpus_per_replica: int, hourly_usd_per_gpu: float | None,
          pricing: str, replicas: int, redundancy: int, book, rates: Rates) -> NodePlan:
    """plan_nodes' plan, kept for the process: a pure function of the deployment fields it reads, the (immutable)
    book and rates, and the instance catalog read once per process."""
    inst = _instance_for(instance_type, gpu, gpus_per_replica)
    per_gpu: tuple[float, str] | None = None
    if hourly_usd_per_gpu is not None:
        per_gpu = (hourly_usd_per_gpu, f"hourly_usd_per_gpu override ${hourly_usd_per_gpu}/GPU-h")
    elif book is not None:
        per_gpu = book.gpu_hourly(gpu, pricing)

    if per_gpu is not None and (instance_type is None or inst is None):
        # A per-GPU rental: bill the replicas' GPUs, nothing rounds up to an instance.
        return NodePlan("gpu", None, gpus_per_replica, 1, 1, replicas * gpus_per_replica,
                        redundancy * gpus_per_replica, per_gpu[0], per_gpu[1])
    if inst is None:
        raise InputError("gpu", gpu, "a GPU sold on AWS (" + ", ".join(sorted({i.gpu for i in catalog.instances().values()}))
                         + ") or give hourly_usd_per_gpu / a price book", "no AWS instance carries it")

    if gpus_per_replica <= inst.gpus:
        rpi, ipr = inst.gpus // gpus_per_replica, 1
        serving = math.ceil(replicas / rpi)
        total = math.ceil((replicas + redundancy) / rpi)
    else:
        rpi, ipr = 1, multinode.require_deployable(model_id, inst, gpus_per_replica).nodes
        serving, total = replicas * ipr, (replicas + redundancy) * ipr
    if per_gpu is not None:
        usd, source = per_gpu[0] * inst.gpus, f"{per_gpu[1]} x {inst.gpus} GPUs per {inst.type}"
    else:
        usd, source = _instance_price(inst, pricing, rates)
    return NodePlan("instance", inst.type, inst.gpus, ipr, rpi, serving, total - serving, usd, source)


def instance_hourly_usd(instance_type: str, pricing: str, book=None) -> float:
    """What one instance costs per hour at a capacity type (a price book's per-GPU price wins)."""
    inst = catalog.instance(instance_type, "instance_type")
    per_gpu = book.gpu_hourly(inst.gpu, pricing) if book is not None else None
    if per_gpu is not None:
        return per_gpu[0] * inst.gpus
    return _instance_price(inst, pricing, _DEFAULT_RATES)[0]


@dataclass(frozen=True)
class CommitmentOffer:
    """What a commitment would do for nodes priced on-demand under a reserved capacity type.

    covers_usd_hr: the on-demand spend per hour it must cover (every node of the plan);
    commit_usd_hr: the hourly commitment that covers it at the discount; saves_usd_month: the difference a month.
    """

    pricing: str
    discount: float
    covers_usd_hr: float
    commit_usd_hr: float
    saves_usd_month: float
    source: str

    def to_dict(self) -> dict:
        return {"pricing": self.pricing, "discount": self.discount, "covers_usd_hr": round(self.covers_usd_hr, 4),
                "commit_usd_hr": round(self.commit_usd_hr, 4), "saves_usd_month": round(self.saves_usd_month, 2),
                "source": self.source}


def commitment_offer(plan: NodePlan, pricing: str, rates: Rates | None = None) -> CommitmentOffer:
    """The Savings Plan / Reserved Instances that would bill an on-demand plan at `pricing`'s discount."""
    rates = rates or _DEFAULT_RATES
    discount = rates.reserved_discount[pricing]
    covers = plan.units * plan.unit_usd_hr
    hours = catalog.assumptions()["hours_per_month"]
    return CommitmentOffer(pricing, discount, covers, covers * (1 - discount), covers * discount * hours,
                           f"{plan.units} x {plan.instance_type or 'GPU'} at ${plan.unit_usd_hr:g}/h on-demand; "
                           f"{discount:.0%} {pricing} discount ({catalog.assumptions()['reserved_discount']['source']}); "
                           f"{hours} h/month")


def zone_spread(units: int, zones: int) -> list[int]:
    """Whole units over zones as evenly as possible, the first zones taking the remainder (as the
    program places one node group per zone)."""
    base, extra = divmod(units, zones)
    return [base + (1 if i < extra else 0) for i in range(zones)]


def replicas_after_zone_loss(plan: NodePlan, total_replicas: int, zones: int) -> int:
    """Replicas still running when the zone holding the most units is lost (one zone: none).

    Instances: a lost instance takes the replicas packed on it. A replica spanning several instances is a
    group kept whole in one zone (its nodes talk every step; infra/placement.py places whole groups), so the
    groups spread over the zones. Per-GPU billing: the replicas themselves spread over the zones."""
    if plan.billing == "gpu" or plan.instances_per_replica > 1:
        return total_replicas - max(zone_spread(total_replicas, zones))
    return max(0, total_replicas - max(zone_spread(plan.units, zones)) * plan.replicas_per_instance)

"""Monthly total cost of ownership as named line items: quantity x unit price, with a source each."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

from cost import catalog
from cost.pricing.nodes import NodePlan


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: float
    unit: str
    unit_usd: float
    source: str

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_usd

    def to_dict(self) -> dict:
        return {"name": self.name, "quantity": round(self.quantity, 4), "unit": self.unit,
                "unit_usd": round(self.unit_usd, 6), "monthly_usd": round(self.monthly_usd, 2), "source": self.source}


def _defaults() -> dict:
    return catalog.assumptions()["overheads"]


@dataclass(frozen=True)
class Overheads:
    """Non-GPU costs, each overridable. Per deployment: storage, ops tax. Per stack: staff, monitoring."""

    storage_gib_per_node: float = _defaults()["storage"]["gib_per_node"]
    storage_usd_per_gib_month: float = _defaults()["storage"]["usd_per_gib_month"]
    ops_tax_share: float = _defaults()["ops_tax"]["share"]
    mlops_fte: float = _defaults()["mlops_staff"]["fte"]
    usd_per_fte_month: float = _defaults()["mlops_staff"]["usd_per_fte_month"]
    monitoring_usd_per_month: float = _defaults()["monitoring"]["usd_month"]

    @classmethod
    def none(cls) -> Overheads:
        """GPU hours only (failover replicas are GPUs and stay): no storage, ops tax, staff or monitoring."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def deployment_items(plan: NodePlan, overheads: Overheads, label: str = "") -> list[LineItem]:
    """GPU hours, failover capacity, storage and ops tax for one deployment."""
    return list(_deployment_items(plan, overheads, label))


@lru_cache(maxsize=4096)
def _deployment_items(plan: NodePlan, overheads: Overheads, label: str) -> tuple[LineItem, ...]:
    """deployment_items' lines, kept for the process: a pure function of the (immutable) plan and overheads and the
    catalog; the same plan recurs across a search's precisions, models and workloads."""
    hours = catalog.assumptions()["hours_per_month"]
    unit = f"{plan.instance_type} instance-hour" if plan.billing == "instance" else "GPU-hour"
    prefix = f"{label}: " if label else ""
    items = [LineItem(f"{prefix}GPU compute", plan.serving_units * hours, unit, plan.unit_usd_hr,
                      f"{plan.serving_units} x {hours} h; {plan.unit_source}")]
    if plan.failover_units:
        items.append(LineItem(f"{prefix}Failover capacity", plan.failover_units * hours, unit, plan.unit_usd_hr,
                              f"{plan.failover_units} redundancy unit(s) x {hours} h; {plan.unit_source}"))
    if overheads.storage_gib_per_node:
        storage = _defaults()["storage"]
        items.append(LineItem(f"{prefix}Model storage", plan.nodes * overheads.storage_gib_per_node, "GiB-month",
                              overheads.storage_usd_per_gib_month,
                              f"{plan.nodes} node(s) x {overheads.storage_gib_per_node:g} GiB; {storage['source']}"))
    if overheads.ops_tax_share:
        base = sum(i.monthly_usd for i in items)
        items.append(LineItem(f"{prefix}Ops tax", base, "USD of infrastructure", overheads.ops_tax_share,
                              f"{overheads.ops_tax_share:.0%} of GPU, failover and storage; {_defaults()['ops_tax']['source']}"))
    return tuple(items)


def stack_items(overheads: Overheads) -> list[LineItem]:
    """Once per stack, however many models it serves: MLOps staff and monitoring."""
    return list(_stack_items(overheads))


@lru_cache(maxsize=256)
def _stack_items(overheads: Overheads) -> tuple[LineItem, ...]:
    """stack_items' lines, kept for the process: a pure function of the (immutable) overheads and the catalog."""
    items = []
    if overheads.mlops_fte:
        items.append(LineItem("MLOps staff", overheads.mlops_fte, "FTE-month", overheads.usd_per_fte_month,
                              _defaults()["mlops_staff"]["source"]))
    if overheads.monitoring_usd_per_month:
        items.append(LineItem("Monitoring", 1, "month", overheads.monitoring_usd_per_month,
                              _defaults()["monitoring"]["source"]))
    return tuple(items)

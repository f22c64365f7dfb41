"""Instance store and EFA per GPU instance type (cost/data/instance-hardware.yaml, dated and sourced)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cost.catalog import DATA, load_yaml

GIB_PER_GB = 1e9 / 2**30


@dataclass(frozen=True)
class Hardware:
    instance_type: str
    store_volumes: int        # NVMe instance-store volumes (0: EBS only)
    store_gb_each: int
    efa_interfaces: int       # EFA network interfaces the instance takes (0: no EFA)
    source: str

    @property
    def store_gib(self) -> float:
        """All instance-store volumes together (a RAID0 array of them), in GiB."""
        return self.store_volumes * self.store_gb_each * GIB_PER_GB


@cache
def _data() -> dict:
    with open(DATA / "instance-hardware.yaml", encoding="utf-8") as fh:
        return load_yaml(fh)


def hardware(instance_type: str) -> Hardware:
    """The instance's local NVMe and EFA; an instance type not in the file has neither."""
    d = _data()
    row = d["instances"].get(instance_type)
    source = f"{d['source'].strip()} (checked {d['checked']})"
    if row is None:
        return Hardware(instance_type, 0, 0, 0, "not listed in cost/data/instance-hardware.yaml: EBS only, no EFA")
    volumes, gb = row.get("instance_store") or (0, 0)
    return Hardware(instance_type, int(volumes), int(gb), int(row.get("efa", 0)), source)

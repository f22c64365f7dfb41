"""Availability Zones by zone ID: where the stack's GPU instance types are sold and EKS can run.

Zone *names* map to different physical zones in every AWS account, p4de/p5 are sold in a few zones
only, and EKS cannot place a control plane in some zones (use1-az3, usw1-az2, cac1-az3). So the
program asks AWS, through two invokes the real engine answers and the mock engine answers from
infra/data/zones.yaml: `aws.get_availability_zones` (names <-> IDs of this account) and
`aws.ec2.get_instance_type_offerings(location_type="availability-zone-id")` per GPU instance type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cost.catalog import load_yaml
from cost.errors import InputError
from infra.config.spec import ClusterSpec, P

DATA = Path(__file__).resolve().parents[1] / "data" / "zones.yaml"


@cache
def catalog() -> dict:
    """The offline answers (infra/data/zones.yaml): also the list of zones EKS does not support."""
    with open(DATA, encoding="utf-8") as fh:
        return load_yaml(fh)


def eks_unsupported() -> set[str]:
    return set(catalog()["eks_unsupported"])


@dataclass(frozen=True)
class Zone:
    slot: str        # the spec's zone entry (its name, or a placeholder when the spec names none)
    name: str        # this account's name for it
    zone_id: str


def offered(instance_type: str, region: str) -> set[str]:
    """Zone IDs of the region that sell the instance type (invoke)."""
    import pulumi_aws as aws

    res = aws.ec2.get_instance_type_offerings(
        location_type="availability-zone-id", region=region,
        filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[instance_type])])
    return set(res.locations)


def resolve(cluster: ClusterSpec, instance_types: list[str]) -> list[Zone]:
    """The cluster's zones as zone IDs. Named zones are checked (EKS supports them, each GPU instance
    type is sold there); with none named, the first zone IDs that sell every GPU type and take EKS
    are chosen. Raises InputError naming breakeven:cluster.zones before any resource exists."""
    import pulumi_aws as aws

    key = f"{P}cluster.zones"
    azs = aws.get_availability_zones(state="available", region=cluster.region)
    name_to_id = dict(zip(azs.names, azs.zone_ids, strict=True))
    id_to_name = {v: k for k, v in name_to_id.items()}
    sells = {t: offered(t, cluster.region) for t in sorted(set(instance_types))}
    if cluster.zones_given:
        out = []
        for j, name in enumerate(cluster.zones):
            zid = name_to_id.get(name)
            if zid is None:
                raise InputError(f"{key}[{j}]", name, ", ".join(sorted(name_to_id)), "zones available to this account")
            if zid in eks_unsupported():
                raise InputError(f"{key}[{j}]", name, "a zone EKS supports",
                                 f"{name} is {zid}, where EKS cannot place a cluster (EKS User Guide)")
            out.append(Zone(name, name, zid))
        return out
    usable = [z for z in sorted(id_to_name) if z not in eks_unsupported() and all(z in s for s in sells.values())]
    if len(usable) < len(cluster.zones):
        raise InputError(key, None, f"{len(cluster.zones)} zones that sell {', '.join(sells)} and take EKS",
                         f"only {', '.join(usable) or 'none'} in {cluster.region}; name fewer zones or another region")
    return [Zone(slot, id_to_name[z], z) for slot, z in zip(cluster.zones, usable, strict=False)]


def pool_problems(zones: list[Zone], pools_by_type: dict[str, list[tuple[str, tuple[str, ...]]]],
                  region: str) -> list[tuple[str, str, str]]:
    """GPU node groups whose zones do not sell their instance type: (model key, instance type, where and
    what sells it), from `aws ec2 describe-instance-type-offerings --location-type availability-zone-id`."""
    by_slot = {z.slot: z for z in zones}
    out = []
    for itype, pools in pools_by_type.items():
        sells = offered(itype, region)
        missing: dict[str, list[str]] = {}   # model key -> its zones that do not sell the type
        for model_key, slots in pools:
            for s in slots:
                where = f"{by_slot[s].name} ({by_slot[s].zone_id})"
                if by_slot[s].zone_id not in sells and where not in missing.setdefault(model_key, []):
                    missing[model_key].append(where)
        out += [(key, itype, f"{', '.join(where)}; zones that sell it: {', '.join(sorted(sells)) or 'none in ' + region}")
                for key, where in missing.items() if where]
    return out

"""The platform bill (cost/pricing/platform.py) and the EKS support calendar (cost/catalog/eks.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from cost.catalog import eks
from cost.errors import InputError
from cost.pricing import platform

NOV_2026 = dt.date(2026, 11, 29)


def test_default_is_the_newest_version_in_standard_support():
    assert eks.default_version(NOV_2026) == "1.35"
    assert eks.default_version(dt.date(2025, 12, 1)) == "1.34"     # 1.35 not released yet
    assert eks.default_version(dt.date(2025, 6, 1)) == "1.33"


def test_a_version_past_extended_support_is_refused_naming_the_key():
    with pytest.raises(InputError) as info:
        eks.check("1.31", dt.date(2026, 12, 1), "breakeven:cluster.kubernetesVersion")
    e = info.value
    assert e.key == "breakeven:cluster.kubernetesVersion" and e.value == "1.31"
    assert '"1.35" (standard support)' in e.allowed and '"1.32" (extended support)' in e.allowed


def _q(version="1.35", nat=2, pools=()):
    return platform.Platform(version, nat, "m6i.large", 2, tuple(pools))


def _line(items, prefix):
    return next(i for i in items if i.name.startswith(prefix))


def test_an_older_version_pays_the_extended_support_rate():
    std = _line(platform.bill(_q("1.35"), NOV_2026), "EKS control plane")
    ext = _line(platform.bill(_q("1.33"), NOV_2026), "EKS control plane")
    assert "standard support" in std.name and std.monthly_usd == pytest.approx(73.0)       # $0.10 x 730 h
    assert "extended support" in ext.name and ext.monthly_usd == pytest.approx(438.0)      # $0.60 x 730 h


def test_volume_throughput_is_sized_to_write_the_weights_in_time():
    small = platform.root_volume(100, 16e9)            # 8B model: the gp3 baseline is enough
    assert (small.mibps, small.iops) == (125, 3000)
    two_70b = platform.root_volume(400, 2 * 132 * 2**30)
    assert two_70b.mibps == 451 and two_70b.iops == 3000    # 264 GiB in 600 s
    huge = platform.root_volume(900, 820e9)             # 405B: capped at gp3's 1,000 MiB/s, IOPS >= 4 x MiB/s
    assert (huge.mibps, huge.iops) == (1000, 4000)


def test_every_line_is_quantity_times_unit_price_with_a_source():
    pool = platform.GpuPool("chat", 2, platform.RootVolume(400, 451, 3000), 283.5)
    items = platform.bill(_q(pools=[pool]), NOV_2026)
    for i in items:
        assert i.source and i.monthly_usd == pytest.approx(i.quantity * i.unit_usd)
    assert _line(items, "NAT gateways").quantity == 2 * 730
    # Each node re-downloads its weights and a 10 GB image twice a month (stated assumptions).
    assert _line(items, "NAT data processed").quantity == pytest.approx(2 * 2 * (283.5 + 10))
    assert _line(items, "GPU root volumes: throughput").quantity == 2 * (451 - 125)
    assert not any(i.name.startswith("GPU root volumes: IOPS") for i in items)
    assert platform.monthly_usd(items) == pytest.approx(sum(i.monthly_usd for i in items))


def test_an_unpriced_system_instance_type_is_refused():
    with pytest.raises(InputError) as info:
        platform.bill(platform.Platform("1.35", 1, "x9.huge", 1), NOV_2026, key="breakeven:cluster")
    assert info.value.key == "breakeven:cluster.systemNodes.instanceType" and "m6i.large" in info.value.allowed

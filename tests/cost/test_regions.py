"""The AWS Regions catalog: dated, sourced, and spelled as AWS spells it."""

from __future__ import annotations

import re

import pytest

from cost.catalog import _load, regions
from cost.errors import InputError


def test_catalog_is_dated_and_sourced():
    doc = _load("regions.yaml")
    assert doc["source"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(doc["checked"]))
    assert "aws-availability-zones" in (regions.regions()["us-east-1"].source + str(doc["source"]))


def test_zone_names_and_az_ids_follow_aws_spelling():
    for code, r in regions.regions().items():
        assert re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", code)
        assert len(r.zones) >= 2 and all(re.fullmatch(re.escape(code) + r"[a-z]", z) for z in r.zones)
        # AZ IDs: a short region prefix ending in the region number (use1, apse2), then -az<n>
        assert all(re.fullmatch(r"[a-z]{3,5}\d-az\d+", a) and a.split("-az")[0][-1] == code[-1] for a in r.az_ids)


def test_unknown_regions_and_zones_are_refused():
    assert regions.region("us-east-1").name == "US East (N. Virginia)"
    with pytest.raises(InputError) as err:
        regions.region("us-fake-9", "cluster.region")
    assert err.value.key == "cluster.region" and "us-east-1" in err.value.allowed
    with pytest.raises(InputError) as err:
        regions.zone("us-east-1z", "us-east-1", "cluster.zones[1]")
    assert err.value.key == "cluster.zones[1]" and "us-east-1f" in err.value.allowed
    assert regions.zone("us-west-2d", "us-west-2") == "us-west-2d"

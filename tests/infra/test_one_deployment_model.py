"""One deployment model (cost.deployment.DeploymentFields): its aliases are the stack-config keys, so an error
cost raises about a deployment value is named as the stack file spells it."""

from __future__ import annotations

import pytest

from cost.deployment import Deployment, DeploymentFields
from cost.errors import InputError
from infra.config import schema
from infra.config.spec import P
from tests.infra.conftest import load_spec, stack_value


def _paths(model, prefix: str = "") -> set[str]:
    """Every key path of a config section, nested sections included (`redundancy.spares`)."""
    out = set()
    for f in model.model_fields.values():
        out.add(prefix + f.alias)
        for arg in (f.annotation, *getattr(f.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, schema.Section):
                out |= _paths(arg, f"{prefix}{f.alias}.")
    return out


def test_every_deployment_alias_is_a_stack_key_but_the_estimate_only_ones():
    keys = _paths(schema.Model)
    aliases = {f.alias for f in DeploymentFields.model_fields.values()}
    assert aliases - keys == {"hourlyUsdPerGpu", "concurrency", "capacityTokensPerMonth"}


def test_a_cost_error_about_a_deployment_value_names_the_stack_key():
    """Spot on an instance with no spot price is refused by cost's node pricing (argument `pricing`)."""
    models = stack_value("dev", f"{P}models")
    models[0].update({"instanceType": "p5.4xlarge", "tensorParallel": 1, "capacityType": "spot"})
    models[0].pop("gpu", None)
    with pytest.raises(InputError) as info:
        load_spec("dev", {f"{P}models": models})
    assert info.value.key == f"{P}models[0].capacityType" and "no spot price" in info.value.detail, info.value


@pytest.mark.parametrize("field,value,allowed", [
    ("gpus_per_replica", 0, "a whole number, from 1 to 64"),
    ("replicas", 2.5, "a whole number, from 1 to 1000"),
    ("redundancy", -1, "a whole number, from 0 to 1000"),
    ("hourly_usd_per_gpu", 0, "a positive price per GPU-hour in USD, at most 1000"),
    ("capacity_tokens_per_month", float("nan"), "a positive token volume"),
    ("gpu_memory_utilization", 1.0, "a fraction from 0.1 to 0.99"),
    ("concurrency", 0, "a whole number of concurrent requests, from 1 to 65536"),
    ("max_model_len", 16.5, "a whole number of tokens, from 16"),
    ("expert_parallel", "yes", "true or false"),
    ("zones", 7, "a whole number, from 1 to 6"),
    ("colour", "blue", "a known key"),
])
def test_a_bad_value_is_refused_before_the_catalogs_are_asked(field, value, allowed):
    """The value checks come from the model: even with a model id the catalog lacks, the bad value is named."""
    with pytest.raises(InputError) as info:
        Deployment.build(model="no-such-model", gpu="L4", **{field: value})
    assert info.value.key == field and allowed in info.value.allowed, info.value


@pytest.mark.parametrize("length", [8, 10**6])
def test_a_length_outside_the_context_names_the_model_context(length):
    with pytest.raises(InputError) as info:
        Deployment.build(model="llama-3.1-8b", gpu="L4", max_model_len=length)
    assert info.value.key == "max_model_len" and "from 16 to 131072 (llama-3.1-8b's context)" in info.value.allowed

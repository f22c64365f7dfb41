"""The economics codec carries the serving choices a stack can state: KV cache dtype, expert parallelism,
vLLM's API-server count and the prefix-cache hit rate, on every surface (dict, the workload annotation, node-group tags)."""

from __future__ import annotations

import json

import pytest

from cost.deployment import Deployment
from cost.economics import ANNOTATION, Economics, StackEconomics
from cost.errors import InputError
from cost.workload import Workload


def _moe() -> Economics:
    d = Deployment.build(model="qwen3-30b-a3b", instance_type="g6e.12xlarge", gpus_per_replica=2, replicas=1,
                         kv_cache_dtype="fp8", expert_parallel=True, api_servers=3, name="moe")
    w = Workload.build(2e9, avg_input_tokens=3000, avg_output_tokens=300, prefix_cache_hit_rate=0.6)
    return Economics(d, w, StackEconomics(stack="s", production=True))


def test_every_surface_carries_the_serving_choices():
    e = _moe()
    for back in (Economics.from_dict(e.to_dict()), Economics.from_json(e.to_json()), Economics.from_tags(e.to_tags())):
        assert (back.deployment.kv_cache_dtype, back.deployment.expert_parallel) == ("fp8", True)
        assert back.deployment.api_servers == 3
        assert back.workload.prefix_cache_hit_rate == 0.6
        assert (back.deployment, back.workload) == (e.deployment, e.workload)


def test_a_version_1_annotation_without_them_reads_as_the_defaults():
    doc = _moe().to_dict()
    for key in ("kv_cache_dtype", "expert_parallel", "api_servers"):
        doc["deployment"].pop(key)
    doc["workload"].pop("prefix_cache_hit_rate")
    e = Economics.from_json(json.dumps(doc))
    assert (e.deployment.kv_cache_dtype, e.deployment.expert_parallel, e.deployment.api_servers,
            e.workload.prefix_cache_hit_rate) == ("auto", False, 1, 0.0)


@pytest.mark.parametrize("path,value,key,allowed", [
    ("deployment.kv_cache_dtype", "int8", "deployment.kv_cache_dtype", "auto, fp8"),
    ("deployment.expert_parallel", "yes", "deployment.expert_parallel", "true or false"),
    ("deployment.gpus_per_replica", 1, "deployment.expert_parallel", "2 or more GPUs per replica"),
    ("deployment.model", "llama-3.1-8b", "deployment.expert_parallel", "false for a dense model"),
    ("deployment.api_servers", 0, "deployment.api_servers", "a whole number, from 1 to 64"),
    ("deployment.api_servers", -1, "deployment.api_servers", "a whole number, from 1 to 64"),
    ("deployment.api_servers", "two", "deployment.api_servers", "a whole number, from 1 to 64"),
    ("deployment.api_servers", True, "deployment.api_servers", "a whole number, from 1 to 64"),
    ("deployment.api_servers", 1.5, "deployment.api_servers", "a whole number, from 1 to 64"),
    ("deployment.api_servers", 65, "deployment.api_servers", "a whole number, from 1 to 64"),
    ("workload.prefix_cache_hit_rate", 1.0, "workload.prefix_cache_hit_rate", "[0, 1)"),
    ("workload.prefix_cache_hit_rate", -0.1, "workload.prefix_cache_hit_rate", "[0, 1)"),
    ("workload.prefix_cache_hit_rate", "half", "workload.prefix_cache_hit_rate", "[0, 1)"),
])
def test_bad_values_in_an_annotation_name_their_key(path, value, key, allowed):
    doc = _moe().to_dict()
    part, field = path.split(".")
    doc[part][field] = value
    with pytest.raises(InputError) as info:
        Economics.from_json(json.dumps(doc))
    assert info.value.key == f"{ANNOTATION}.{key}" and allowed in info.value.allowed, info.value


@pytest.mark.parametrize("value", ["1e300", "-1e19", "nan", "1e400"])
def test_a_number_beyond_range_is_refused_on_every_surface(value):
    """A node-group tag (or annotation) edited to an extreme number stops where it is read, naming its path."""
    tags = _moe().to_tags()
    key = next(k for k in tags if k.endswith("workload.tokens_per_month"))
    with pytest.raises(InputError) as err:
        Economics.from_tags({**tags, key: value})
    assert err.value.key == "tags." + key.replace("/economics/", "/economics.")
    doc = _moe().to_dict()
    doc["workload"]["tokens_per_month"] = float(value)
    with pytest.raises(InputError) as err:
        Economics.from_json(json.dumps(doc))
    assert err.value.key == f"{ANNOTATION}.workload.tokens_per_month"

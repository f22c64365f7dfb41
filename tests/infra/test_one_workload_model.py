"""One workload model (cost.workload.WorkloadFields) on every surface: the same bad value is refused with the
same words on a stack file, the economics annotation and `Workload.build`, each naming the key in its own spelling."""

from __future__ import annotations

import pytest

from cost.deployment import Deployment
from cost.economics import ANNOTATION, Economics
from cost.errors import InputError
from cost.workload import Workload
from infra.config.spec import P
from tests.infra.conftest import load_spec, stack_value


def _stack_error(field: str, value) -> InputError:
    models = stack_value("dev", f"{P}models")
    models[0]["workload"][field] = value
    with pytest.raises(InputError) as info:
        load_spec("dev", {f"{P}models": models})
    return info.value


def _annotation_error(field: str, value) -> InputError:
    d = Deployment.build(model="llama-3.1-8b", gpu="L4", name="chat")
    doc = Economics(d, Workload.build(1e9)).to_dict()
    doc["workload"][field] = value
    with pytest.raises(InputError) as info:
        Economics.from_dict(doc)
    return info.value


def _build_error(field: str, value) -> InputError:
    with pytest.raises(InputError) as info:
        Workload.build(1e9, **{field: value})
    return info.value


@pytest.mark.parametrize("name,alias,value", [
    ("utilization", "utilization", 1.5),
    ("avg_input_tokens", "avgInputTokens", 0),
    ("avg_output_tokens", "avgOutputTokens", 2.5),
    ("prefix_cache_hit_rate", "prefixCacheHitRate", 1.0),
    ("input_share", "inputShare", 1.0),
])
def test_a_bad_workload_value_reads_the_same_on_every_surface(name, alias, value):
    from_build = _build_error(name, value)
    assert from_build.key == name
    from_stack = _stack_error(alias, value)
    assert from_stack.key == f"{P}models[0].workload.{alias}"
    assert from_stack.allowed == from_build.allowed
    if name != "input_share":   # the wire writes the request size, not the share
        from_annotation = _annotation_error(name, value)
        assert from_annotation.key == f"{ANNOTATION}.workload.{name}"
        assert from_annotation.allowed == from_build.allowed


def test_a_share_that_disagrees_with_the_request_is_named_in_the_stack_spelling():
    models = stack_value("dev", f"{P}models")
    models[0]["workload"].update({"inputShare": 0.9, "avgInputTokens": 600, "avgOutputTokens": 400})
    with pytest.raises(InputError) as info:
        load_spec("dev", {f"{P}models": models})
    assert info.value.key == f"{P}models[0].workload.inputShare"
    assert "the share the request size implies (0.600)" in info.value.allowed


def test_a_whole_number_written_with_a_point_is_one_on_every_surface():
    """600.0 tokens is 600 tokens, in a stack file as in cost's arguments."""
    models = stack_value("dev", f"{P}models")
    models[0]["workload"].update({"avgInputTokens": 600.0, "avgOutputTokens": 400})
    models[0]["workload"].pop("inputShare", None)
    assert load_spec("dev", {f"{P}models": models}).models[0].workload.avg_input_tokens == 600
    assert Workload.build(1e9, avg_input_tokens=600.0, avg_output_tokens=400).avg_input_tokens == 600

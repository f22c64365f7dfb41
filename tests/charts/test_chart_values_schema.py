"""Bad values fail at `helm template`, with a message that names the key.

Most checks live in values.schema.json (helm prints "at '/key/path': <rule>");
arithmetic across keys that JSON Schema cannot express (tensor x pipeline against
the GPUs of a node, RWO caches with many replicas, autoscaling bounds) is checked
in _helpers.tpl with `fail` and an explanatory sentence.
"""

from __future__ import annotations

import json

import pytest
from chartkit import CHART


def test_schema_is_valid_json_schema():
    import jsonschema  # noqa: PLC0415  (comes with kubernetes-validate)

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("sets,set_strings,expected", [
    # negative / zero replicas
    ({"replicaCount": -1}, {}, ["/replicaCount", "minimum"]),
    ({"replicaCount": 0}, {}, ["/replicaCount", "minimum"]),
    # API key required but no Secret named
    ({}, {"secrets.apiKey.secretName": ""}, ["/secrets/apiKey/secretName", "minLength"]),
    # tensor parallelism that does not divide (nor is a multiple of) the GPUs of a node
    ({"gpu.gpusPerNode": 4, "parallelism.tensor": 3}, {}, ["/parallelism/tensor", "1, 2, 4, 8, 12"]),
    ({"gpu.gpusPerNode": 8, "parallelism.tensor": 6}, {}, ["/parallelism/tensor"]),
    ({"gpu.gpusPerNode": 3}, {}, ["/gpu/gpusPerNode"]),
    ({"parallelism.tensor": 0}, {}, ["/parallelism/tensor", "minimum"]),
    # enums and formats
    ({}, {"model.precision": "int8"}, ["/model/precision", "bf16"]),
    ({}, {"economics": "lots"}, ["/economics", "pattern"]),
    ({}, {"model.name": "Llama_3.1"}, ["/model/name"]),
    ({"engine.gpuMemoryUtilization": 1.5}, {}, ["/engine/gpuMemoryUtilization", "maximum"]),
    ({"model.weightsGiB": 0}, {}, ["/model/weightsGiB"]),
    ({}, {"availability.nodeSpread": "Maybe"}, ["/availability/nodeSpread"]),
    ({}, {"engine.kvCacheDtype": "int8"}, ["/engine/kvCacheDtype", "auto"]),
    ({}, {"engine.expertParallel": "yes"}, ["/engine/expertParallel", "boolean"]),
    ({"engine.apiServerCount": 0}, {}, ["/engine/apiServerCount", "minimum"]),
    ({"engine.apiServerCount": 65}, {}, ["/engine/apiServerCount", "maximum"]),
    ({"engine.apiServerCount": 1.5}, {}, ["/engine/apiServerCount", "integer"]),
    ({}, {"engine.apiServerCount": "two"}, ["/engine/apiServerCount", "integer"]),
    # typos are caught, not ignored
    ({"replicas": 2}, {}, ["replicas"]),
    ({"gpu.enable": True}, {}, ["/gpu", "enable"]),
    # secrets never as plain values or flags
    ({}, {"model.extraArgs[0]": "--api-key=hunter2"}, ["/model/extraArgs/0"]),
    ({}, {"server.extraEnv[0].name": "HF_TOKEN", "server.extraEnv[0].value": "hf_abc"}, ["/server/extraEnv/0"]),
    ({}, {"server.extraEnv[0].name": "MY_API_KEY", "server.extraEnv[0].value": "x"}, ["/server/extraEnv/0"]),
])
def test_schema_rejects(render_error, sets, set_strings, expected):
    err = render_error(set=sets, set_string=set_strings)
    assert "values don't meet the specifications of the schema" in err, err
    for fragment in expected:
        assert fragment in err, err


def test_production_requires_redundancy(render_error):
    err = render_error(set={"replicaCount": 1, "availability.production": True})
    assert "/replicaCount" in err and "want 2" in err, err


@pytest.mark.parametrize("sets,message", [
    ({"gpu.gpusPerNode": 4, "parallelism.tensor": 2, "parallelism.pipeline": 3},
     "tensor (2) x pipeline (3) = 6 GPUs per replica spans nodes of gpu.gpusPerNode=4"),
    ({"gpu.gpusPerNode": 8, "parallelism.tensor": 2, "parallelism.pipeline": 3},
     "= 6 GPUs per replica does not divide gpu.gpusPerNode=8"),
    ({"rollout.maxSurge": 0, "rollout.maxUnavailable": 0},
     "maxSurge and maxUnavailable cannot both be 0"),
    ({"engine.expertParallel": True}, "engine.expertParallel=true needs tensor x pipeline >= 2 GPUs per replica (got 1)"),
])
def test_template_checks_reject(render_error, sets, message):
    err = render_error(set=sets)
    assert message in err, err


@pytest.mark.parametrize("sets", [
    {"gpu.gpusPerNode": 8, "parallelism.tensor": 8, "parallelism.pipeline": 2},   # 2 nodes
    {"gpu.gpusPerNode": 4, "parallelism.tensor": 4, "parallelism.pipeline": 3},   # 3 nodes
    {"gpu.gpusPerNode": 8, "parallelism.tensor": 2, "parallelism.pipeline": 2},   # 4 of 8
    {"gpu.gpusPerNode": 1, "parallelism.tensor": 1, "parallelism.pipeline": 2},   # PP over 2 nodes
])
def test_valid_parallelism_renders(render, sets):
    r = render(set=sets)
    world = sets["parallelism.tensor"] * sets["parallelism.pipeline"]
    per_node = sets["gpu.gpusPerNode"]
    if world > per_node:
        lws = r.one("LeaderWorkerSet")
        assert lws["spec"]["leaderWorkerTemplate"]["size"] == world // per_node
    else:
        r.one("Deployment")


def test_cpu_values_skip_gpu_divisibility(render):
    # On CPU nodes GPU arithmetic does not apply.
    r = render("cpu", set={"parallelism.tensor": 2})
    assert r.workload["kind"] == "Deployment"


def test_api_key_may_be_left_out_only_explicitly(render):
    r = render(set={"secrets.apiKey.required": False}, set_string={"secrets.apiKey.secretName": ""})
    assert r.workload["kind"] == "Deployment"


def test_empty_economics_render_no_annotation(render):
    meta = render(set_string={"economics": ""}).workload["metadata"]
    assert "breakeven.dev/economics" not in (meta.get("annotations") or {})


def test_plain_set_with_decimals_works(helm):
    """`helm --set x=0.85` passes the string "0.85": accepted, converted, range-checked."""
    import subprocess  # noqa: PLC0415

    base = [helm, "template", "rel", str(CHART)]
    ok = subprocess.run(base + ["--set", "engine.gpuMemoryUtilization=0.85", "--set", "model.weightsGiB=70.5"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "--gpu-memory-utilization=0.85" in ok.stdout
    assert "failureThreshold: 130" in ok.stdout  # ceil((240 + 15 x 70.5) / 10)
    bad = subprocess.run(base + ["--set", "engine.gpuMemoryUtilization=1.5"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0
    assert "engine.gpuMemoryUtilization=1.5 must be in (0, 1]" in bad.stderr

import pytest

from cost.deployment import Deployment
from cost.errors import InputError
from cost.pricing.nodes import plan_nodes


def test_replicas_pack_onto_multi_gpu_instances():
    # 3 replicas of TP=2 on p5.48xlarge (8 GPUs): 4 replicas per instance -> one instance.
    p = plan_nodes(Deployment.build(model="llama-3.1-70b", instance_type="p5.48xlarge", gpus_per_replica=2, replicas=3))
    assert (p.replicas_per_instance, p.serving_units, p.failover_units, p.gpus) == (4, 1, 0, 8)
    assert p.unit_usd_hr == pytest.approx(55.04)


def test_failover_replica_adds_an_instance_only_when_it_does_not_pack():
    p = plan_nodes(Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=2, redundancy=1))
    assert p.instance_type == "g6.xlarge" and (p.serving_units, p.failover_units) == (2, 1)
    p = plan_nodes(Deployment.build(model="llama-3.1-70b", instance_type="p5.48xlarge", gpus_per_replica=2, replicas=3, redundancy=1))
    assert (p.serving_units, p.failover_units) == (1, 0)


def test_multi_node_replica():
    p = plan_nodes(Deployment.build(model="llama-3.1-405b", instance_type="p5.48xlarge", gpus_per_replica=16, replicas=1, redundancy=1))
    assert (p.instances_per_replica, p.serving_units, p.failover_units) == (2, 2, 2)


def test_spot_is_the_midpoint_and_reserved_a_stated_discount():
    spot = plan_nodes(Deployment.build(model="llama-3.1-8b", instance_type="g6.xlarge", pricing="spot"))
    assert spot.unit_usd_hr == pytest.approx(0.375) and "midpoint" in spot.unit_source
    r1 = plan_nodes(Deployment.build(model="llama-3.1-8b", instance_type="g6.xlarge", pricing="reserved-1y"))
    assert r1.unit_usd_hr == pytest.approx(0.8048 * 0.7) and "assumption" in r1.unit_source


def test_hourly_override_bills_per_gpu():
    p = plan_nodes(Deployment.build(model="llama-3.1-70b", gpu="A100-80GB", gpus_per_replica=2, hourly_usd_per_gpu=3.0))
    assert (p.billing, p.units, p.unit_usd_hr) == ("gpu", 2, 3.0)


def test_no_price_is_an_error_naming_the_key():
    with pytest.raises(InputError) as err:
        plan_nodes(Deployment.build(model="llama-3.1-8b", instance_type="p5.4xlarge", pricing="spot"))
    assert err.value.key == "pricing"
    with pytest.raises(InputError) as err:
        plan_nodes(Deployment.build(model="llama-3.1-8b", gpu="RTX-4090"))
    assert err.value.key == "gpu"


@pytest.mark.parametrize("kwargs,key", [
    ({"model": "gpt-9"}, "model"), ({"gpu": "V100"}, "gpu"), ({"replicas": 0}, "replicas"),
    ({"precision": "int3"}, "precision"), ({"pricing": "free"}, "pricing"), ({"gpus_per_replica": 1.5}, "gpus_per_replica"),
    ({"instance_type": "g6.xlarge", "gpu": "H100"}, "gpu"), ({"hourly_usd_per_gpu": -1}, "hourly_usd_per_gpu"),
])
def test_deployment_rejects(kwargs, key):
    base = {"model": "llama-3.1-8b", "gpu": "L4"} | kwargs
    with pytest.raises(InputError) as err:
        Deployment.build(**base)
    assert err.value.key == key

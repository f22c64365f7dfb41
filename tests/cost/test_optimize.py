from cost import capacity, catalog
from cost.deployment import Deployment
from cost.optimize import cheapest_alternative, gpu_monthly_usd
from cost.workload import Workload


def test_cheapest_configuration_fits_serves_and_undercuts_an_oversized_one():
    w = Workload.build(500e6, avg_input_tokens=600, avg_output_tokens=400, utilization=0.7)
    big = Deployment.build(model="llama-3.1-8b", instance_type="p5.48xlarge", gpus_per_replica=1, replicas=1)
    alt = cheapest_alternative(big, w)
    assert alt is not None
    d = alt.deployment
    assert capacity.memory_fit(catalog.model(d.model), catalog.gpu(d.gpu), d.gpus_per_replica, d.precision, 1000).fits
    assert alt.gpu_monthly_usd < gpu_monthly_usd(big) / 10


def test_latency_target_excludes_slow_hardware():
    w = Workload.build(100e6, avg_input_tokens=600, avg_output_tokens=400, tpot_target_s=0.015)
    alt = cheapest_alternative(Deployment.build(model="llama-3.1-8b", gpu="L4"), w)
    assert alt is None or alt.tpot_s <= 0.015 and alt.deployment.gpu != "L4"

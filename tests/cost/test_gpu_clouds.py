"""Other GPU clouds: the same deployment priced on Lambda, RunPod, ... with the same capacity model and
overheads (`--clouds`), and what AWS costs extra against the cheapest comparable GPU. AWS is what deploys."""

import json

import pytest

from breakeven.cli import main
from cost import catalog
from cost.decide.optimize import Constraints, optimize
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.pricing import gpu_clouds
from cost.report_model import DEPLOYS_AWS_ONLY, estimate_document
from cost.workload import Workload

HOURS = 730
W = Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400)


def test_optimize_clouds_returns_other_clouds_configurations_with_their_source_dates(capsys):
    """The startup's story: `optimize --clouds all` lists non-AWS configurations, each with its price's
    source URL and the date it was read, and says the Pulumi program deploys AWS only."""
    args = ["optimize", "--model", "llama-3.1-70b", "--tokens-per-month", "3B", "--avg-input-tokens", "600",
            "--avg-output-tokens", "400", "--clouds", "all", "--top", "20", "--format", "json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    others = [c for c in doc["configurations"] if c["cloud"] != "aws"]
    assert others and doc["deploys"] == DEPLOYS_AWS_ONLY
    for c in others:
        assert c["cloud"] in gpu_clouds.cloud_ids() and c["instance_type"] is None
        assert c["checked"] and f"read {c['checked']}" in c["source"] and "https://" in c["source"]
    assert all(c["checked"] is None for c in doc["configurations"] if c["cloud"] == "aws")
    assert main(args[:-2]) == 0
    out = capsys.readouterr().out
    assert "Cloud" in out.splitlines()[1] and "Price elsewhere:" in out and DEPLOYS_AWS_ONLY in out


def test_a_rented_configuration_bills_the_replicas_gpus_at_the_listed_price_with_the_same_overheads():
    found = optimize("llama-3.1-8b", W, Constraints(clouds=("runpod",), gpus=("H100",), pricings=("on-demand",)), top=None)
    assert found and {c.cloud for c in found} == {"runpod"}
    for c in found:
        gpu_items = [i for i in c.estimate.line_items if i.name == "GPU compute"]
        d = c.deployment
        assert gpu_items[0].monthly_usd == pytest.approx(d.replicas * d.gpus_per_replica * HOURS * c.offer.usd_per_gpu_hour)
        assert {i.name for i in c.estimate.line_items} >= {"MLOps staff", "Monitoring"}   # the same overheads
    cheapest = min(o.usd_per_gpu_hour for o in gpu_clouds.offers() if o.cloud == "runpod" and o.gpu == "H100")
    assert found[0].offer.usd_per_gpu_hour == cheapest


def test_without_clouds_the_search_stays_on_aws():
    assert {c.cloud for c in optimize("llama-3.1-8b", W, top=5)} == {"aws"}
    assert {c.cloud for c in optimize("llama-3.1-8b", W, Constraints(clouds=("aws",)), top=5)} == {"aws"}


def test_a_bad_cloud_names_the_key_the_value_and_what_is_allowed(capsys):
    with pytest.raises(InputError) as err:
        Constraints(clouds="aws,azure").check()
    assert "azure" in str(err.value) and "lambda" in str(err.value) and "all" in str(err.value)
    rc = main(["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "1B", "--clouds", "azure"])
    assert rc != 0 and "--clouds" in capsys.readouterr().err


def test_an_aws_estimate_states_what_aws_costs_extra_against_the_cheapest_gpu_elsewhere():
    e = estimate(Deployment.build(model="llama-3.1-8b", instance_type="g6e.xlarge", replicas=2), W)
    other = e.elsewhere
    cheapest = min((o for o in gpu_clouds.offers() if o.gpu == "L40S" and o.pricing == "on-demand"),
                   key=lambda o: o.usd_per_gpu_hour)
    aws = catalog.instance("g6e.xlarge").on_demand_usd_hr
    assert other.offer == cheapest and other.gpus == 2
    assert other.extra_usd_per_month == pytest.approx((aws - cheapest.usd_per_gpu_hour) * 2 * HOURS)
    doc = estimate_document(e)["elsewhere"]
    assert doc["cloud"] == cheapest.cloud and doc["checked"] == cheapest.checked and doc["note"] == DEPLOYS_AWS_ONLY
    assert "Elsewhere:" in __import__("cost.report", fromlist=["render"]).render(e, "table")


def test_curve_configurations_name_their_cloud(capsys):
    assert main(["curve", "--model", "llama-3.1-8b", "--clouds", "runpod", "--from", "100M", "--to", "3B",
                 "--points", "3", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["steps"] and all(s["configuration"]["cloud"] == "runpod" for s in doc["steps"])


def test_estimate_clouds_limits_the_clouds_the_aws_gpu_hours_are_set_against(capsys):
    args = ["estimate", "--model", "llama-3.1-8b", "--instance", "g6e.xlarge", "--tokens-per-month", "1B", "--format", "json"]
    assert main(args + ["--clouds", "nebius"]) == 0
    assert json.loads(capsys.readouterr().out)["elsewhere"]["cloud"] == "nebius"
    assert main(args + ["--clouds", "azure"]) != 0
    assert "--clouds: got 'azure'" in capsys.readouterr().err

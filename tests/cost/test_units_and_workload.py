import pytest

from cost.errors import InputError
from cost.units import format_tokens, format_usd, parse_tokens
from cost.workload import Workload


@pytest.mark.parametrize("text,tokens", [("100M", 100e6), ("3.2B", 3.2e9), ("750000000", 750e6), ("1e9", 1e9),
                                         ("12.5k", 12_500), (250, 250.0), ("0", 0.0)])
def test_parse_tokens(text, tokens):
    assert parse_tokens(text) == pytest.approx(tokens)


@pytest.mark.parametrize("bad", ["-5M", "lots", "3.2X", "", "1,000", -1, True, float("nan"), float("inf"), "1e400",
                                 "2e16", 10**400, "inf", "nan"])
def test_parse_tokens_rejects_with_key(bad):
    with pytest.raises(InputError) as err:
        parse_tokens(bad, "--tokens-per-month")
    assert err.value.key == "--tokens-per-month" and "100M" in err.value.allowed


def test_format():
    assert format_tokens(3.174e9) == "3.17B" and format_tokens(750e6) == "750M"
    assert format_usd(4380) == "$4,380.00"


def test_share_alone_makes_a_1000_token_request():
    w = Workload.build(100e6, input_share=0.6)
    assert (w.avg_input_tokens, w.avg_output_tokens) == (600, 400)
    assert w.requests_per_month == pytest.approx(100_000)
    assert w.input_tokens_per_month == pytest.approx(60e6)


def test_request_size_sets_the_share():
    w = Workload.build(1e9, avg_input_tokens=2000, avg_output_tokens=500)
    assert w.input_share == pytest.approx(0.8)
    w = Workload.build(1e9, input_share=0.75, avg_input_tokens=1500)
    assert w.avg_output_tokens == 500


@pytest.mark.parametrize("kwargs,key", [
    ({"input_share": 1.5}, "input_share"), ({"input_share": 0}, "input_share"),
    ({"utilization": 0}, "utilization"), ({"utilization": 1.2}, "utilization"),
    ({"avg_input_tokens": 600, "avg_output_tokens": 400, "input_share": 0.3}, "input_share"),
    ({"avg_input_tokens": 0, "avg_output_tokens": 5}, "avg_input_tokens"),
    ({"avg_input_tokens": 100}, "avg_output_tokens"),
])
def test_workload_rejects(kwargs, key):
    with pytest.raises(InputError) as err:
        Workload.build(1e6, **kwargs)
    assert err.value.key == key


def test_negative_volume():
    with pytest.raises(InputError) as err:
        Workload.build(-1)
    assert err.value.key == "tokens_per_month"


@pytest.mark.parametrize("kwargs,key", [
    ({"tokens_per_month": float("nan")}, "tokens_per_month"),
    ({"tokens_per_month": float("inf")}, "tokens_per_month"),
    ({"tokens_per_month": 1e9, "input_share": float("nan")}, "input_share"),
    ({"tokens_per_month": 1e9, "avg_input_tokens": float("inf"), "avg_output_tokens": 5}, "avg_input_tokens"),
    ({"tokens_per_month": 1e9, "utilization": float("nan")}, "utilization"),
    ({"tokens_per_month": 1e9, "ttft_target_s": float("nan")}, "ttft_target_s"),
    ({"tokens_per_month": 1e9, "tpot_target_s": float("inf")}, "tpot_target_s"),
])
def test_workload_refuses_non_finite_values(kwargs, key):
    with pytest.raises(InputError) as err:
        Workload.build(**kwargs)
    assert err.value.key == key


def test_a_request_longer_than_the_context_is_blamed_on_the_request_or_max_model_len():
    from cost.workload import require_within_context

    w = Workload.build(1e9, avg_input_tokens=9000, avg_output_tokens=500)
    require_within_context(w, "m", 131072)                      # fits the model
    with pytest.raises(InputError) as err:
        require_within_context(w, "m", 8192)
    assert err.value.key == "avg_input_tokens" and "8,192" in err.value.allowed
    with pytest.raises(InputError) as err:
        require_within_context(w, "m", 131072, max_model_len=8192)
    assert err.value.key == "max_model_len" and "at least 9,500" in err.value.allowed


@pytest.mark.parametrize("model,tp,ok", [
    ("llama-3.1-8b", 3, False),     # 32 heads
    ("llama-3.1-8b", 8, True),
    ("qwen2.5-7b", 8, False),       # 28 heads, 4 KV heads
    ("qwen2.5-7b", 4, True),
    ("llama-3.1-405b", 16, True),   # 128 heads, 8 KV heads replicated over 16 ranks
])
def test_tensor_parallel_must_split_the_attention_heads(model, tp, ok):
    from cost.deployment import Deployment

    build = lambda: Deployment.build(model=model, gpu="H100", gpus_per_replica=tp)
    if ok:
        assert build().gpus_per_replica == tp
    else:
        with pytest.raises(InputError) as err:
            build()
        assert err.value.key == "gpus_per_replica" and "attention heads" in err.value.detail


@pytest.mark.parametrize("field,value", [
    ("replicas", 100_000_000_000), ("replicas", float("inf")), ("redundancy", float("nan")),
    ("hourly_usd_per_gpu", float("nan")), ("hourly_usd_per_gpu", float("inf")),
    ("capacity_tokens_per_month", float("inf")), ("gpu_memory_utilization", float("nan")), ("concurrency", float("inf")),
    ("max_model_len", 10_000_000),
])
def test_deployment_refuses_non_finite_and_absurd_values(field, value):
    from cost.deployment import Deployment

    with pytest.raises(InputError) as err:
        Deployment.build(model="llama-3.1-8b", gpu="L4", **{field: value})
    assert err.value.key == field

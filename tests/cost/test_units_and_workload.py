import pytest

from cost.errors import InputError
from cost.units import format_tokens, format_usd, parse_tokens
from cost.workload import Workload


@pytest.mark.parametrize("text,tokens", [("100M", 100e6), ("3.2B", 3.2e9), ("750000000", 750e6), ("1e9", 1e9),
                                         ("12.5k", 12_500), (250, 250.0), ("0", 0.0)])
def test_parse_tokens(text, tokens):
    assert parse_tokens(text) == pytest.approx(tokens)


@pytest.mark.parametrize("bad", ["-5M", "lots", "3.2X", "", "1,000", -1, True, float("nan")])
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

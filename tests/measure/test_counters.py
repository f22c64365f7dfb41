"""Counter increases over a window: resets handled like Prometheus's increase(), missing metrics named."""

import pytest

from cost.errors import InputError
from measure import metrics as m
from measure.observe import from_scrapes, parse_duration

LABELS = 'engine="0",model_name="smollm2"'


def exposition(prompt: float, gen: float, requests: float = 0, running: float = 0, waiting: float = 0,
               kv: float = 0.0, kv_name: str = "vllm:kv_cache_usage_perc") -> str:
    return f"""# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{{{LABELS}}} {prompt}
vllm:prompt_tokens_created{{{LABELS}}} 1.7e9
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{{LABELS}}} {gen}
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{{{LABELS},finished_reason="length"}} {requests}
vllm:request_success_total{{{LABELS},finished_reason="stop"}} 0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{{LABELS}}} {running}
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{{LABELS}}} {waiting}
# HELP {kv_name} KV-cache usage. 1 means 100 percent usage.
# TYPE {kv_name} gauge
{kv_name}{{{LABELS}}} {kv}
"""


def scrape(at: float, source: str = "http://a", **kw) -> m.Scrape:
    return m.Scrape(at, m.parse(exposition(**kw), source))


def test_plain_window_rates_and_request_size():
    obs = from_scrapes([scrape(0, prompt=100, gen=50, requests=1), scrape(10, prompt=700, gen=450, requests=2, running=3)], "t")
    assert (obs.input_tokens, obs.output_tokens, obs.requests) == (600, 400, 1)
    assert obs.input_tokens_per_s == 60 and obs.output_tokens_per_s == 40
    assert obs.tokens_per_month == pytest.approx(100 * 730 * 3600)
    assert obs.request_size() == (600, 400)
    assert obs.running == {"mean": 1.5, "max": 3} and obs.resets == ()


def test_reset_inside_the_window_counts_from_zero_and_is_reported():
    # 1000 -> 1500 (+500), pod restarts: 1500 -> 200 (+200 since the restart), 200 -> 260 (+60)
    s = [scrape(0, prompt=1000, gen=10), scrape(5, prompt=1500, gen=20), scrape(10, prompt=200, gen=5),
         scrape(15, prompt=260, gen=9)]
    obs = from_scrapes(s, "t")
    assert obs.input_tokens == 760
    assert obs.output_tokens == 10 + 5 + 4
    assert obs.input_tokens > 0 and obs.output_tokens > 0
    resets = {(r["metric"], r["at"]) for r in obs.resets}
    assert resets == {(m.PROMPT_TOKENS, 10), (m.GENERATION_TOKENS, 10)}
    assert all('model_name="smollm2"' in r["series"] and r["series"].startswith("http://a") for r in obs.resets)


def test_two_sample_window_that_missed_the_reset_point_still_never_goes_negative():
    obs = from_scrapes([scrape(0, prompt=1000, gen=900), scrape(10, prompt=300, gen=100)], "t")
    assert (obs.input_tokens, obs.output_tokens) == (300, 100)
    assert len(obs.resets) == 2


def test_series_per_endpoint_and_a_new_pod_counted_from_zero():
    a0, a1 = m.parse(exposition(prompt=100, gen=10), "http://a"), m.parse(exposition(prompt=150, gen=20), "http://a")
    b1 = m.parse(exposition(prompt=40, gen=4), "http://b")     # appeared inside the window
    obs = from_scrapes([m.Scrape(0, m.merge([a0])), m.Scrape(10, m.merge([a1, b1]))], "t")
    assert obs.input_tokens == 50 + 40 and obs.output_tokens == 10 + 4 and obs.resets == ()


def test_older_kv_gauge_name_is_read():
    s = [scrape(0, prompt=1, gen=1, kv=0.2, kv_name="vllm:gpu_cache_usage_perc"),
         scrape(1, prompt=2, gen=2, kv=0.4, kv_name="vllm:gpu_cache_usage_perc")]
    assert from_scrapes(s, "t").kv_usage == {"mean": pytest.approx(0.3), "max": 0.4}


def test_missing_metric_is_an_error_naming_it():
    text = exposition(prompt=1, gen=1).replace("vllm:generation_tokens_total", "vllm:other_total")
    s = [m.Scrape(0, m.parse(text, "a")), m.Scrape(1, m.parse(text, "a"))]
    with pytest.raises(InputError, match="vllm:generation_tokens_total"):
        from_scrapes(s, "t")
    text = exposition(prompt=1, gen=1).replace("vllm:kv_cache_usage_perc", "vllm:something_else")
    with pytest.raises(InputError, match="vllm:kv_cache_usage_perc"):
        from_scrapes([m.Scrape(0, m.parse(text, "a")), m.Scrape(1, m.parse(text, "a"))], "t")


def test_window_durations():
    assert parse_duration("6s") == 6 and parse_duration("5m") == 300 and parse_duration("1h") == 3600
    assert parse_duration("90") == 90
    for bad in ("", "-5s", "0s", "5 weeks", "abc"):
        with pytest.raises(InputError, match="window"):
            parse_duration(bad)


def test_an_idle_window_prices_to_strict_json():
    """No tokens served: utilization 0, $/1M served is undefined (null), never Infinity."""
    import json

    from cost.deployment import Deployment
    from measure.observe import economics

    obs = from_scrapes([scrape(0, prompt=5, gen=5), scrape(10, prompt=5, gen=5)], "t")
    e = economics(obs, Deployment.build(model="llama-3.1-8b", gpu="L4"), None)
    doc = json.loads(json.dumps(e, allow_nan=False))
    assert doc["utilization"] == 0 and doc["measured_usd_per_mtok"] is None and doc["verdict_changes"] is None

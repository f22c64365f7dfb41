"""API-side pricing: the seeds' figures, genai-prices per request, tiers, price books."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml
from genai_prices import Usage, calc_price

from cost import catalog
from cost.errors import InputError
from cost.pricing import api_prices as ap
from cost.workload import Workload

# The seed articles' workload: 100M tokens/month at a 60/40 input/output split.
SEED_WORKLOAD = Workload.build(100e6, avg_input_tokens=600, avg_output_tokens=400)


@pytest.fixture(scope="module")
def seed():
    return ap.load_price_book("seed-2025")


def by_id(quotes):
    return {q.offer.id: q for q in quotes}


def write_book(tmp_path, text: str):
    path = tmp_path / "book.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- seed-2025 reproduces the articles ---------------------------------------------------------

def test_seed_2025_reproduces_article_1_api_baseline(seed):
    quotes = by_id(ap.quotes_for("llama-3.1-70b", SEED_WORKLOAD, seed))
    # Article 1: 60M * $3/1M + 40M * $15/1M = $780; GPT-4o $900; Groq Llama 3 70B $67.
    # Floats land within 1e-9 of the article's figures; reports round to cents.
    for offer_id, article_usd in (("anthropic:claude-3-5-sonnet", 780.00),
                                  ("openai:gpt-4o-2024-05-13", 900.00),
                                  ("groq:llama3-70b-8192", 67.00)):
        monthly = quotes[offer_id].monthly_usd
        assert abs(monthly - article_usd) < 1e-9, (offer_id, monthly)
        assert round(monthly, 2) == article_usd
    assert 66.99 <= quotes["groq:llama3-70b-8192"].monthly_usd <= 67.0 + 1e-9
    assert quotes["groq:llama3-70b-8192"].usd_per_mtok == pytest.approx(0.67)      # 0.6 * 0.59 + 0.4 * 0.79
    assert quotes["anthropic:claude-3-5-sonnet"].usd_per_mtok == pytest.approx(7.80)
    assert quotes["groq:llama3-70b-8192"].requests_per_month == pytest.approx(100_000)
    assert quotes["groq:llama3-70b-8192"].request_usd == pytest.approx(0.00067)


def test_seed_2025_reproduces_article_2_blended_prices(seed):
    q70 = by_id(ap.quotes_for("llama-3.3-70b", SEED_WORKLOAD, seed, include_custom_hosting=True))
    assert q70["together:meta-llama/Llama-3-70b-chat-hf"].usd_per_mtok == pytest.approx(0.90)
    assert q70["together:meta-llama/Llama-3-70b-chat-hf"].monthly_usd == pytest.approx(90.0)
    assert q70["openai:gpt-4o"].usd_per_mtok == pytest.approx(2.50)
    assert q70["custom-hosting:fine-tuned-70b"].usd_per_mtok == pytest.approx(12.00)
    q8 = by_id(ap.quotes_for("llama-3.1-8b", SEED_WORKLOAD, seed, include_custom_hosting=True))
    assert q8["together:meta-llama/Llama-3-8b-chat-hf"].usd_per_mtok == pytest.approx(0.20)
    assert q8["custom-hosting:fine-tuned-8b"].usd_per_mtok == pytest.approx(3.00)
    # Blended means the same price whatever the split.
    skewed = Workload.build(100e6, avg_input_tokens=100, avg_output_tokens=900)
    assert by_id(ap.quotes_for("llama-3.1-8b", skewed, seed))["together:meta-llama/Llama-3-8b-chat-hf"].monthly_usd == pytest.approx(20.0)


def test_seed_2025_replaces_the_api_list(seed):
    ids = [o.id for o in ap.offers_for("llama-3.1-70b", seed)]
    assert ids == ["groq:llama3-70b-8192", "together:meta-llama/Llama-3-70b-chat-hf",
                   "anthropic:claude-3-5-sonnet", "openai:gpt-4o-2024-05-13", "openai:gpt-4o"]
    # The article's "Llama 3 70B" alias resolves to the same list; 3.3 70B gets the same APIs.
    assert [o.id for o in ap.offers_for("llama-3-70b", seed)] == ids
    assert [o.id for o in ap.offers_for("llama-3.3-70b", seed)] == ids
    # A model the articles do not price gets only the quality APIs.
    assert {o.tier for o in ap.offers_for("mistral-7b", seed)} == {"quality"}
    # Custom hosting only when asked for, and only for the fine-tuned sizes the article names.
    assert "custom-hosting:fine-tuned-8b" in [o.id for o in ap.offers_for("llama-3.1-8b", seed, include_custom_hosting=True)]
    assert "custom-hosting:fine-tuned-8b" not in [o.id for o in ap.offers_for("llama-3.1-70b", seed, include_custom_hosting=True)]
    assert all(o.source.startswith("price book seed-2025: ") and o.flat for o in seed.apis)


def test_seed_2025_gpu_prices(seed):
    assert seed.gpu_hourly("A100-80GB", "on-demand")[0] == 3.00
    assert seed.gpu_hourly("A100-80GB", "reserved-1y")[0] == 1.50  # the worked example, $2,190 for 2 GPUs
    assert seed.gpu_hourly("H100", "on-demand")[0] == 4.75
    assert seed.gpu_hourly("H100", "reserved-1y")[0] == 3.00
    assert seed.gpu_hourly("L40S", "on-demand")[0] == 1.50
    assert seed.gpu_hourly("RTX-4090", "marketplace")[0] == 0.39
    assert seed.gpu_hourly("h100", "marketplace")[0] == 1.29          # GPU ids case-insensitive
    assert "2026-02-19" in seed.gpu_hourly("H100", "marketplace")[1]
    assert seed.gpu_hourly("L40S", "spot") is None
    assert seed.gpu_hourly("B200", "on-demand") is None


# --- genai-prices: the shipped list, per request --------------------------------------------

def test_api_list_covers_every_model_and_resolves():
    doc = yaml.safe_load((catalog.DATA / "apis.yaml").read_text(encoding="utf-8"))
    assert set(doc["equivalents"]) == set(catalog.models()), "every catalog model needs an apis.yaml entry"
    for model_id in catalog.models():
        offers = ap.offers_for(model_id)
        assert [o for o in offers if o.tier == "equivalent"] or ap.coverage_note(model_id), model_id
        assert {o.tier for o in offers} <= {"equivalent", "quality"}
        for offer in offers:
            assert offer.id == f"{offer.provider}:{offer.model_ref}"
            if offer.flat:   # a host genai-prices lacks, from the shipped open-hosts book (dated, sourced)
                assert offer.source.startswith(f"price book {ap.DEFAULT_HOSTS_BOOK}:") and "read 2026-" in offer.source
                continue
            assert offer.source.startswith("genai-prices 0.2.3")
            calc = calc_price(Usage(input_tokens=600, output_tokens=400), model_ref=offer.model_ref,
                              provider_id=offer.provider)
            assert calc.provider.id == offer.provider
            assert calc.total_price > 0, offer.id
    assert {o.id for o in ap.offers_for("llama-3.1-70b") if o.tier == "quality"} >= {
        "anthropic:claude-3-5-sonnet", "openai:gpt-4o"}


@pytest.mark.parametrize("model_id", sorted(catalog.models()))
def test_genai_quotes_equal_calc_price_per_request_times_requests(model_id):
    workload = Workload.build(250e6, avg_input_tokens=1500, avg_output_tokens=350)
    requests = 250e6 / 1850
    for q in ap.quotes_for(model_id, workload):
        if q.offer.flat:
            continue   # the open-hosts book's flat rates: tests/cost/test_price_data.py
        expected_request = float(calc_price(Usage(input_tokens=1500, output_tokens=350),
                                            model_ref=q.offer.model_ref, provider_id=q.offer.provider).total_price)
        assert q.request_usd == pytest.approx(expected_request, rel=1e-12), q.offer.id
        assert q.requests_per_month == pytest.approx(requests, rel=1e-12)
        assert q.monthly_usd == pytest.approx(expected_request * requests, rel=1e-12), q.offer.id
        assert q.usd_per_mtok == pytest.approx(expected_request / 1850 * 1e6, rel=1e-12)


def test_current_groq_llama_3_3_matches_the_2025_article_rates():
    q = by_id(ap.quotes_for("llama-3.3-70b", SEED_WORKLOAD))["groq:llama-3.3-70b-versatile"]
    assert round(q.monthly_usd, 2) == 67.00


def test_tiered_price_depends_on_request_size_not_monthly_tokens():
    # Gemini 2.5 Pro bills the whole request at the higher tier when the prompt exceeds 200K tokens.
    small = Workload.build(1e9, avg_input_tokens=100_000, avg_output_tokens=4_000)
    large = Workload.build(1e9, avg_input_tokens=250_000, avg_output_tokens=10_000)
    assert small.tokens_per_month == large.tokens_per_month and small.input_share == large.input_share

    gemini = next(o for o in ap.offers_for("llama-3.1-70b") if o.id == "google:gemini-2.5-pro")
    q_small, q_large = ap.quote(gemini, small), ap.quote(gemini, large)
    assert q_small.monthly_usd == pytest.approx((100_000 * 1.25 + 4_000 * 10) / 1e6 * 1e9 / 104_000)
    assert q_large.monthly_usd == pytest.approx((250_000 * 2.50 + 10_000 * 15) / 1e6 * 1e9 / 260_000)
    assert q_large.monthly_usd > 1.8 * q_small.monthly_usd

    # A flat-priced API costs the same for both shapes.
    groq = next(o for o in ap.offers_for("llama-3.1-70b") if o.id == "groq:llama-3.1-70b-versatile")
    assert ap.quote(groq, small).monthly_usd == pytest.approx(ap.quote(groq, large).monthly_usd)

    # The boundary: a prompt of exactly 200,000 tokens is still at the base rate.
    assert ap.price_request(gemini, 200_000, 0) == pytest.approx(0.25)
    assert ap.price_request(gemini, 200_001, 0) == pytest.approx(200_001 * 2.50 / 1e6)


def test_request_prices_are_cached_and_lookups_resolved_once(monkeypatch):
    calls = []
    real = ap.calc_price

    def counting(*args, **kwargs):
        calls.append(kwargs.get("model_ref"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ap, "calc_price", counting)
    monkeypatch.setattr(ap, "_MODEL_PRICES", {})
    monkeypatch.setattr(ap, "_REQUEST_CACHE", {})
    offer = next(o for o in ap.offers_for("llama-3.1-8b") if o.provider == "groq")
    first = ap.price_request(offer, 777, 333)
    assert ap.price_request(offer, 777, 333) == first
    ap.price_request(offer, 778, 333)
    assert calls == [offer.model_ref]                              # one genai-prices lookup per API
    assert set(ap._REQUEST_CACHE) == {("groq", offer.model_ref, 777, 333, False, 0), ("groq", offer.model_ref, 778, 333, False, 0)}

def test_override_book_replaces_one_price_and_extends(tmp_path):
    path = write_book(tmp_path, """
        name: negotiated
        source: "our Groq contract, 2026-11"
        apis_mode: override
        apis:
          - id: "groq:llama-3.3-70b-versatile"
            input_usd_per_mtok: 1.00
            output_usd_per_mtok: 2.00
          - id: "acme:llama-70b"
            label: "Acme Llama 70B"
            tier: equivalent
            blended_usd_per_mtok: 0.10
            models: [llama-3.3-70b]
            source: "Acme quote #42"
        gpus:
          H100: {spot: 2.10, source: "our spot history"}
    """)
    book = ap.load_price_book(str(path))
    default = by_id(ap.quotes_for("llama-3.3-70b", SEED_WORKLOAD))
    overridden = by_id(ap.quotes_for("llama-3.3-70b", SEED_WORKLOAD, book))

    groq = overridden["groq:llama-3.3-70b-versatile"]
    assert groq.monthly_usd == pytest.approx((600 * 1.00 + 400 * 2.00) / 1e6 * 100_000)   # $140
    assert groq.offer.label == default["groq:llama-3.3-70b-versatile"].offer.label
    assert groq.offer.tier == "equivalent"
    assert groq.offer.source == "price book negotiated: our Groq contract, 2026-11"
    assert default["groq:llama-3.3-70b-versatile"].monthly_usd == pytest.approx(67.0)   # the default is untouched

    assert overridden["acme:llama-70b"].monthly_usd == pytest.approx(10.0)
    assert set(overridden) == set(default) | {"acme:llama-70b"}
    for offer_id in set(default) - {"groq:llama-3.3-70b-versatile"}:
        assert overridden[offer_id].monthly_usd == default[offer_id].monthly_usd, offer_id

    # Other models: the override applies where the id appears; the new API only where listed.
    assert by_id(ap.quotes_for("llama-3.1-8b", SEED_WORKLOAD, book)).keys() == by_id(
        ap.quotes_for("llama-3.1-8b", SEED_WORKLOAD)).keys()
    assert book.gpu_hourly("H100", "spot") == (2.10, "our spot history")


def test_override_of_a_quality_api_applies_to_every_model(tmp_path):
    book = ap.load_price_book(str(write_book(tmp_path, """
        source: "list price check"
        apis_mode: override
        apis:
          - {id: "anthropic:claude-3-5-sonnet", input_usd_per_mtok: 3, output_usd_per_mtok: 15}
    """)))
    assert book.name == "book"
    for model_id in ("llama-3.1-8b", "qwen2.5-72b"):
        offers = {o.id: o for o in ap.offers_for(model_id, book)}
        assert offers["anthropic:claude-3-5-sonnet"].flat
        assert len(offers) == len(ap.offers_for(model_id))


def test_load_price_book_none_and_path(seed):
    assert ap.load_price_book(None) is None
    assert "seed-2025" in ap.shipped_price_books()
    by_path = ap.load_price_book(str(catalog.DATA / "pricebooks" / "seed-2025.yaml"))
    assert by_path.apis == seed.apis and by_path.gpus == seed.gpus


BAD_BOOKS = {
    "unknown top-level key": ("source: s\napis_mode: replace\napi: []\n", "price_book.api"),
    "missing source": ("apis_mode: replace\napis: []\n", "price_book.source"),
    "bad apis_mode": ("source: s\napis_mode: merge\napis: []\n", "price_book.apis_mode"),
    "missing rate": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: quality, input_usd_per_mtok: 1}\n",
                     "price_book.apis[0].output_usd_per_mtok"),
    "negative price": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: quality, input_usd_per_mtok: -1, output_usd_per_mtok: 2}\n",
                       "price_book.apis[0].input_usd_per_mtok"),
    "price not a number": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: quality, blended_usd_per_mtok: cheap}\n",
                           "price_book.apis[0].blended_usd_per_mtok"),
    "blended and split rates": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: quality, blended_usd_per_mtok: 1, input_usd_per_mtok: 1}\n",
                                "price_book.apis[0].input_usd_per_mtok"),
    "bad tier": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: premium, blended_usd_per_mtok: 1}\n",
                 "price_book.apis[0].tier"),
    "id without provider": ("source: s\napis_mode: replace\napis:\n  - {id: 'llama', tier: quality, blended_usd_per_mtok: 1}\n",
                            "price_book.apis[0].id"),
    "duplicate id": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: quality, blended_usd_per_mtok: 1}\n"
                     "  - {id: 'x:y', tier: quality, blended_usd_per_mtok: 2}\n", "price_book.apis[1].id"),
    "equivalent without models": ("source: s\napis_mode: override\napis:\n  - {id: 'x:y', tier: equivalent, blended_usd_per_mtok: 1}\n",
                                  "price_book.apis[0].models"),
    "unknown model": ("source: s\napis_mode: replace\napis:\n  - {id: 'x:y', tier: equivalent, blended_usd_per_mtok: 1, models: [llama-9-9b]}\n",
                      "price_book.apis[0].models[0]"),
    "unknown gpu": ("source: s\ngpus:\n  Z100: {on-demand: 1.0}\n", "price_book.gpus.Z100"),
    "unknown pricing": ("source: s\ngpus:\n  H100: {hourly: 1.0}\n", "price_book.gpus.H100.hourly"),
    "negative gpu price": ("source: s\ngpus:\n  H100:\n    on-demand: {usd_per_gpu_hour: -2, source: x}\n",
                           "price_book.gpus.H100.on-demand.usd_per_gpu_hour"),
    "one gpu in two spellings": ("source: s\ngpus:\n  H100: {on-demand: 1.0}\n  h100: {on-demand: 2.0}\n",
                                 "price_book.gpus.h100"),
    "not a mapping": ("- just\n- a list\n", "price_book"),
    "not yaml": ("source: [unclosed\n", "price_book"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOOKS))
def test_bad_price_book_names_the_key(tmp_path, case):
    text, key = BAD_BOOKS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        ap.load_price_book(str(path))
    assert err.value.key == key
    assert err.value.allowed
    assert key in str(err.value)


def test_unknown_price_book_name():
    with pytest.raises(InputError) as err:
        ap.load_price_book("seed-2024")
    assert err.value.key == "price_book" and err.value.value == "seed-2024"
    assert "seed-2025" in err.value.allowed


def test_unknown_model_and_bad_offer_are_input_errors():
    with pytest.raises(InputError) as err:
        ap.offers_for("llama-9-9b")
    assert err.value.key == "model"
    with pytest.raises(InputError) as err:
        ap.ApiOffer("x:y", "X", "x", "y", "premium", "test", 1.0, 1.0)
    assert err.value.key == "tier"
    with pytest.raises(InputError) as err:
        ap.ApiOffer("x:y", "X", "x", "y", "quality", "test", 1.0, None)
    assert err.value.key == "output_usd_per_mtok"
    unknown = ap.ApiOffer("groq:no-such-model", "nope", "groq", "no-such-model", "equivalent", "test")
    with pytest.raises(InputError) as err:
        ap.price_request(unknown, 10, 10)
    assert err.value.key == "api" and err.value.value == "groq:no-such-model"


def test_cost_api_prices_does_not_import_pulumi():
    code = "import sys, cost.pricing.api_prices; sys.exit(any(m.split('.')[0].startswith('pulumi') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_offer_by_id_prefers_the_book(seed):
    assert ap.offer("anthropic:claude-3-5-sonnet", seed).flat                  # seed-2025's flat $3/$15
    assert not ap.offer("anthropic:claude-3-5-sonnet").flat                     # genai-prices
    assert ap.offer("anthropic:claude-sonnet-5-5", seed).source.startswith("genai-prices")   # not in the book
    with pytest.raises(InputError) as err:
        ap.offer("acme:nothing", seed)
    assert err.value.key == "api" and "groq:llama3-70b-8192" in err.value.allowed


def test_prefix_cache_hits_bill_at_the_cache_read_price_where_genai_prices_has_one():
    """Groq lists a cached-input price for gpt-oss-120b ($0.075 vs $0.15); Together lists none (billed as input)."""
    from cost.workload import Workload

    cold = Workload.build(1e9, avg_input_tokens=4000, avg_output_tokens=500)
    warm = Workload.build(1e9, avg_input_tokens=4000, avg_output_tokens=500, prefix_cache_hit_rate=0.8)
    q = {x.offer.id: x for x in ap.quotes_for("gpt-oss-120b", cold)}
    w = {x.offer.id: x for x in ap.quotes_for("gpt-oss-120b", warm)}
    groq, together = "groq:openai/gpt-oss-120b", "together:openai/gpt-oss-120b"
    saved = 3200 * (0.15 - 0.075) / 1e6
    assert q[groq].request_usd - w[groq].request_usd == pytest.approx(saved, rel=1e-6)
    assert w[together].request_usd == pytest.approx(q[together].request_usd)

"""What the source articles' figures imply physically, computed with breakeven's own models.

`breakeven seeds --format markdown` prints this; docs/sources.md carries the same text between
markers and a test keeps the two identical.
"""

from __future__ import annotations

from cost import catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.physics import capacity
from cost.pricing.api_prices import HOSTING_TIERS, load_price_book, quotes_for
from cost.pricing.tco import Overheads
from cost.units import format_tokens, format_usd
from cost.workload import Workload

HOURS = 730
SECONDS = HOURS * 3600
REQUEST = (600, 400)  # the first article's 60/40 split, as one 1,000-token request


def _fit_line(model_id: str, gpu_id: str, n: int, precision: str, context: int) -> tuple[capacity.MemoryFit, str]:
    fit = capacity.memory_fit(catalog.model(model_id), catalog.gpu(gpu_id), n, precision, context)
    return fit, (f"{model_id} {precision} on {n}x {gpu_id}: weights {fit.weights_gb:.1f} GB + runtime "
                 f"{fit.runtime_overhead_gb:.1f} GB of {fit.usable_gb:.1f} GB usable -> "
                 + (f"{fit.kv_capacity_tokens:,} tokens of KV cache" if fit.fits else f"does not fit ({fit.shortfall_gb:.1f} GB short)"))


def _throughput(model_id: str, gpu_id: str, n: int, precision: str) -> capacity.Throughput:
    return capacity.throughput(catalog.model(model_id), catalog.gpu(gpu_id), n, precision, *REQUEST)


def article_one() -> list[str]:
    """'When Each Makes Financial Sense' (2025): the 2x A100-80GB Llama 3.1 70B example."""
    out = ["### Article 1: 2x A100-80GB serving Llama 3.1 70B in FP16", ""]
    book = load_price_book("seed-2025")
    w = Workload.build(100e6, avg_input_tokens=600, avg_output_tokens=400)
    quotes = {q.offer.id: q for q in quotes_for("llama-3.1-70b", w, book)}
    out.append("- API spend reproduces exactly (price book `seed-2025`, 100M tokens/month at 60/40): "
               + ", ".join(f"{q.offer.label} {format_usd(q.monthly_usd)}" for q in quotes.values() if q.offer.tier not in HOSTING_TIERS) + ".")
    kv = capacity.kv_bytes_per_token(catalog.model("llama-3.1-70b"))
    fit, line = _fit_line("llama-3.1-70b", "A100-80GB", 2, "bf16", sum(REQUEST))
    out.append(f"- Memory: {line}. KV cache costs {kv:,} bytes per token, so one 1,000-token request needs "
               f"{kv * 1000 / 1e9:.2f} GB and 200-400 of them need {kv * 1000 * 200 / 1e9:.0f}-{kv * 1000 * 400 / 1e9:.0f} GB.")
    if fit.fits:
        out.append(f"  The model holds {fit.kv_capacity_tokens // 1000:,} such requests, not 200-400.")
    else:
        out.append("  In FP16 the weights alone leave no room at vLLM's default gpu_memory_utilization of 0.9: "
                   "the article's '~200-400 concurrent requests' cannot run on this hardware in FP16.")
    for prec, n in (("fp8", 2), ("int4-awq", 2)):
        try:
            f2, line2 = _fit_line("llama-3.1-70b", "H100" if prec == "fp8" else "A100-80GB", n, prec, sum(REQUEST))
        except InputError:
            continue
        out.append(f"  What would hold them: {line2}, i.e. {f2.kv_capacity_tokens // 1000:,} concurrent 1,000-token requests.")
    low, high = 50 * 200 * SECONDS, 80 * 400 * SECONDS
    out.append(f"- Throughput: '50-80 tokens/second per request' x '200-400 concurrent requests' is {50 * 200:,}-{80 * 400:,} "
               f"output tok/s, {format_tokens(low)}-{format_tokens(high)} output tokens/month at full utilization — "
               f"{low / 1e9:.0f}-{high / 1e9:.0f}x more than the article's own '500M-1B tokens/month'. "
               f"500M-1B tokens/month is {500e6 / SECONDS:,.0f}-{1e9 / SECONDS:,.0f} tok/s, about 3-5 requests at 50-80 tok/s.")
    awq = _throughput("llama-3.1-70b", "A100-80GB", 2, "int4-awq")
    awq_month = awq.output_tok_s * sum(REQUEST) / REQUEST[1] * SECONDS
    out.append(f"  breakeven's capacity model for the configuration that does fit (int4-awq, TP=2, 600 in/400 out): "
               f"{awq.output_tok_s:,.0f} output tok/s at {awq.concurrency} concurrent requests "
               f"({awq.tpot_s * 1000:.0f} ms per output token, i.e. {1 / awq.tpot_s:.0f} tok/s per request), "
               f"{format_tokens(awq_month)} tokens/month at 100% utilization.")
    groq_avg = (0.59 + 0.79) / 2
    groq_6040 = 0.6 * 0.59 + 0.4 * 0.79
    out.append(f"- Crossover: '$2,190 / $0.69 = ~3.2B tokens/month' uses the plain mean of Groq's $0.59/$0.79 "
               f"(${groq_avg:.2f}), i.e. a 50/50 split; at the article's own 60/40 split the blend is ${groq_6040:.2f} and "
               f"breakeven is {format_tokens(2190 / groq_6040 * 1e6)} tokens/month. Either way it is "
               f"{2190 / groq_avg * 1e6 / 750e6:.1f}x the ~750M tokens/month the article says the same hardware serves at 80% "
               f"utilization: by the article's own numbers this deployment never breaks even with Groq.")
    return out


def article_two() -> list[str]:
    """'The Exact Breakeven Point for Every Model Size' (2026): the $/1M rows."""
    out = ["", "### Article 2: the throughput each '$ per 1M tokens' row assumes", "",
           "The article prices GPU rental plus a 15% ops tax. Dividing that hourly cost by its $/1M figure gives the "
           "tokens per second each row silently assumes; breakeven's capacity model gives what vLLM sustains on the same "
           "hardware (600 in / 400 out, concurrency as the KV cache allows):", "",
           "| Row | Hardware | Article $/1M | Implied tok/s | Model: fits? | Model tok/s (all tokens) | Model $/1M at 100% |",
           "|---|---|---|---|---|---|---|"]
    rows = [("Llama 3 8B", "llama-3.1-8b", "RTX-4090", 1, 0.39, 1.52, ("bf16",)),
            ("Llama 3 70B", "llama-3.1-70b", "H100", 1, 1.29, 5.80, ("bf16", "fp8", "int4-awq")),
            ("GPT-4 class (custom)", "llama-3.1-405b", "H100", 8, 10.32, 8.20, ("fp8",))]
    for label, mid, gid, n, hourly, per_m, precisions in rows:
        cost_hr = hourly * 1.15
        implied = cost_hr / per_m * 1e6 / 3600
        fits, model_tok_s, chosen = [], None, None
        for prec in precisions:
            fit, _ = _fit_line(mid, gid, n, prec, sum(REQUEST))
            fits.append(f"{prec} {'yes' if fit.fits else 'no'}")
            if fit.fits and chosen is None:
                t = _throughput(mid, gid, n, prec)
                model_tok_s, chosen = t.output_tok_s * sum(REQUEST) / REQUEST[1], prec
        model_cell = "-" if model_tok_s is None else f"{model_tok_s:,.0f} ({chosen})"
        price_cell = "-" if model_tok_s is None else f"${cost_hr / (model_tok_s * 3600) * 1e6:.2f}"
        out.append(f"| {label} | {n}x {gid} @ ${hourly}/h | ${per_m:.2f} | {implied:,.0f} | {', '.join(fits)} | {model_cell} | {price_cell} |")
    fit70 = {p: capacity.memory_fit(catalog.model("llama-3.1-70b"), catalog.gpu("H100"), 1, p, sum(REQUEST))
             for p in ("bf16", "fp8", "int4-awq")}
    fp8 = fit70["fp8"]
    out += ["", "- Each row's $/1M assumes a few dozen to a few hundred tokens per second: one unbatched stream. "
            "Batched vLLM on the same card sustains many times that, so 'Never*' is a statement about utilization, not hardware.",
            f"- Llama 3 70B on one 80 GB H100: BF16 does not fit ({fit70['bf16'].shortfall_gb:.0f} GB short); FP8 leaves "
            f"{fp8.kv_capacity_tokens:,} tokens of KV cache, about {fp8.kv_capacity_tokens // sum(REQUEST)} concurrent 1,000-token "
            f"requests; 4-bit AWQ leaves {fit70['int4-awq'].kv_capacity_tokens:,}. The row's hardware serves the model only "
            "quantized, which the article does not say.",
            "- 'GPT-4 class (custom)' has no public architecture; breakeven stands in Llama 3.1 405B in FP8 on the same 8x H100."]
    return out


def utilization_check() -> list[str]:
    """The '1M+ tokens/hour' and '60%+ utilization' rules, against the 8B row."""
    d = Deployment.build(model="llama-3.1-8b", gpu="RTX-4090", hourly_usd_per_gpu=0.39)
    w = Workload.build(730e6, avg_input_tokens=600, avg_output_tokens=400, utilization=1.0)
    e = estimate(d, w, overheads=Overheads(storage_gib_per_node=0, ops_tax_share=0.15, mlops_fte=0, monitoring_usd_per_month=0))
    return ["", "### The rules of thumb", "",
            f"- '1M+ tokens/hour sustained' is {format_tokens(730e6)} tokens/month. One RTX 4090 at $0.39/h plus 15% ops tax costs "
            f"{format_usd(e.monthly_usd)}/month and, batched, serves up to {format_tokens(e.full_capacity_tokens_per_month)} tokens/month "
            f"(${e.monthly_usd / e.full_capacity_tokens_per_month * 1e6:.3f} per 1M at 100% utilization) — below the article's $0.20 API price "
            f"once utilization passes {e.monthly_usd / (0.20 / 1e6) / e.full_capacity_tokens_per_month:.0%}.",
            "- Utilization, not model size, decides: `breakeven estimate` reports for every API the volume and the utilization "
            "at which the deployment breaks even, and says 'never' when even 100% is not enough."]


def report() -> str:
    """The whole section, as markdown."""
    return "\n".join(article_one() + article_two() + utilization_check()) + "\n"

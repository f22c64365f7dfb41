"""Fit the capacity model's factors to a live endpoint's measured sweep.

The measured levels become calibration rows (closed loop, fixed lengths: length_cv 0) and go
through `cost.physics.calibration.fit_factors` — the published fit's objective — over the factors a
concurrency sweep can separate: weight streaming (hbm_efficiency), compute (gemm_mfu) and the
engine's per-step and per-sequence overheads. The result is a new Factors value scoped to the
model, device, tensor parallelism and precision it was measured on.

The model and device come from the catalog, or (for what it does not list) from a Hugging Face
`config.json` and a small device YAML file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cost import catalog
from cost.catalog import Gpu, Model, strictload
from cost.errors import InputError
from cost.physics import calibration, capacity
from cost.physics.factors import RANGES, Factors, published
from measure.loadgen import Sweep

LIVE_FITTED = ("hbm_efficiency", "gemm_mfu", "step_overhead_s", "per_seq_overhead_s")
# A fit that misses its own measurements by more than this (max(pred/meas, meas/pred) - 1 at any level)
# is not written: the published fit's held-out validation rows stay within about this (`breakeven calibration`).
FIT_TOLERANCE = 0.25


def model_from(name: str) -> Model:
    """A catalog model, or one described by a Hugging Face config.json (a file, or a folder holding one)."""
    p = Path(name)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        return catalog.model(name, "model")
    c = strictload.load_json(p, "model", "Hugging Face config.json")
    try:
        hidden, layers, heads = int(c["hidden_size"]), int(c["num_hidden_layers"]), int(c["num_attention_heads"])
        kv = int(c.get("num_key_value_heads", heads))
        hd = int(c.get("head_dim") or hidden // heads)
        inter, vocab = int(c["intermediate_size"]), int(c["vocab_size"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError("model", name, "a catalog model or a Llama-style Hugging Face config.json",
                         f"{type(e).__name__}: {e}") from None
    tied = bool(c.get("tie_word_embeddings", False))
    per_layer = hidden * heads * hd + 2 * hidden * kv * hd + heads * hd * hidden + 3 * hidden * inter + 2 * hidden
    params = vocab * hidden * (1 if tied else 2) + layers * per_layer + hidden
    return Model(id=str(c.get("_name_or_path") or p.parent.name), hf=str(p.parent), aliases=(), params_b=params / 1e9,
                 active_params_b=params / 1e9, layers=layers, hidden_size=hidden, attention_heads=heads, kv_heads=kv,
                 head_dim=hd, context=int(c.get("max_position_embeddings", 4096)), vocab_size=vocab,
                 tie_word_embeddings=tied, source=f"Hugging Face config {p}")


def device_from(name: str) -> Gpu:
    """A catalog GPU, or a device described by a YAML file: id, memory_gib, hbm_gb_s, bf16_tflops."""
    p = Path(name)
    if not p.is_file():
        return catalog.gpu(name, "gpu")
    d = strictload.load_yaml(p, "gpu", "device YAML file")
    try:
        values = {k: float(d[k]) for k in ("memory_gib", "hbm_gb_s", "bf16_tflops")}
    except (KeyError, TypeError, ValueError) as e:
        raise InputError("gpu", name, "a catalog GPU or a YAML file with id, memory_gib, hbm_gb_s, bf16_tflops",
                         f"{type(e).__name__}: {e}") from None
    for k, v in values.items():
        if not v > 0:
            raise InputError(f"gpu.{k}", v, "a positive number")
    return Gpu(id=str(d.get("id", p.stem)), memory_gb=values["memory_gib"] * 2**30 / 1e9, memory_gib=values["memory_gib"],
               hbm_gb_s=values["hbm_gb_s"], bf16_tflops=values["bf16_tflops"],
               fp8_tflops=float(d["fp8_tflops"]) if d.get("fp8_tflops") else None, source=str(d.get("source", p)))


class Target:
    """What the endpoint runs: model, device, tensor parallelism, precision and engine limits."""

    def __init__(self, model: Model, gpu: Gpu, tp: int = 1, precision: str = "bf16",
                 gpu_memory_utilization: float = capacity.DEFAULT_GPU_MEMORY_UTILIZATION,
                 max_num_seqs: int = capacity.DEFAULT_MAX_NUM_SEQS):
        self.model, self.gpu, self.tp, self.precision = model, gpu, tp, precision
        self.gpu_memory_utilization, self.max_num_seqs = gpu_memory_utilization, max_num_seqs

    def predict(self, row: calibration.Row, f: Factors) -> tuple[float, int, str]:
        """The capacity model's tok/s for one measured level (the predictor `fit_factors` calls)."""
        t = capacity.throughput(self.model, self.gpu, self.tp, self.precision, row.avg_input_tokens,
                                row.avg_output_tokens, concurrency=row.requested_concurrency,
                                gpu_memory_utilization=self.gpu_memory_utilization, max_num_seqs=self.max_num_seqs,
                                length_cv=row.length_cv, factors=f)
        return t.output_tok_s, t.concurrency, t.limited_by


def rows(sweep: Sweep, target: Target) -> tuple[calibration.Row, ...]:
    """The sweep's levels as calibration rows (fixed lengths: length_cv 0)."""
    return tuple(calibration.Row(
        engine="vllm", engine_version="live", model=target.model.id, model_id=target.model.id,
        precision=target.precision, gpu=target.gpu.id, tp=target.tp,
        input_tokens=f"{lv.avg_prompt_tokens:.0f}", output_tokens=f"{lv.avg_output_tokens:.0f}",
        concurrency=str(lv.concurrency), measured=lv.output_tok_s, source=sweep.endpoint, kind="fit",
        avg_input_tokens=lv.avg_prompt_tokens, avg_output_tokens=lv.avg_output_tokens, length_cv=0.0,
        num_prompts=None, max_num_seqs=target.max_num_seqs, gpu_memory_utilization=target.gpu_memory_utilization,
    ) for lv in sweep.levels)


def fit(sweep: Sweep, target: Target, start: Factors | None = None) -> Factors:
    """A new Factors value fitted to the sweep, scoped to what was measured."""
    measured = rows(sweep, target)
    if not measured:
        raise InputError("concurrency", [], "at least one measured level")
    f = calibration.fit_factors(start or published(), rounds=4, steps=32, rows=measured, names=LIVE_FITTED,
                                bounds={n: RANGES[n] for n in LIVE_FITTED}, predictor=target.predict)
    scope: dict[str, Any] = {
        "model": target.model.id, "gpu": target.gpu.id, "tp": target.tp, "precision": target.precision,
        "date": dt.date.today().isoformat(), "endpoint": sweep.endpoint,
        "concurrency": [lv.concurrency for lv in sweep.levels],
        "prompt_tokens": round(sum(r.avg_input_tokens for r in measured) / len(measured)),
        "output_tokens": round(sum(r.avg_output_tokens for r in measured) / len(measured)),
    }
    return f.replace(source=f"breakeven calibrate: {sweep.endpoint} on {scope['date']} "
                            f"(fitted {', '.join(LIVE_FITTED)}; the rest as published)", scope=scope)


def kinds() -> dict[str, str]:
    """How each factor of a live fit was set, for the factors file."""
    return {n: ("measured" if n in LIVE_FITTED else "published") for n in RANGES}


def compare(sweep: Sweep, target: Target, fitted: Factors) -> list[dict]:
    """Per level: measured tok/s and what the published and fitted factors predict."""
    out = []
    for row, lv in zip(rows(sweep, target), sweep.levels, strict=True):
        pub = target.predict(row, published())[0]
        new = target.predict(row, fitted)[0]
        out.append({"concurrency": lv.concurrency, "measured_tok_s": lv.output_tok_s, "published_tok_s": pub,
                    "fitted_tok_s": new, "fitted_error": max(new / lv.output_tok_s, lv.output_tok_s / new) - 1,
                    "ttft_p50_s": lv.ttft_s["p50"], "ttft_p99_s": lv.ttft_s["p99"],
                    "tpot_p50_s": lv.tpot_s["p50"], "tpot_p99_s": lv.tpot_s["p99"]})
    return out


def problems(fitted: Factors, levels: list[dict], tolerance: float = FIT_TOLERANCE) -> list[str]:
    """Why a live fit is unusable (empty: usable): a fitted factor pinned at the end of its allowed range
    (the model's physics cannot explain the server: wrong GPU, TP or precision, or a cache answering),
    or a level its own fit misses by more than `tolerance`. An overhead at zero is no such end: it
    says none was measured, which a fast engine can show."""
    out = []
    for name in LIVE_FITTED:
        low, high = RANGES[name]
        value = getattr(fitted, name)
        for end, bound in (("lower", low), ("upper", high)):
            if bound == 0 and name.endswith("_overhead_s"):
                continue
            if abs(value - bound) <= 1e-9 * max(1.0, abs(high - low)):
                out.append(f"{name} ended at its {end} bound {bound:g}: the capacity model cannot explain what was measured "
                           "(check --gpu, --gpus and --precision against the server)")
    worst = max(levels, key=lambda lv: lv["fitted_error"], default=None)
    if worst is not None and worst["fitted_error"] > tolerance:
        out.append(f"the fit misses its own measurement at concurrency {worst['concurrency']} by {worst['fitted_error']:.0%} "
                   f"(tolerance {tolerance:.0%}, --tolerance)")
    return out

"""The capacity model's GPU physics against microbenchmarks measured on a real GPU.

`cost/data/gpu-measurements/<GPU>.json` holds the runs of `scripts/gpu_probe.py` (HBM bandwidth,
GEMM rates, a Llama-3.1-8B-shaped decode step with random weights and its GEMM-only and
attention-only parts). `check()` sets them beside what `cost.physics.capacity` assumes for the same GPU and
shapes, and says, per efficiency factor, what the measurement implies and whether it confirms the
value in use. Pure: reads data files, imports nothing from Pulumi, does no GPU work.
"""

from __future__ import annotations

from pathlib import Path

from cost import catalog
from cost.catalog import strictload
from cost.errors import InputError
from cost.physics import capacity
from cost.physics.factors import Factors, published

MEASUREMENTS = Path(__file__).resolve().parents[1] / "data" / "gpu-measurements"
TOLERANCE = 0.10          # |implied / in use - 1| at or below this confirms a factor
PROBE_MODEL = "llama-3.1-8b"  # the decode step the probe builds (its shapes)


def available() -> list[str]:
    """GPU ids with a measurement file."""
    return sorted(p.stem.upper() for p in MEASUREMENTS.glob("*.json"))


def load(gpu_id: str) -> dict:
    """The measurement document for a GPU; InputError (key gpu) when there is none."""
    path = MEASUREMENTS / f"{gpu_id.lower()}.json"
    if not path.is_file():
        raise InputError("gpu", gpu_id, "a GPU with measurements: " + (", ".join(available()) or "none recorded"))
    return strictload.load_json(path, "gpu", "GPU measurement JSON file")


def _status(implied: float, in_use: float) -> str:
    ratio = implied / in_use
    if abs(ratio - 1) <= TOLERANCE:
        return "confirmed"
    return f"measured {ratio - 1:+.0%}"


def _factor(name: str, implied: float, in_use: float, evidence: str) -> dict:
    return {"factor": name, "in_use": in_use, "implied": float(f"{implied:.4g}"), "ratio": round(implied / in_use, 3),
            "status": _status(implied, in_use), "evidence": evidence}


def _decomposed(run: dict) -> bool:
    return not run.get("errors") and any("gemms_only_graph_s" in r for r in run.get("decode", {}).get("rows", []))


def check(gpu_id: str = "H200", factors: Factors | None = None) -> dict:
    """Measured vs modelled bandwidth, GEMM rates and decode steps for one GPU, and the factors implied.

    The last run is reported; each implied factor also lists its value in every run that measured
    it (`runs`), so the run-to-run spread is visible."""
    f = factors or published()
    doc = load(gpu_id)
    results = [_check_run(doc, run, f) for run in doc["runs"] if _decomposed(run)]
    if not results:
        raise InputError("gpu", gpu_id, "a GPU whose measurement file has a run with the decode-step decomposition")
    out = results[-1]
    for x in out["factors"]:
        x["runs"] = [next(y["implied"] for y in r["factors"] if y["factor"] == x["factor"]) for r in results]
    return out


def _check_run(doc: dict, run: dict, f: Factors) -> dict:
    gpu = catalog.gpu(doc["gpu"])
    peak_bf16, peak_fp8, hbm = gpu.bf16_tflops * 1e12, (gpu.fp8_tflops or 0) * 1e12, gpu.hbm_gb_s * 1e9

    stream = max(max(r["copy_gb_s"], r["read_gb_s"]) for r in run["hbm"]) * 1e9
    bf16 = {(r["m"], r["k"], r["n"]): r["tflops"] * 1e12 for r in run["gemm_bf16"]}
    best_bf16 = max(bf16.values())
    # the model's compute-bound GEMMs are its own shapes: prefill chunks through the MLP projections
    model_shaped = [v for (m, k, n), v in bf16.items() if n == 28672 or k == 14336]
    mfu = sum(model_shaped) / len(model_shaped) / peak_bf16

    decode = run["decode"]
    cfg = decode["config"]
    model = catalog.model(PROBE_MODEL)
    # a decode step streams every weight but the input embedding, of which it gathers the step's rows:
    # the model's bytes (catalog) and the probe's (its parameters) counted the same way
    weights_model = capacity.weight_bytes(model, "bf16") - model.vocab_size * model.hidden_size * 2
    weights_read = decode["param_bytes"] - cfg["vocab"] * cfg["hidden"] * 2
    rows = []
    for r in decode["rows"]:
        b, ctx = r["batch"], r["context"]
        parts = capacity.decode_step(model, gpu, 1, "bf16", b, ctx, f)
        gpu_model = parts["weights/gemm"] + parts["kv-attention"] + parts["layer kernels"]
        measured = r.get("compiled_graph_s", r["graph_s"])
        rows.append({
            "batch": b, "context": ctx,
            "measured_step_s": measured, "measured_step_kind": "torch.compile + CUDA graph" if "compiled_graph_s" in r
            else "eager ops + CUDA graph", "measured_unfused_step_s": r["graph_s"],
            "measured_gemms_s": r.get("gemms_only_graph_s"), "measured_attention_s": r.get("attention_only_graph_s"),
            "model_weights_gemm_s": parts["weights/gemm"], "model_kv_attention_s": parts["kv-attention"],
            "model_layer_kernels_s": parts["layer kernels"],
            "model_gpu_step_s": gpu_model, "model_scheduler_cpu_s": parts["scheduler/cpu"],
            "model_over_measured": gpu_model / measured,
        })

    one = next(r for r in decode["rows"] if r["batch"] == 1 and "gemms_only_graph_s" in r)
    kv_rows = sorted((r for r in decode["rows"] if "attention_only_graph_s" in r),
                     key=lambda r: r["kv_read_bytes"], reverse=True)[:2]
    kv_shapes = ", ".join(f"{r['batch']}x{r['context']}" for r in kv_rows)
    kv_bw = sum(r["kv_read_bytes"] / r["attention_only_graph_s"] for r in kv_rows) / len(kv_rows)
    # what a layer costs beyond its weight and KV bytes: the batch-1 step less its GEMMs and its KV read
    one_step = one.get("compiled_graph_s", one["graph_s"])
    one_kv = one["kv_read_bytes"] / kv_bw
    layer_s = (one_step - one["gemms_only_graph_s"] - one_kv) / model.layers
    implied = [
        _factor("hbm_efficiency", weights_model / one["gemms_only_graph_s"] / hbm, f.hbm_efficiency,
                f"batch-1 decode GEMMs took {one['gemms_only_graph_s'] * 1e3:.2f} ms for the {weights_model / 1e9:.2f} GB "
                f"of weights the model streams (the probe's {weights_read / 1e9:.2f} GB: "
                f"{weights_read / one['gemms_only_graph_s'] / 1e9:,.0f} GB/s of {gpu.hbm_gb_s:,.0f} datasheet; "
                f"stream copy/read ceiling {stream / 1e9:,.0f} GB/s = {stream / hbm:.0%})"),
        _factor("kv_read_efficiency", kv_bw / (hbm * f.hbm_efficiency), f.kv_read_efficiency,
                f"attention over {kv_shapes} tokens of KV read at "
                f"{kv_bw / 1e9:,.0f} GB/s; contiguous KV (no 16-token paging), so an upper bound for paged attention"),
        _factor("layer_overhead_s", layer_s, f.layer_overhead_s,
                f"batch-{one['batch']} decode step {one_step * 1e3:.2f} ms = GEMMs {one['gemms_only_graph_s'] * 1e3:.2f} ms + KV read "
                f"{one_kv * 1e3:.2f} ms + {(one_step - one['gemms_only_graph_s'] - one_kv) * 1e3:.2f} ms over "
                f"{model.layers} layers; unfused norms, RoPE and residuals (vLLM fuses some), so an upper bound"),
        _factor("gemm_mfu", mfu, f.gemm_mfu,
                f"bf16 GEMMs of the model's MLP shapes at {mfu * peak_bf16 / 1e12:,.0f} TFLOP/s of {gpu.bf16_tflops:,.0f} "
                f"peak (best shape {best_bf16 / 1e12:,.0f})"),
    ]
    fp8 = run.get("gemm_fp8") or {}
    if fp8.get("available") and peak_fp8:
        same = [(r, bf16[(r["m"], r["k"], r["n"])]) for r in fp8["rows"] if (r["m"], r["k"], r["n"]) in bf16]
        rel = sum((r["tflops"] * 1e12 / peak_fp8) / (v / peak_bf16) for r, v in same) / len(same)
        implied.append(_factor(
            "fp8_gemm_efficiency", rel, f.fp8_gemm_efficiency,
            "fp8 (torch._scaled_mm, per-tensor scales) vs bf16 utilisation on the same shapes: "
            + ", ".join(f"{r['m']}x{r['k']}x{r['n']} {r['tflops']:,.0f} vs {v / 1e12:,.0f} TFLOP/s" for r, v in same)))
    return {
        "gpu": gpu.id, "checked": doc["checked"], "source": doc["source"], "command": doc["command"],
        "device": {k: run["device"].get(k) for k in ("name", "torch", "cuda", "sm_count", "date_utc")}
        | {"driver": run["device"].get("nvidia_smi", {}).get("driver_version")},
        "factors_source": f.source,
        "datasheet": {"hbm_gb_s": gpu.hbm_gb_s, "bf16_tflops": gpu.bf16_tflops, "fp8_tflops": gpu.fp8_tflops},
        "measured": {"stream_gb_s": round(stream / 1e9, 1), "best_bf16_tflops": round(best_bf16 / 1e12, 1),
                     "model_shaped_bf16_tflops": round(mfu * peak_bf16 / 1e12, 1)},
        "model": {"hbm_gb_s": round(hbm * f.hbm_efficiency / 1e9, 1),
                  "bf16_tflops": round(peak_bf16 * f.gemm_mfu / 1e12, 1)},
        "factors": implied,
        "decode": rows,
        "not_measured": "scheduler/CPU overhead per step and per sequence (step_overhead_s, per_seq_overhead_s): "
                        "vLLM cannot run on the device machine; the probe's step has no scheduler",
    }

"""`breakeven gpucheck`: the capacity model's GPU physics against measurements on a real GPU."""

from __future__ import annotations

import argparse

from cost.report import FORMATS, grid
from cost.report_model import report_json


def _num(v: float) -> str:
    """A factor value: fractions to three places, microsecond-sized times in scientific notation."""
    return f"{v:.3f}" if v >= 0.01 else f"{v:.2e}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `breakeven gpucheck`: the GPU measured, the factors checked, the format."""
    p.add_argument("--gpu", default="H200", help="a GPU with a file in cost/data/gpu-measurements/")
    p.add_argument("--factors", help="a factors file to check instead of the published fit")
    p.add_argument("--format", default="table", choices=FORMATS)


def run(args: argparse.Namespace) -> int:
    """Print the comparison as a table or JSON."""
    from cost.physics import factors as factors_mod
    from cost.physics.gpucheck import check

    f = factors_mod.load(args.factors) if args.factors else None
    r = check(args.gpu, f)
    if args.format == "json":
        print(report_json(r))
        return 0
    md = args.format == "markdown"
    d, m, mod = r["device"], r["measured"], r["model"]
    print(f"{r['gpu']} measured {r['checked']} ({d['name']}, driver {d['driver']}, torch {d['torch']}); {r['source']}")
    print(f"HBM: stream {m['stream_gb_s']:,.0f} GB/s vs the model's {mod['hbm_gb_s']:,.0f} "
          f"({r['datasheet']['hbm_gb_s']:,.0f} x hbm_efficiency). bf16 GEMM: {m['model_shaped_bf16_tflops']:,.0f} TFLOP/s on "
          f"the model's shapes (best {m['best_bf16_tflops']:,.0f}) vs the model's {mod['bf16_tflops']:,.0f} "
          f"({r['datasheet']['bf16_tflops']:,.0f} x gemm_mfu)")
    print()
    print(grid(["Factor", "In use", "Implied", "Runs", "Status", "Evidence"],
               [[x["factor"], f"{x['in_use']:g}", _num(x["implied"]), " ".join(_num(v) for v in x["runs"]), x["status"],
                 x["evidence"]] for x in r["factors"]], md))
    print()
    ms = lambda v: "-" if v is None else f"{v * 1e3:.2f}"
    print(grid(["Batch", "Context", "Step ms", "Step kind", "GEMMs ms", "Model GEMM ms", "Attention ms",
                "Model KV ms", "Model GPU ms", "Model/meas"],
               [[str(x["batch"]), str(x["context"]), ms(x["measured_step_s"]), x["measured_step_kind"],
                 ms(x["measured_gemms_s"]), ms(x["model_weights_gemm_s"]), ms(x["measured_attention_s"]),
                 ms(x["model_kv_attention_s"]), ms(x["model_gpu_step_s"]), f"{x['model_over_measured']:.2f}"]
                for x in r["decode"]], md))
    print()
    print("Model GPU ms = weights/GEMM + KV-attention + layer-kernel terms of cost.physics.capacity's decode step (no scheduler/CPU term);"
          " the measured step adds unfused norms, RoPE and residuals that vLLM fuses.")
    print(f"Not measured: {r['not_measured']}.")
    return 0

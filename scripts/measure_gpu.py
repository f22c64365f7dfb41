"""Measure on this GPU what the capacity model rests on: HBM read and copy bandwidth, dense bf16 and fp8
GEMM throughput (8192^3), and decode-shaped GEMMs (n tokens through a 5120 x 25600 bf16 weight, a Qwen3-32B
MLP projection). Needs PyTorch with CUDA; prints JSON and writes $OUT/gpu-measurements.json if OUT is set.
Recorded results: cost/data/gpu-measurements.yaml.

    python3 scripts/measure_gpu.py
"""

import json
import os
import time

import torch


def timed(fn, reps=20):
    """Mean seconds per call after one warm-up call."""
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps


def main():
    d = torch.device("cuda")
    o = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    o.update(_bandwidth(d))
    o.update(_gemms(d))
    o["decode_gemm_5120x25600_bf16"] = _decode_gemms(d)
    return o


def _bandwidth(d):
    x = torch.empty(2 * 2**30, dtype=torch.bfloat16, device=d).normal_()          # 4 GiB
    y = torch.empty_like(x)
    return {"hbm_read_gb_s": x.numel() * 2 / timed(lambda: x.sum(dtype=torch.float32)) / 1e9,
            "hbm_copy_gb_s": 2 * x.numel() * 2 / timed(lambda: y.copy_(x)) / 1e9}


def _gemms(d):
    o = {}
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=d)
    b = torch.randn(8192, 8192, dtype=torch.bfloat16, device=d)
    o["bf16_gemm_tflops_8192"] = 2 * 8192**3 / timed(lambda: a @ b) / 1e12
    try:
        a8 = a.to(torch.float8_e4m3fn)
        b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0, device=d)
        o["fp8_gemm_tflops_8192"] = 2 * 8192**3 / timed(
            lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)) / 1e12
    except Exception as exc:   # no fp8 tensor cores (A100, A10G)
        o["fp8_error"] = str(exc)[:200]
    return o


def _decode_gemms(d):
    w = torch.randn(25600, 5120, dtype=torch.bfloat16, device=d)
    rows = []
    for n in (1, 8, 32, 64, 128, 256, 512, 2048, 8192):
        h = torch.randn(n, 5120, dtype=torch.bfloat16, device=d)
        t = timed(lambda: h @ w.t(), 50)
        rows.append({"tokens": n, "us": round(t * 1e6, 2), "weight_gb_s": round(w.numel() * 2 / t / 1e9),
                     "tflops": round(2 * n * w.numel() / t / 1e12, 1)})
    return rows


if __name__ == "__main__":
    text = json.dumps(main(), indent=1)
    print(text)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu-measurements.json"), "w", encoding="utf-8") as fh:
            fh.write(text)

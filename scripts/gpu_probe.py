"""Measure one GPU against the capacity model's physics: HBM bandwidth, GEMM rates, a decode step.

Self-contained (PyTorch only; no vLLM, no downloads). Writes one JSON file:

* device facts (torch, nvidia-smi);
* HBM bandwidth: device-to-device copy (bytes read + written) and a read-only reduction, several sizes;
* dense BF16 GEMM TFLOP/s on large shapes, and decode-shaped skinny GEMMs (M = batch 1..256 with the
  Llama-3.1-8B and 70B projection shapes), weights rotated through several copies so L2 cannot hold them;
* FP8 GEMM through ``torch._scaled_mm`` where it works;
* a Llama-3.1-8B-shaped decode step (random bf16 weights, 32 layers, GQA attention over a KV cache of a
  stated context, LM head and argmax), per batch size, replayed as a CUDA graph as vLLM does (and eager).

Every time is the median over repeats of a loop timed with CUDA events after warm-up.
``--smoke`` runs tiny shapes on the CPU so the one GPU run cannot fail on a typo.

    python3 scripts/gpu_probe.py --out h200.json
    python3 scripts/gpu_probe.py --smoke --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F

LLAMA_8B = {"layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8, "head_dim": 128,
            "intermediate": 14336, "vocab": 128256}
LLAMA_70B = {"layers": 80, "hidden": 8192, "heads": 64, "kv_heads": 8, "head_dim": 128,
             "intermediate": 28672, "vocab": 128256}
SMOKE_MODEL = {"layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "head_dim": 16,
               "intermediate": 128, "vocab": 256}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Timer:
    """Median seconds per call of fn(i), timed over loops of `inner` calls, `outer` times."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def __call__(self, fn, inner: int = 10, outer: int = 5, warmup: int = 3) -> float:
        for i in range(warmup):
            fn(i)
        self.sync()
        samples = []
        for _ in range(outer):
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for i in range(inner):
                    fn(i)
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end) / 1e3 / inner)
            else:
                t0 = time.perf_counter()
                for i in range(inner):
                    fn(i)
                samples.append((time.perf_counter() - t0) / inner)
        return statistics.median(samples)


def nvidia_smi() -> dict:
    fields = ["name", "driver_version", "memory.total", "clocks.max.sm", "clocks.max.mem", "clocks.sm",
              "clocks.mem", "power.limit", "temperature.gpu", "pcie.link.gen.current"]
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
        values = [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")]
        return dict(zip(fields, values, strict=True))
    except Exception as exc:  # no nvidia-smi on the smoke machine
        return {"error": f"{type(exc).__name__}: {exc}"}


def device_facts(device: torch.device) -> dict:
    facts = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
             "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        facts.update({"name": p.name, "capability": f"{p.major}.{p.minor}", "sm_count": p.multi_processor_count,
                      "memory_bytes": p.total_memory,
                      "l2_bytes": getattr(p, "L2_cache_size", None),
                      "nvidia_smi": nvidia_smi()})
    else:
        facts["name"] = "cpu (smoke)"
    return facts


# --- HBM bandwidth -------------------------------------------------------------------------------
def hbm(device: torch.device, timer: Timer, sizes_bytes: list[int]) -> list[dict]:
    rows = []
    for size in sizes_bytes:
        n = size // 4
        src = torch.rand(n, device=device, dtype=torch.float32)
        dst = torch.empty_like(src)
        t_copy = timer(lambda i: dst.copy_(src), inner=10)
        t_sum = timer(lambda i: src.sum(), inner=10)
        rows.append({"bytes": n * 4, "copy_s": t_copy, "copy_gb_s": 2 * n * 4 / t_copy / 1e9,
                     "read_s": t_sum, "read_gb_s": n * 4 / t_sum / 1e9})
        log(f"hbm {n * 4 / 2**30:6.2f} GiB: copy {rows[-1]['copy_gb_s']:7.0f} GB/s (read+write), "
            f"read {rows[-1]['read_gb_s']:7.0f} GB/s")
        del src, dst
    return rows


# --- GEMMs ---------------------------------------------------------------------------------------
def copies_for(bytes_each: int, min_total: int) -> int:
    return max(1, min(64, math.ceil(min_total / max(1, bytes_each))))


def gemm_large(device: torch.device, timer: Timer, shapes: list[tuple[int, int, int]]) -> list[dict]:
    rows = []
    for m, k, n in shapes:
        a = torch.randn(m, k, device=device, dtype=torch.bfloat16)
        b = torch.randn(n, k, device=device, dtype=torch.bfloat16)
        t = timer(lambda i: F.linear(a, b), inner=10)
        rows.append({"m": m, "k": k, "n": n, "s": t, "tflops": 2 * m * k * n / t / 1e12})
        log(f"bf16 gemm {m}x{k}x{n}: {rows[-1]['tflops']:7.1f} TFLOP/s")
        del a, b
    return rows


def projection_shapes(cfg: dict) -> dict[str, tuple[int, int]]:
    """(K, N) of each decode projection: x[M, K] @ W[N, K]^T."""
    h, d = cfg["hidden"], cfg["head_dim"]
    return {"qkv": (h, (cfg["heads"] + 2 * cfg["kv_heads"]) * d), "o": (cfg["heads"] * d, h),
            "gate_up": (h, 2 * cfg["intermediate"]), "down": (cfg["intermediate"], h)}


def gemm_skinny(device: torch.device, timer: Timer, models: dict[str, dict], batches: list[int],
                min_rotate_bytes: int) -> list[dict]:
    rows = []
    for model_name, cfg in models.items():
        for proj, (k, n) in projection_shapes(cfg).items():
            w_bytes = k * n * 2
            ws = [torch.randn(n, k, device=device, dtype=torch.bfloat16) for _ in range(copies_for(w_bytes, min_rotate_bytes))]
            for m in batches:
                x = torch.randn(m, k, device=device, dtype=torch.bfloat16)
                t = timer(lambda i: F.linear(x, ws[i % len(ws)]), inner=20)
                moved = w_bytes + (m * k + m * n) * 2
                rows.append({"model": model_name, "proj": proj, "m": m, "k": k, "n": n, "s": t,
                             "tflops": 2 * m * k * n / t / 1e12, "gb_s": moved / t / 1e9, "weight_copies": len(ws)})
            log(f"skinny {model_name} {proj} {k}->{n}: " + ", ".join(
                f"M={r['m']} {r['gb_s']:.0f}GB/s {r['tflops']:.0f}TF" for r in rows[-len(batches):]))
            del ws
    return rows


def gemm_fp8(device: torch.device, timer: Timer, shapes: list[tuple[int, int, int]]) -> dict:
    if device.type != "cuda" or not hasattr(torch, "_scaled_mm"):
        return {"available": False, "error": "needs CUDA and torch._scaled_mm"}
    rows = []
    try:
        for m, k, n in shapes:
            a = torch.randn(m, k, device=device).to(torch.float8_e4m3fn)
            w = torch.randn(n, k, device=device).to(torch.float8_e4m3fn)
            one = torch.tensor(1.0, device=device)
            t = timer(lambda i: torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16),
                      inner=10)
            rows.append({"m": m, "k": k, "n": n, "s": t, "tflops": 2 * m * k * n / t / 1e12})
            log(f"fp8 gemm {m}x{k}x{n}: {rows[-1]['tflops']:7.1f} TFLOP/s")
            del a, w
        return {"available": True, "rows": rows}
    except Exception as exc:
        return {"available": False, "rows": rows, "error": f"{type(exc).__name__}: {exc}"}


# --- a Llama decode step -------------------------------------------------------------------------
class LlamaDecoder:
    """Random-weight Llama decoder for one decode step per call (plain torch ops, bf16)."""

    def __init__(self, cfg: dict, device: torch.device, max_batch: int, max_ctx: int):
        self.cfg = cfg
        h, d, L = cfg["hidden"], cfg["head_dim"], cfg["layers"]
        dt_ = torch.bfloat16

        def w(*shape):
            return torch.randn(*shape, device=device, dtype=dt_) * 0.02

        qkv_n = (cfg["heads"] + 2 * cfg["kv_heads"]) * d
        self.embed = w(cfg["vocab"], h)
        self.layers = [{"ln1": torch.ones(h, device=device, dtype=dt_), "qkv": w(qkv_n, h), "o": w(h, cfg["heads"] * d),
                        "ln2": torch.ones(h, device=device, dtype=dt_), "gate_up": w(2 * cfg["intermediate"], h),
                        "down": w(h, cfg["intermediate"])} for _ in range(L)]
        self.norm = torch.ones(h, device=device, dtype=dt_)
        self.lm_head = w(cfg["vocab"], h)
        shape = (max_batch, cfg["kv_heads"], max_ctx, d)
        self.k_cache = [torch.randn(shape, device=device, dtype=dt_) for _ in range(L)]
        self.v_cache = [torch.randn(shape, device=device, dtype=dt_) for _ in range(L)]
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d))
        self.inv_freq = inv

    def param_bytes(self) -> int:
        n = self.embed.numel() + self.lm_head.numel() + self.norm.numel()
        n += sum(t.numel() for layer in self.layers for t in layer.values())
        return n * 2

    @staticmethod
    def _rms(x, weight):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * weight

    def _rope(self, x, pos: int):
        ang = pos * self.inv_freq
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        x1, x2 = x[..., ::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)

    def step(self, tokens: torch.Tensor, ctx: int) -> torch.Tensor:
        """One decode token for each of len(tokens) sequences holding `ctx` tokens of KV each."""
        cfg = self.cfg
        b, hq, hk, d = tokens.shape[0], cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
        pos = ctx - 1
        x = self.embed[tokens]
        for i, p in enumerate(self.layers):
            h = self._rms(x, p["ln1"])
            qkv = F.linear(h, p["qkv"])
            q, k, v = qkv.split([hq * d, hk * d, hk * d], dim=-1)
            q = self._rope(q.view(b, hq, d), pos)
            k = self._rope(k.view(b, hk, d), pos)
            kc, vc = self.k_cache[i], self.v_cache[i]
            kc[:b, :, pos] = k
            vc[:b, :, pos] = v.view(b, hk, d)
            # GQA decode: the query heads of one KV group become that group's query rows.
            qg = q.view(b, hk, hq // hk, d)
            attn = F.scaled_dot_product_attention(qg, kc[:b, :, :ctx], vc[:b, :, :ctx])
            x = x + F.linear(attn.reshape(b, hq * d), p["o"])
            h = self._rms(x, p["ln2"])
            gate, up = F.linear(h, p["gate_up"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, p["down"])
        logits = F.linear(self._rms(x, self.norm), self.lm_head)
        return logits.argmax(-1)

    def gemms_only(self, tokens: torch.Tensor, ctx: int) -> torch.Tensor:
        """The step's weight GEMMs alone (same shapes and weights, no norms, rope, attention)."""
        cfg = self.cfg
        b, hq, d = tokens.shape[0], cfg["heads"], cfg["head_dim"]
        x = self.embed[tokens]
        for p in self.layers:
            q = F.linear(x, p["qkv"])[:, : hq * d]
            x = F.linear(q, p["o"])
            gate, _ = F.linear(x, p["gate_up"]).chunk(2, dim=-1)
            x = F.linear(gate, p["down"])
        return F.linear(x, self.lm_head).argmax(-1)

    def attention_only(self, tokens: torch.Tensor, ctx: int) -> torch.Tensor:
        """The step's attention over the KV cache alone (one SDPA per layer)."""
        cfg = self.cfg
        b, hq, hk, d = tokens.shape[0], cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
        q = self.embed[tokens][:, : hq * d].reshape(b, hk, hq // hk, d)
        for i in range(cfg["layers"]):
            q = F.scaled_dot_product_attention(q, self.k_cache[i][:b, :, :ctx], self.v_cache[i][:b, :, :ctx])
        return q


def graph_time(timer: Timer, fn) -> float:
    """Median seconds of one CUDA-graph replay of fn() (captured after side-stream warm-up)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    t = timer(lambda i: graph.replay(), inner=5, outer=5, warmup=2)
    del graph
    return t


def decode_steps(device: torch.device, timer: Timer, cfg: dict, batches: list[int], ctx: int,
                 ctx_sweep: list[tuple[int, int]], compile_batches: tuple[int, ...] = (),
                 compile_deadline: float = 0.0) -> dict:
    result = {"model": "llama-3.1-8b shape, random bf16 weights", "config": cfg, "rows": []}
    points = [(b, ctx) for b in batches] + list(ctx_sweep)
    max_batch = max(b for b, _ in points)
    max_ctx = max(c for _, c in points)
    # one cache sized for the largest batch at the base context, one for the context sweep
    groups = [[p for p in points if p[1] <= ctx], [p for p in points if p[1] > ctx]]
    for group in groups:
        if not group:
            continue
        gb = max(b for b, _ in group)
        gc = max(c for _, c in group)
        model = LlamaDecoder(cfg, device, gb, gc)
        result["param_bytes"] = model.param_bytes()
        for b, c in group:
            tokens = torch.randint(0, cfg["vocab"], (b,), device=device)
            row = {"batch": b, "context": c}
            with torch.no_grad():
                row["eager_s"] = timer(lambda i: model.step(tokens, c), inner=3, outer=3, warmup=2)
                if device.type != "cuda":   # smoke: exercise the parts once
                    model.gemms_only(tokens, c)
                    model.attention_only(tokens, c)
                else:
                    parts = [("graph_s", model.step), ("gemms_only_graph_s", model.gemms_only),
                             ("attention_only_graph_s", model.attention_only)]
                    if b in compile_batches and time.time() < compile_deadline:
                        parts.append(("compiled_graph_s", torch.compile(model.step, dynamic=False)))
                    for key, fn in parts:
                        try:
                            row[key] = graph_time(timer, lambda: fn(tokens, c))
                        except Exception as exc:
                            row[key[:-2] + "_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            best = row.get("graph_s", row["eager_s"])
            row["step_s"] = best
            row["tok_s"] = b / best
            kv_bytes = 2 * cfg["layers"] * cfg["kv_heads"] * cfg["head_dim"] * 2 * b * c
            row["kv_read_bytes"] = kv_bytes
            row["bytes_per_s"] = (result["param_bytes"] + kv_bytes) / best
            result["rows"].append(row)
            ms = {k: f"{row[k] * 1e3:.2f}" for k in ("graph_s", "gemms_only_graph_s", "attention_only_graph_s",
                                                       "compiled_graph_s") if k in row}
            log(f"decode b={b:4d} ctx={c:5d}: eager {row['eager_s'] * 1e3:7.2f} ms, {ms}, {row['tok_s']:8.0f} tok/s, "
                f"{row['bytes_per_s'] / 1e9:6.0f} GB/s")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (checks the script, not the GPU)")
    ap.add_argument("--compile-batches", type=int, nargs="*", default=[1, 64, 256],
                    help="batch sizes whose decode step is also timed under torch.compile (each compiles ~30 s)")
    ap.add_argument("--compile-until-s", type=float, default=200.0,
                    help="start no torch.compile after this many seconds of the run")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    timer = Timer(device)
    t0 = time.time()
    out: dict = {"probe": "scripts/gpu_probe.py", "smoke": args.smoke, "device": device_facts(device), "errors": {}}
    log(f"device: {out['device'].get('name')} torch {torch.__version__}")
    torch.manual_seed(0)

    if args.smoke:
        sizes = [2**20, 2**22]
        large = [(64, 64, 64), (128, 64, 96)]
        models = {"tiny": SMOKE_MODEL}
        batches = [1, 8]
        rotate = 2**16
        decode_cfg, decode_batches, ctx, sweep = SMOKE_MODEL, [1, 8], 32, [(4, 64)]
        fp8_shapes = [(64, 64, 64)]
    else:
        sizes = [2**28, 2**30, 2**32]
        large = [(4096, 4096, 4096), (8192, 8192, 8192), (8192, 4096, 28672), (8192, 14336, 4096), (2048, 4096, 6144)]
        models = {"llama-3.1-8b": LLAMA_8B, "llama-3.1-70b": LLAMA_70B}
        batches = [1, 8, 32, 64, 128, 256]
        rotate = 2**29   # 512 MiB of weight copies: far beyond the 60 MB L2
        decode_cfg, decode_batches, ctx, sweep = LLAMA_8B, [1, 8, 32, 64, 128, 256], 1024, [(64, 4096), (32, 8192)]
        fp8_shapes = [(8192, 8192, 8192), (4096, 4096, 4096), (256, 4096, 28672), (64, 4096, 28672)]

    sections = [
        ("hbm", lambda: hbm(device, timer, sizes)),
        ("gemm_bf16", lambda: gemm_large(device, timer, large)),
        ("gemm_fp8", lambda: gemm_fp8(device, timer, fp8_shapes)),
        ("gemm_skinny_bf16", lambda: gemm_skinny(device, timer, models, batches, rotate)),
        ("decode", lambda: decode_steps(device, timer, decode_cfg, decode_batches, ctx, sweep,
                                        compile_batches=tuple(args.compile_batches), compile_deadline=t0 + args.compile_until_s)),
    ]
    for name, fn in sections:
        try:
            out[name] = fn()
        except Exception as exc:
            out["errors"][name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            log(f"{name} FAILED: {exc}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
        with open(args.out, "w") as f:   # write after every section: a timeout keeps what was measured
            json.dump(out, f, indent=1)
    if device.type == "cuda":
        out["device"]["nvidia_smi_after"] = nvidia_smi()
    out["wall_s"] = time.time() - t0
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    log(f"done in {out['wall_s']:.0f} s; errors: {list(out['errors']) or 'none'}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

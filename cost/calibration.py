"""The capacity model's efficiency factors, and how well they reproduce published measurements.

Every factor is a named constant with what it stands for and how it was set. Two kinds:

* physical priors, set from microbenchmarks / engine documentation and NOT fitted (stated source);
* fitted factors, set by `fit_factors()` (a bounded coordinate search, no scipy) on the vLLM rows of
  `cost/data/calibration.csv` only — minimising the mean squared log error over the three fit rows
  plus a penalty whenever vLLM would be predicted above a TensorRT-LLM / MLPerf upper bound. The
  values below are the result of that search, recorded (nothing is refitted at import or run time).

`cost/data/validation.csv` holds other published vLLM measurements; they are never fitted on and
`summary()` reports their error separately. Errors are max(pred/meas, meas/pred) - 1.

Which vLLM: current releases (V1 engine, or v0.6 with multi-step scheduling). Older v0.4/v0.5
numbers are CPU-bound and 1.5-2.5x lower than this model predicts.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"

# --- memory-bound decode ---------------------------------------------------------------------------
# Fraction of datasheet HBM bandwidth that weight streaming reaches in decode GEMVs/GEMMs.
# Fitted (the batch-1 row, 75 tok/s on A100-40GB, pins it; stream benchmarks give 0.85-0.92).
HBM_EFFICIENCY = 0.854
# Paged-attention KV reads relative to weight streaming (scattered 16-token blocks, small per-head
# tiles). Physical prior 0.8 (FlashAttention/FlashInfer decode kernels reach ~70-85 % of stream BW).
KV_READ_EFFICIENCY = 0.8

# --- compute-bound work ----------------------------------------------------------------------------
# Model FLOPs utilisation of the GEMMs once they are compute-bound: batched decode (>= ~150 tokens a
# step on A100/H100) and the prefill chunks interleaved into the steps (attention FLOPs included).
# Fitted (the batched ShareGPT row on A100 pins it; bounded by the ~86 % of peak that the best
# A100/H100 matmul shapes reach in maximum-achievable-matmul-FLOPS measurements).
GEMM_MFU = 0.72
# FP8 W8A8 GEMMs relative to their (2x) fp8 peak: per-tensor scaling and the bf16 epilogue keep them
# at ~60-70 % of the bf16 utilisation. Physical prior 0.65 (vLLM/CUTLASS fp8 GEMM benchmarks report
# 1.5-1.7x over bf16, not 2x); checked against the fp8 upper-bound rows.
FP8_GEMM_EFFICIENCY = 0.65
# Weight-only quantized GEMMs (AWQ/GPTQ int4, fp8 on GPUs without fp8 tensor cores; Marlin kernels)
# at large batch relative to bf16 GEMMs: dequantisation in the main loop. Physical prior 0.7.
WEIGHT_ONLY_QUANT_GEMM_EFFICIENCY = 0.7

# --- engine overheads --------------------------------------------------------------------------------
# Scheduler/CPU time per engine step that the GPU waits on (input preparation, kernel launches
# outside CUDA graphs, sampling launch). Physical prior 0.5 ms, NOT fitted: the batch-1 row cannot
# separate it from HBM_EFFICIENCY.
STEP_OVERHEAD_S = 0.0005
# CPU time per running sequence per step on the critical path (scheduling, block tables and slot
# mappings, sampling metadata, output processing). Physical prior 40 us, NOT fitted (the three fit
# rows cannot separate it from GEMM_MFU): vLLM's own v0.6.0 profile of Llama-3-8B on one H100 put
# 29 % of step time in scheduling and 33 % in the API server before multi-step scheduling; with
# ~10x amortisation tens of microseconds per sequence remain. At 256 sequences it is ~10 ms a
# step: this, not HBM bandwidth, is what caps batched vLLM on fast GPUs with small models.
PER_SEQ_OVERHEAD_S = 40e-6
# Multiplier on all GPU work per doubling of tensor parallelism (smaller per-GPU GEMMs, kernel
# launch skew between ranks, synchronisation at every all-reduce). Fitted on the TP4 ShareGPT row.
TP_EFFICIENCY_PER_DOUBLING = 0.809
# Latency of one all-reduce (two per layer per step). Physical priors: vLLM's custom all-reduce over
# NVLink ~8-12 µs per call for decode-sized messages; NCCL over PCIe ~30-50 µs.
ALLREDUCE_LATENCY_NVLINK_S = 10e-6
ALLREDUCE_LATENCY_PCIE_S = 40e-6

# --- traffic ----------------------------------------------------------------------------------------
# Coefficient of variation of output lengths assumed for real traffic (ShareGPT-like chat). It
# length-biases the KV each running sequence holds and reads: O x (1 + cv^2) / 2 instead of O / 2.
REAL_TRAFFIC_LENGTH_CV = 1.0
# Share of the KV capacity the scheduler can keep occupied with variable lengths before it must
# preempt (vLLM keeps a watermark and must leave room for running sequences to grow). Prior 0.9.
KV_ADMISSION_FILL = 0.9
# Overall multiplier on sustained throughput for what the step model leaves out (request arrival
# jitter, stragglers, preemption/recompute). 1.0 = none; kept as a named hook, not fitted.
SERVING_EFFICIENCY = 1.0

FACTOR_NAMES = (
    "HBM_EFFICIENCY", "KV_READ_EFFICIENCY", "GEMM_MFU", "FP8_GEMM_EFFICIENCY",
    "WEIGHT_ONLY_QUANT_GEMM_EFFICIENCY", "STEP_OVERHEAD_S", "PER_SEQ_OVERHEAD_S", "TP_EFFICIENCY_PER_DOUBLING",
    "ALLREDUCE_LATENCY_NVLINK_S", "ALLREDUCE_LATENCY_PCIE_S", "REAL_TRAFFIC_LENGTH_CV", "KV_ADMISSION_FILL",
    "SERVING_EFFICIENCY",
)
FITTED = ("HBM_EFFICIENCY", "GEMM_MFU", "TP_EFFICIENCY_PER_DOUBLING")


def factors() -> dict[str, float]:
    """The current factor values by name."""
    return {name: globals()[name] for name in FACTOR_NAMES}


# --- measurement rows -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    engine: str
    engine_version: str
    model: str
    model_id: str
    precision: str
    gpu: str
    tp: int
    input_tokens: str
    output_tokens: str
    concurrency: str
    measured: float
    source: str
    kind: str
    avg_input_tokens: float
    avg_output_tokens: float
    length_cv: float
    num_prompts: int | None
    max_num_seqs: int
    gpu_memory_utilization: float
    date: str = ""
    notes: str = ""

    @property
    def requested_concurrency(self) -> int | None:
        try:
            return int(self.concurrency)
        except ValueError:
            return None   # 'max', 'unbounded (...)', 'offline': as many as the engine admits


def _read(name: str) -> list[Row]:
    with open(DATA / name, encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        rows.append(Row(
            engine=r["engine"], engine_version=r["engine_version"], model=r["model"], model_id=r["model_id"],
            precision=r["precision"], gpu=r["gpu"], tp=int(r["tp"]), input_tokens=r["input_tokens"],
            output_tokens=r["output_tokens"], concurrency=r["concurrency"], measured=float(r["output_tok_s"]),
            source=r["source"], kind=r["kind"], avg_input_tokens=float(r["avg_input_tokens"]),
            avg_output_tokens=float(r["avg_output_tokens"]), length_cv=float(r["length_cv"]),
            num_prompts=int(r["num_prompts"]) if r["num_prompts"] else None, max_num_seqs=int(r["max_num_seqs"]),
            gpu_memory_utilization=float(r["gpu_memory_utilization"]), date=r.get("date", ""),
            notes=r.get("notes", ""),
        ))
    return rows


@cache
def measurements() -> tuple[Row, ...]:
    """Fit and upper-bound rows (calibration.csv) followed by held-out rows (validation.csv)."""
    return tuple(_read("calibration.csv") + _read("validation.csv"))


def ramp_down_factor(steady_tok_s: float, step_1_s: float, batch: int, row: Row) -> float:
    """Throughput a finite 'all requests at once' run measures, as a share of the steady state.

    When the queue empties, the last `batch` sequences drain at shrinking batch: each step still pays
    the batch-1 cost (weights read, fixed overheads) for fewer tokens. The drain lasts the longest
    residual output: for fixed lengths O (residuals uniform on [0, O]) the extra time is ~step_1 x O/2;
    for exponential-like lengths (cv ~ 1) the longest of `batch` residuals is ~O (ln batch + 0.58),
    so the extra time is ~step_1 x O (ln batch - 0.42). Blended linearly in cv between the two.
    Pure physics of the measurement; no fitted parameter.
    """
    if row.num_prompts is None or batch <= 1:
        return 1.0
    out = row.avg_output_tokens
    cv = min(1.0, row.length_cv)
    extra_steps = (1 - cv) * out / 2 + cv * out * max(0.0, math.log(batch) - 0.42)
    total_tokens = row.num_prompts * out
    steady_time = total_tokens / steady_tok_s
    return steady_time / (steady_time + extra_steps * step_1_s)


@dataclass(frozen=True)
class Prediction:
    engine: str
    model: str
    gpu_x_tp: str
    precision: str
    in_out: str
    concurrency: str
    measured: float
    predicted: float
    error: float            # max(pred/meas, meas/pred) - 1
    ratio: float            # pred / meas
    kind: str               # "fit" | "upper-bound" | "validation"
    source: str
    concurrency_used: int = 0
    limited_by: str = ""


def predict(row: Row) -> tuple[float, int, str]:
    """The capacity model's prediction for one measurement row: (tok/s, concurrency used, limit)."""
    from cost import capacity, catalog

    model = catalog.model(row.model_id)
    gpu = catalog.gpu(row.gpu)
    req = row.requested_concurrency   # None: every prompt offered at once, the engine's admission limit
    t = capacity.throughput(
        model, gpu, row.tp, row.precision, row.avg_input_tokens, row.avg_output_tokens,
        concurrency=req, gpu_memory_utilization=row.gpu_memory_utilization,
        max_num_seqs=min(row.max_num_seqs, row.num_prompts or row.max_num_seqs), length_cv=row.length_cv,
    )
    tok_s = t.output_tok_s
    if row.num_prompts:
        one = capacity.throughput(
            model, gpu, row.tp, row.precision, row.avg_input_tokens, row.avg_output_tokens, concurrency=1,
            gpu_memory_utilization=row.gpu_memory_utilization, length_cv=row.length_cv,
        )
        tok_s *= ramp_down_factor(tok_s, one.decode_step_s, t.concurrency, row)
    return tok_s, t.concurrency, t.limited_by


def _error(pred: float, meas: float) -> float:
    return max(pred / meas, meas / pred) - 1.0


def calibration_rows() -> list[Prediction]:
    """Predicted vs measured for every row: fit, upper-bound and validation."""
    out = []
    for row in measurements():
        pred, conc, limit = predict(row)
        out.append(Prediction(
            engine=f"{row.engine} {row.engine_version}".strip(), model=row.model,
            gpu_x_tp=f"{row.tp}x {row.gpu}", precision=row.precision,
            in_out=f"{row.input_tokens}/{row.output_tokens}", concurrency=row.concurrency,
            measured=row.measured, predicted=pred, error=_error(pred, row.measured), ratio=pred / row.measured,
            kind=row.kind, source=row.source, concurrency_used=conc, limited_by=limit,
        ))
    return out


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def summary() -> dict:
    """Median and max absolute error over the vLLM rows (fit and validation separately), and the
    worst prediction/upper-bound ratio (must stay at or below 1)."""
    rows = calibration_rows()
    out: dict = {}
    for kind in ("fit", "validation"):
        errs = [r.error for r in rows if r.kind == kind]
        out[kind] = {"rows": len(errs), "median_error": _median(errs), "max_error": max(errs) if errs else float("nan")}
    ratios = [r.ratio for r in rows if r.kind == "upper-bound"]
    out["upper-bound"] = {"rows": len(ratios), "max_ratio": max(ratios) if ratios else float("nan"),
                          "all_at_or_below": all(x <= 1.0 for x in ratios)}
    out["factors"] = factors()
    return out


# --- offline refit -----------------------------------------------------------------------------------
_BOUNDS = {
    "HBM_EFFICIENCY": (0.6, 0.95), "GEMM_MFU": (0.3, 0.86), "TP_EFFICIENCY_PER_DOUBLING": (0.5, 1.0),
}


def _objective() -> float:
    from cost import capacity

    capacity._config.cache_clear()
    loss = 0.0
    for row in measurements():
        if row.kind == "validation":
            continue
        pred, _, _ = predict(row)
        if row.kind == "fit":
            loss += math.log(pred / row.measured) ** 2
        elif pred > row.measured:     # upper bound violated
            loss += 4 * math.log(pred / row.measured) ** 2
    return loss


def fit_factors(rounds: int = 6, steps: int = 16) -> dict[str, float]:
    """Bounded coordinate search over FITTED factors on the fit and upper-bound rows (never the
    validation rows). Mutates this module's constants; returns the fitted values. Offline use only:
    run it, then record the values above."""
    from cost import capacity

    g = globals()
    best = _objective()
    for _ in range(rounds):
        for name in FITTED:
            lo, hi = _BOUNDS[name]
            current = g[name]
            span = (hi - lo)
            for i in range(steps + 1):
                cand = lo + span * i / steps
                g[name] = cand
                val = _objective()
                if val < best - 1e-12:
                    best, current = val, cand
            g[name] = current
            # local refinement around the best value
            width = span / steps
            for i in range(-8, 9):
                cand = min(hi, max(lo, current + width * i / 8))
                g[name] = cand
                val = _objective()
                if val < best - 1e-12:
                    best, current = val, cand
            g[name] = current
    capacity._config.cache_clear()
    return {name: g[name] for name in FITTED}

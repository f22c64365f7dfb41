"""How well a set of capacity factors reproduces published measurements, and how the fit is made.

The factors themselves are data (`cost/data/factors.yaml`, loaded as a `cost.physics.factors.Factors`).
Two kinds, each stated there with what it stands for:

* physical priors, set from microbenchmarks / engine documentation and NOT fitted;
* fitted factors (FITTED), found by `fit_factors()` (a bounded coordinate search, no scipy) on the
  vLLM rows of `cost/data/calibration.csv` only — minimising the squared log error over the fit rows,
  each source weighing the same, plus a penalty whenever vLLM would be predicted above a
  TensorRT-LLM / MLPerf upper bound.
  `fit_factors` returns a new value; the published one is recorded in factors.yaml.

`cost/data/validation.csv` holds other published vLLM measurements; they are never fitted on and
`summary()` reports their error separately. Errors are max(pred/meas, meas/pred) - 1.

Which vLLM: current releases (V1 engine, or v0.6 with multi-step scheduling), and V0's single-step engine
(v0.6/v0.7 with `--num-scheduler-steps 1`, the V0 default), whose CPU work per step runs in series with the GPU:
a row's engine string says which (`Row.v0_single_step`, cost/physics/vllm_engine.py `v0_single_step`), and its
step pays the sourced CPU time of cost/data/vllm-engines.yaml. Older v0.4/v0.5 numbers (API server in the engine's
process, output processing in series) are slower still than that prices; no row of them is in the files.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from cost import catalog
from cost.errors import InputError
from cost.physics import capacity, vllm_engine
from cost.physics.factors import Factors, published

DATA = Path(__file__).resolve().parents[1] / "data"

FITTED = ("hbm_efficiency", "gemm_mfu", "prefill_mfu", "tp_efficiency_per_doubling", "per_seq_overhead_s",
          "weight_only_quant_gemm_efficiency", "async_per_seq_overlap")


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
    kv_cache_dtype: str = "auto"
    api_servers: int = 1
    async_scheduling: bool = False   # the engine overlapped each step's CPU work with the GPU's (cost/physics/vllm_engine.py)
    v0_single_step: bool = False     # V0's single-step engine, its CPU work in series (vllm_engine.v0_single_step)

    @property
    def requested_concurrency(self) -> int | None:
        try:
            return int(self.concurrency)
        except ValueError:
            return None   # 'max', 'unbounded (...)', 'offline': as many as the engine admits


ASYNC_SCHEDULING_VALUES = {"on": True, "off": False}


def _async_scheduling(value: str | None, engine: str, engine_version: str, where: str) -> bool:
    """A row's `async_scheduling` column: "on" / "off" as its server ran (--async-scheduling / --no-async-scheduling),
    blank when the source states neither: its vLLM version's default. A row of another engine (an upper bound) is
    predicted for the deployed vLLM, which must stay below it."""
    if not value:
        if engine != "vllm":
            return vllm_engine.DEPLOYED_ASYNC_SCHEDULING
        return vllm_engine.async_scheduling_by_default(engine_version)
    if value not in ASYNC_SCHEDULING_VALUES:
        raise InputError(f"{where}.async_scheduling", value, "on, off or blank (the engine version's default)")
    return ASYNC_SCHEDULING_VALUES[value]


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
            notes=r.get("notes", ""), kv_cache_dtype=r.get("kv_cache_dtype") or "auto",
            api_servers=int(r.get("api_servers") or 1),
            async_scheduling=_async_scheduling(r.get("async_scheduling"), r["engine"], r["engine_version"], name),
            v0_single_step=r["engine"] == "vllm" and vllm_engine.v0_single_step(r["engine_version"]),
        ))
    return rows


@cache
def measurements() -> tuple[Row, ...]:
    """Fit and upper-bound rows (calibration.csv) followed by held-out rows (validation.csv)."""
    return tuple(_read("calibration.csv") + _read("validation.csv"))


def ramp_down_factor(steady_tok_s: float, step_1_s: float, batch: int, row: Row) -> float:
    """Throughput a finite benchmark run measures, as a share of the steady state.

    A run of `num_prompts` requests - all offered at once, or through a closed loop of `batch` clients -
    ends with a drain: once the queue is empty the last `batch` sequences finish at a shrinking batch,
    each step still paying the batch-1 cost (weights read, fixed overheads) for fewer tokens. Sequences
    of one fixed length admitted together finish together (no drain); with exponential-like lengths
    (cv ~ 1) the longest of `batch` residual outputs is ~O (ln batch + 0.58), so the drain adds
    ~step_1 x O (ln batch - 0.42). Blended linearly in cv. Pure physics of the measurement; no fitted
    parameter.
    """
    if row.num_prompts is None or batch <= 1:
        return 1.0
    out = row.avg_output_tokens
    extra_steps = min(1.0, row.length_cv) * out * max(0.0, math.log(batch) - 0.42)
    steady_time = row.num_prompts * out / steady_tok_s
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
    model_id: str = ""
    gpu: str = ""
    tp: int = 1
    avg_input_tokens: float = 0.0
    async_scheduling: bool = False   # predicted for an engine that overlaps its CPU and GPU work (the row's server)
    v0_single_step: bool = False     # predicted for V0's single-step engine (Row.v0_single_step)


def predict(row: Row, factors: Factors | None = None) -> tuple[float, int, str]:
    """The capacity model's prediction for one measurement row: (tok/s, concurrency used, limit)."""
    f = factors or published()
    model = catalog.model(row.model_id)
    gpu = catalog.gpu(row.gpu)
    # None: every prompt offered at once, as many running as the engine admits (and the run has)
    req = row.requested_concurrency or row.num_prompts
    t = capacity.throughput(
        model, gpu, row.tp, row.precision, row.avg_input_tokens, row.avg_output_tokens,
        concurrency=req, gpu_memory_utilization=row.gpu_memory_utilization,
        max_num_seqs=row.max_num_seqs, length_cv=row.length_cv, factors=f,
        kv_cache_dtype=row.kv_cache_dtype, api_servers=row.api_servers, async_scheduling=row.async_scheduling,
        v0_single_step=row.v0_single_step,
    )
    tok_s = t.output_tok_s
    if row.num_prompts:
        one = capacity.throughput(
            model, gpu, row.tp, row.precision, row.avg_input_tokens, row.avg_output_tokens, concurrency=1,
            gpu_memory_utilization=row.gpu_memory_utilization, max_num_seqs=row.max_num_seqs, length_cv=row.length_cv, factors=f,
            kv_cache_dtype=row.kv_cache_dtype, api_servers=row.api_servers, async_scheduling=row.async_scheduling,
            v0_single_step=row.v0_single_step,
        )
        tok_s *= ramp_down_factor(tok_s, one.decode_step_s, t.concurrency, row)
    limit = "num-prompts" if row.requested_concurrency is None and t.limited_by == "requested" else t.limited_by
    return tok_s, t.concurrency, limit


def _error(pred: float, meas: float) -> float:
    return max(pred / meas, meas / pred) - 1.0


def calibration_rows(factors: Factors | None = None) -> list[Prediction]:
    """Predicted vs measured for every row: fit, upper-bound and validation."""
    out = []
    for row in measurements():
        pred, conc, limit = predict(row, factors)
        out.append(Prediction(
            engine=f"{row.engine} {row.engine_version}".strip(), model=row.model,
            gpu_x_tp=f"{row.tp}x {row.gpu}", precision=row.precision,
            in_out=f"{row.input_tokens}/{row.output_tokens}", concurrency=row.concurrency,
            measured=row.measured, predicted=pred, error=_error(pred, row.measured), ratio=pred / row.measured,
            kind=row.kind, source=row.source, concurrency_used=conc, limited_by=limit,
            model_id=row.model_id, gpu=row.gpu, tp=row.tp, avg_input_tokens=row.avg_input_tokens,
            async_scheduling=row.async_scheduling, v0_single_step=row.v0_single_step,
        ))
    return out


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def summary(factors: Factors | None = None) -> dict:
    """Median and max absolute error over the vLLM rows (fit and validation separately), and the
    worst prediction/upper-bound ratio (must stay at or below 1)."""
    f = factors or published()
    rows = calibration_rows(f)
    out: dict = {}
    for kind in ("fit", "validation"):
        errs = [r.error for r in rows if r.kind == kind]
        out[kind] = {"rows": len(errs), "median_error": _median(errs), "max_error": max(errs) if errs else float("nan")}
    ratios = [r.ratio for r in rows if r.kind == "upper-bound"]
    out["upper-bound"] = {"rows": len(ratios), "max_ratio": max(ratios) if ratios else float("nan"),
                          "all_at_or_below": all(x <= 1.0 for x in ratios)}
    out["factors"] = f.values()
    return out


# --- error by regime and the validity range ------------------------------------------------------------
CONCURRENCY_BANDS = ((1, 1, "c = 1"), (2, 8, "c 2-8"), (9, 32, "c 9-32"), (33, 128, "c 33-128"), (129, 10**9, "c > 128"))
PROMPT_BANDS = ((0, 511, "prompt < 512"), (512, 1799, "prompt 512-1,799"), (1800, 10**9, "prompt >= 1,800"))


def _band(value: float, bands: tuple) -> str:
    return next(label for lo, hi, label in bands if lo <= value <= hi)


def regime_labels(model_id: str, gpu: str, tp: int, precision: str, concurrency: float,
                  avg_input_tokens: float) -> tuple[tuple[str, str], ...]:
    """The (dimension, regime) pairs a configuration or a measurement falls in: concurrency band, prompt
    length band, precision, GPU, tensor-parallel size, dense or MoE."""
    moe = catalog.model(model_id).is_moe
    return (("concurrency", _band(concurrency, CONCURRENCY_BANDS)), ("prompt", _band(avg_input_tokens, PROMPT_BANDS)),
            ("precision", precision), ("gpu", gpu), ("tp", f"tp {tp}"), ("architecture", "MoE" if moe else "dense"))


def _labels_of(r: Prediction) -> tuple[tuple[str, str], ...]:
    return regime_labels(r.model_id, r.gpu, r.tp, r.precision, r.concurrency_used, r.avg_input_tokens)


def regimes(factors: Factors | None = None, kinds: tuple[str, ...] = ("validation",)) -> list[dict]:
    """Error of the vLLM rows of `kinds` grouped by regime: concurrency band (the concurrency the model
    ran, i.e. the engine's admission limit for unbounded runs), prompt length band, precision, GPU,
    tensor-parallel size, dense or MoE. Each group: rows, median and max error, median pred/meas."""
    groups: dict[tuple[str, str], list[Prediction]] = {}
    for r in calibration_rows(factors):
        if r.kind not in kinds:
            continue
        for dim, label in _labels_of(r):
            groups.setdefault((dim, label), []).append(r)
    out = []
    for (dim, label), rs in sorted(groups.items()):
        errs = [r.error for r in rs]
        out.append({"dimension": dim, "regime": label, "rows": len(rs), "median_error": _median(errs),
                    "max_error": max(errs), "median_ratio": _median([r.ratio for r in rs])})
    return out


@cache
def validity() -> dict:
    """What the capacity model was checked on: the fit and validation vLLM rows' GPUs, precisions,
    tensor-parallel sizes, KV-cache dtypes, concurrency and prompt-length ranges, and whether any was MoE.
    Derived from the measurement files, so it grows with them."""
    rows = [r for r in measurements() if r.kind in ("fit", "validation")]
    conc = [r.requested_concurrency or min(r.max_num_seqs, r.num_prompts or r.max_num_seqs) for r in rows]
    return {
        "gpus": sorted({r.gpu for r in rows}), "precisions": sorted({r.precision for r in rows}),
        "tp": sorted({r.tp for r in rows}), "kv_cache_dtypes": sorted({r.kv_cache_dtype for r in rows}),
        "concurrency": [min(conc), max(conc)],
        "prompt_tokens": [min(r.avg_input_tokens for r in rows), max(r.avg_input_tokens for r in rows)],
        "moe_models": sorted({r.model_id for r in rows if catalog.model(r.model_id).is_moe}),
        "rows": len(rows),
    }


def validity_warnings(model_id: str, gpu: str, tp: int, precision: str, concurrency: int, avg_input_tokens: float,
                      kv_cache_dtype: str = "auto", nodes: int = 1) -> list[str]:
    """Where an estimate leaves the range the capacity model was checked on (empty when inside)."""
    return list(_validity_warnings(model_id, gpu, tp, precision, concurrency, avg_input_tokens, kv_cache_dtype, nodes))


@lru_cache(maxsize=8192)
def _validity_warnings(model_id: str, gpu: str, tp: int, precision: str, concurrency: int, avg_input_tokens: float,
                       kv_cache_dtype: str, nodes: int) -> tuple[str, ...]:
    """validity_warnings' sentences, kept for the process: a pure function of its arguments and of the catalog and
    measurement files, read once per process (`validity`)."""
    v = validity()
    out = []
    if gpu not in v["gpus"]:
        out.append(f"no published vLLM run on {gpu} was checked (checked: {', '.join(v['gpus'])}): physics only")
    if precision not in v["precisions"]:
        out.append(f"no {precision} run was checked (checked: {', '.join(v['precisions'])})")
    if tp not in v["tp"]:
        out.append(f"tensor parallel {tp} was not checked (checked: {', '.join(map(str, v['tp']))})")
    if kv_cache_dtype not in v["kv_cache_dtypes"]:
        out.append(f"KV cache dtype {kv_cache_dtype} was not checked")
    lo, hi = v["concurrency"]
    if not lo <= concurrency <= hi:
        out.append(f"concurrency {concurrency} is outside the checked {lo}-{hi}")
    lo, hi = v["prompt_tokens"]
    if not lo <= avg_input_tokens <= hi:
        out.append(f"prompts of {avg_input_tokens:,.0f} tokens are outside the checked {lo:,.0f}-{hi:,.0f}")
    model = catalog.models().get(model_id) or catalog.model(model_id)
    if model.is_moe and model_id not in v["moe_models"]:
        out.append("MoE expert-routing physics not checked against a published run of this model"
                   + (f" (checked: {', '.join(v['moe_models'])})" if v["moe_models"] else ""))
    if nodes > 1:
        out.append(f"a {nodes}-node replica (pipeline parallel across nodes) was not checked")
    return tuple(out)


# --- the error band every estimate carries ----------------------------------------------------------------
# Held-out rows kept out of every error band: those of V0's single-step engine (`Row.v0_single_step`: LambdaLabs' three
# vLLM 0.6.0 single-step runs, Qwen2.5's 0.6.3 speed benchmark). Their engine is modelled since issue 22 part v0 (held
# out, source 9's median 32 % -> 9.5 %, source 3's 8-79 % -> 6-8 %) and `breakeven calibration` reports them; they stay
# out of the band because the band describes the engine users deploy (vLLM 0.32, V1) and their CPU term is V0's own
# (cost/data/vllm-engines.yaml). LambdaLabs' three multi-step (num-scheduler-steps 10) 0.6.0 runs are in the band.


@dataclass(frozen=True)
class ErrorBand:
    """Where measured capacity may sit around the model's figure: measured tok/s from `low` x to `high` x the
    prediction (low <= 1 <= high), read from published vLLM runs the model was not fitted on.

    basis: "held-out" (the held-out runs most like the configuration: sharing the most of its regimes, at
    least MIN_BAND_ROWS of them; the fit runs sharing as many widen it where the model misses them by more) or
    "widest" (the configuration leaves what the model was checked on, `validity_warnings`: the worst error of
    every fit and held-out run, on each side). Each side is at least the median held-out error."""

    low: float
    high: float
    basis: str
    regimes: tuple[str, ...]     # the regimes the rows used share with the configuration
    rows: int                    # held-out measurements the band is read from (all measurements when "widest")
    worst: tuple[float, float]   # the lowest and highest predicted/measured ratio of every run used
    fit_rows: int = 0            # fit runs as alike as the held-out ones, whose misses the band also covers

    def to_dict(self) -> dict:
        return {"low": round(self.low, 4), "high": round(self.high, 4), "basis": self.basis, "regimes": list(self.regimes),
                "rows": self.rows, "fit_rows": self.fit_rows,
                "predicted_over_measured": [round(self.worst[0], 4), round(self.worst[1], 4)]}


@cache
def _band_rows() -> tuple[Prediction, ...]:
    """The published fit's predictions of the fit and held-out vLLM rows, less V0's single-step engine's."""
    return tuple(r for r in calibration_rows(published()) if r.kind in ("fit", "validation") and not r.v0_single_step)


def held_out_median_error() -> float:
    """The median error of the held-out rows of the modelled engines: the narrowest any band may be, per side."""
    return _median([r.error for r in _band_rows() if r.kind == "validation"])


# The fewest held-out runs a band is read from. A band is the range of the runs' errors, and the range of n draws
# covers on average (n - 1) / (n + 1) of where the next one falls: 3 alike runs cover half, 9 cover 80 %. Where
# fewer than 9 share the most regimes with a configuration, those sharing one regime fewer join them.
MIN_BAND_ROWS = 9


def error_band(model_id: str, gpu: str, tp: int, precision: str, concurrency: float, avg_input_tokens: float,
               outside: bool = False) -> ErrorBand:
    """The capacity error band of a configuration (see ErrorBand). outside: it leaves the checked range
    (`validity_warnings` names why): the widest band."""
    rows = _band_rows()
    floor = held_out_median_error()
    shared: tuple[str, ...] = ()
    fit: list[Prediction] = []
    if outside:
        used, basis = list(rows), "widest"
    else:
        labels = regime_labels(model_id, gpu, tp, precision, concurrency, avg_input_tokens)
        held = [r for r in rows if r.kind == "validation"]
        common = {id(r): [label for label in labels if label in _labels_of(r)] for r in held}
        need = max(len(c) for c in common.values())
        used = [r for r in held if len(common[id(r)]) >= need]
        while len(used) < MIN_BAND_ROWS and need > 0:   # too few alike: widen to those sharing one regime fewer
            need -= 1
            used = [r for r in held if len(common[id(r)]) >= need]
        shared = tuple(sorted({label for r in used for _, label in common[id(r)]}))
        basis = "held-out"
        # The fit runs most like the configuration (and at least as alike as the held-out runs used): where the
        # fitted model still misses them by more, that is a known error where this configuration sits, and the band
        # covers it too (a fit residual understates the error, never overstates it).
        fit_common = {id(r): len(set(labels) & set(_labels_of(r))) for r in rows if r.kind == "fit"}
        fit_need = max(need, max(fit_common.values(), default=0))
        fit = [r for r in rows if fit_common.get(id(r), -1) >= fit_need]
    ratios = [r.ratio for r in used + fit]
    lo_ratio, hi_ratio = min(ratios), max(ratios)
    return ErrorBand(low=min(1 / (1 + floor), 1 / hi_ratio), high=max(1 + floor, 1 / lo_ratio), basis=basis,
                     regimes=shared, rows=len(used), worst=(lo_ratio, hi_ratio), fit_rows=len(fit))


# --- offline refit -----------------------------------------------------------------------------------
# Physical bounds of the fitted factors: HBM streams reach <= 95 % of datasheet; bf16 GEMMs of the models' shapes <= 72 % of
# peak (69-71 % on our H200, best shape 78 %: cost/data/gpu-measurements/h200.json); CPU time per sequence <= 200 us.
_BOUNDS = {"hbm_efficiency": (0.6, 0.95), "gemm_mfu": (0.3, 0.72), "prefill_mfu": (0.1, 0.72),
           "tp_efficiency_per_doubling": (0.5, 1.0),
           "per_seq_overhead_s": (0.0, 0.0002), "weight_only_quant_gemm_efficiency": (0.3, 1.0),
           "async_per_seq_overlap": (0.0, 1.0)}


def source_of(row: Row) -> str:
    """The publication a row comes from: its source up to the first space (a URL host and path or a repo)."""
    return row.source.split(" ")[0].split("/docs/")[0]


def _objective(f: Factors, rows: tuple[Row, ...] | None = None, predictor: Callable = predict) -> float:
    """Squared-log-error objective over fit rows, with the upper-bound penalty (default: calibration.csv).

    Each source weighs the same whatever its number of rows (1 / its rows), so one lab's many runs on
    one setup cannot outvote the others."""
    rows = tuple(r for r in (measurements() if rows is None else rows) if r.kind != "validation")
    per_source = Counter(source_of(r) for r in rows)
    loss = 0.0
    for row in rows:
        pred, _, _ = predictor(row, f)
        w = 1.0 / per_source[source_of(row)]
        if row.kind == "fit":
            loss += w * math.log(pred / row.measured) ** 2
        elif pred > row.measured:     # upper bound violated
            loss += w * 4 * math.log(pred / row.measured) ** 2
    return loss


def fit_factors(start: Factors | None = None, rounds: int = 6, steps: int = 16, *,
                rows: tuple[Row, ...] | None = None, names: tuple[str, ...] = FITTED,
                bounds: dict[str, tuple[float, float]] | None = None, predictor: Callable = predict) -> Factors:
    """Bounded coordinate search over FITTED factors on the fit and upper-bound rows (never the
    validation rows), from `start` (default: the published fit). Returns a new Factors value.

    rows / names / bounds / predictor: fit other measurements (a live endpoint's, `breakeven calibrate`),
    other factors, within other bounds, predicted for a model or device outside the catalog; the
    objective is the same."""
    b = bounds or _BOUNDS
    best_f = start or published()
    best_f = best_f.replace(**{n: min(b[n][1], max(b[n][0], getattr(best_f, n))) for n in names})   # start inside the bounds
    best = _objective(best_f, rows, predictor)
    for _ in range(rounds):
        for name in names:
            lo, hi = b[name]
            span = hi - lo
            grid = [lo + span * i / steps for i in range(steps + 1)]
            for cand in grid:
                trial = best_f.replace(**{name: cand})
                val = _objective(trial, rows, predictor)
                if val < best - 1e-12:
                    best, best_f = val, trial
            centre, width = getattr(best_f, name), span / steps
            for i in range(-8, 9):   # local refinement around the best value
                trial = best_f.replace(**{name: min(hi, max(lo, centre + width * i / 8))})
                val = _objective(trial, rows, predictor)
                if val < best - 1e-12:
                    best, best_f = val, trial
    return best_f.replace(source="fit_factors() on calibration.csv vLLM rows")

"""The MoE kernels' cost from published kernel benchmarks (issue 22): the small-batch step floor, the fixed time one
MoE layer's kernel chain costs per engine step by GPU generation; and the rate the expert GEMMs stream their weights
at, by the expert width each GPU holds (part moen).

A decode step streams the routed experts its tokens touch; at small batch that is little, and what the chain of
kernels costs regardless (top-k, the token sort into expert blocks, two grouped GEMMs that cannot fill the GPU,
the activation, the weighted sum) dominates. The floor is read from published vLLM kernel benchmarks
(cost/data/moe-kernels.yaml, each with its source and date): for each benchmark, the least-squares line through its
kernel times against the expert bytes each batch streams, over its streaming points only (not read from L2, not past
touching every expert, not compute-bound), has a fixed part, the floor, and a slope, the streaming rate. A generation
with several benchmarks takes the mean floor. The rate over the GPU's datasheet bandwidth falls with the per-GPU expert
width N (a grouped GEMM of few, narrow tiles per expert keeps fewer bytes in flight): `expert_streaming_efficiency(N)`
interpolates it in log2(N) between the widths the benchmarks measured, and the routed experts of a decode step stream
`expert_stream_slowdown(N)` times slower than the dense weights (cost/physics/capacity.py `_config`).
No capacity measurement is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cost.catalog import gpu as catalog_gpu
from cost.catalog import strictload
from cost.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "moe-kernels.yaml"
NEARLY_ALL_EXPERTS = 0.95    # a batch touching more than this share of the experts streams (almost) no more bytes


@dataclass(frozen=True)
class KernelBenchmark:
    """One published fused-MoE kernel benchmark run: kernel microseconds by batch size for one layer shape."""

    generation: str
    gpu: str
    catalog_gpu: str      # the catalog GPU whose datasheet bandwidth and peak the benchmark's GPU has
    l2_bytes: float       # the GPU's L2 cache: a batch whose touched experts fit reads them from cache
    block_m: int          # BLOCK_SIZE_M: each expert's tokens are padded to a multiple of it
    kernel: str
    experts: int
    top_k: int
    hidden: int
    n: int                # intermediate size per GPU (vLLM's config-file `N=`)
    weight_bytes: float   # bytes per expert weight
    points: tuple[tuple[int, float], ...]   # (batch, microseconds), smallest batch first
    source: str

    def expert_bytes(self, batch: int) -> float:
        """Routed-expert bytes a call for `batch` tokens streams: the experts touched, E x (1 - (1 - k/E)^b)."""
        touched = self.experts * (1.0 - (1.0 - self.top_k / self.experts) ** batch)
        return touched * 3 * self.hidden * self.n * self.weight_bytes

    def touched_share(self, batch: int) -> float:
        """Share of the experts a call for `batch` tokens touches."""
        return 1.0 - (1.0 - self.top_k / self.experts) ** batch

    def compute_s(self, batch: int) -> float:
        """Seconds the grouped GEMMs' FLOPs take at the GPU's datasheet peak for the dtype, each touched expert's
        tokens padded to a multiple of block_m rows."""
        touched = self.experts * self.touched_share(batch)
        rows = math.ceil(batch * self.top_k / touched / self.block_m) * self.block_m
        g = catalog_gpu(self.catalog_gpu)
        peak = (g.fp8_tflops if self.weight_bytes == 1 and g.fp8_tflops else g.bf16_tflops) * 1e12
        return touched * rows * 2 * 3 * self.hidden * self.n / peak

    def streaming_points(self) -> tuple[tuple[float, float], ...]:
        """(expert bytes, seconds) of the points that stream their experts from HBM: more than L2 holds, not past
        touching nearly every expert, and not compute-bound."""
        bw = catalog_gpu(self.catalog_gpu).hbm_gb_s * 1e9
        return tuple((self.expert_bytes(b), us * 1e-6) for b, us in self.points
                     if self.expert_bytes(b) > self.l2_bytes and self.touched_share(b) <= NEARLY_ALL_EXPERTS
                     and self.compute_s(b) < self.expert_bytes(b) / bw)

    def line(self) -> tuple[float, float]:
        """(floor seconds, streaming bytes/s): the least-squares line through the streaming points."""
        pts = self.streaming_points()
        mx = sum(x for x, _ in pts) / len(pts)
        mt = sum(t for _, t in pts) / len(pts)
        slope = sum((x - mx) * (t - mt) for x, t in pts) / sum((x - mx) ** 2 for x, _ in pts)
        return mt - slope * mx, 1.0 / slope

    def floor_s(self) -> float:
        """The fixed part of the kernel time (seconds): the intercept of the streaming line."""
        return self.line()[0]

    def streaming_efficiency(self) -> float:
        """The streaming rate over the GPU's datasheet HBM bandwidth (cost/data/gpus.yaml)."""
        return self.line()[1] / (catalog_gpu(self.catalog_gpu).hbm_gb_s * 1e9)


def _benchmark(doc: dict[str, Any], i: int) -> KernelBenchmark:
    where = f"moe-kernels.benchmarks[{i}]"
    try:
        shape = doc["shape"]
        points = tuple(sorted((int(p["batch"]), float(p["us"])) for p in doc["points"]))
        bench = KernelBenchmark(
            generation=str(doc["generation"]), gpu=str(doc["gpu"]), catalog_gpu=str(doc["catalog_gpu"]),
            l2_bytes=float(doc["l2_mb"]) * 1e6, block_m=int(doc["block_m"]), kernel=str(doc["kernel"]),
            experts=int(shape["experts"]), top_k=int(shape["top_k"]), hidden=int(shape["hidden"]), n=int(shape["n"]),
            weight_bytes=float(shape["weight_bytes"]), points=points, source=str(doc["source"]))
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(where, str(e), "generation, gpu, catalog_gpu, l2_mb, block_m, kernel, shape {experts, top_k, "
                         "hidden, n, weight_bytes}, points [{batch, us}], source") from e
    if not 0 < bench.top_k <= bench.experts or bench.block_m < 1:
        raise InputError(f"{where}.shape", doc["shape"], "top_k within the experts, block_m a positive whole number")
    catalog_gpu(bench.catalog_gpu, key=f"{where}.catalog_gpu")    # a GPU not in the catalog is refused
    if len({x for x, _ in bench.streaming_points()}) < 2:
        raise InputError(f"{where}.points", list(points), "two or more batch sizes whose experts stream from HBM "
                         "(more than l2_mb, under 95 % of the experts, not compute-bound)")
    if not 0.0 < bench.floor_s() < points[0][1] * 1e-6:
        raise InputError(f"{where}.points", list(points), "kernel times that grow with the streamed expert bytes")
    return bench


@cache
def _document() -> dict[str, Any]:
    doc = strictload.load_yaml(DATA, "moe-kernels", "MoE kernel benchmarks YAML file")
    if not isinstance(doc, dict) or not isinstance(doc.get("generations"), dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError("moe-kernels", type(doc).__name__, "a mapping with `generations:` (generation -> GPU ids) and `benchmarks:` (a list)")
    return doc


@cache
def benchmarks() -> tuple[KernelBenchmark, ...]:
    """The published kernel benchmarks (cost/data/moe-kernels.yaml)."""
    return tuple(_benchmark(b, i) for i, b in enumerate(_document()["benchmarks"]))


@cache
def _generations() -> dict[str, str]:
    return {str(gpu): str(gen) for gen, gpus in _document()["generations"].items() for gpu in gpus}


def generation(gpu_id: str) -> str | None:
    """The GPU generation (ampere, ada, hopper, blackwell) of a catalog GPU, or None if unlisted."""
    return _generations().get(gpu_id)


def layer_floor_s(gpu_id: str) -> float | None:
    """Seconds one MoE layer's kernel chain costs per step on this GPU beyond streaming its experts: the mean floor
    of the generation's published benchmarks; None where the generation has none (the caller keeps its prior)."""
    gen = generation(gpu_id)
    floors = [b.floor_s() for b in benchmarks() if b.generation == gen]
    return sum(floors) / len(floors) if floors else None


@cache
def _efficiency_by_width() -> tuple[tuple[float, float], ...]:
    """(log2 N, mean streaming efficiency of the benchmarks at that N), by N."""
    widths = sorted({b.n for b in benchmarks()})
    return tuple((math.log2(n), sum(e := [b.streaming_efficiency() for b in benchmarks() if b.n == n]) / len(e))
                 for n in widths)


def expert_streaming_efficiency(n: float) -> float:
    """The share of datasheet HBM bandwidth the routed-expert GEMMs stream at when each GPU holds experts `n` wide
    (moe_intermediate_size / tp, or the whole width under expert parallelism): linear in log2(n) between the widths
    the benchmarks measured (the mean of those at one width), held at the nearest one outside them."""
    table = _efficiency_by_width()
    x = math.log2(n)
    if x <= table[0][0]:
        return table[0][1]
    for (x0, e0), (x1, e1) in zip(table, table[1:], strict=False):
        if x <= x1:
            return e0 + (e1 - e0) * (x - x0) / (x1 - x0)
    return table[-1][1]


def expert_stream_slowdown(n: float) -> float:
    """How many times longer the expert GEMMs take to stream a byte than the dense weights do, when each GPU holds
    experts `n` wide: the widest measured width's efficiency over this width's. The widest benchmark (Mixtral at TP 2,
    N=7168: 176 MB per expert) is a dense GEMM in all but name, so it stands for the dense weights' rate; the
    benchmarks' absolute rates, measured alone on the GPU under CUDA-graph replay, are not carried over (what a serving
    step reaches is the fitted hbm_efficiency)."""
    return _efficiency_by_width()[-1][1] / expert_streaming_efficiency(n)

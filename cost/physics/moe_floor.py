"""The small-batch MoE step floor: the fixed time one MoE layer's kernel chain costs per engine step, by GPU
generation (issue 22).

A decode step streams the routed experts its tokens touch; at small batch that is little, and what the chain of
kernels costs regardless (top-k, the token sort into expert blocks, two grouped GEMMs that cannot fill the GPU,
the activation, the weighted sum) dominates. The floor is read from published vLLM kernel benchmarks
(cost/data/moe-kernels.yaml, each with its source and date): for each benchmark, the line through its kernel
times at a small and a large batch, against the expert bytes each streams, has a fixed part; that is the floor.
A generation with several benchmarks takes their mean. No capacity measurement is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cost.catalog import strictload
from cost.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "moe-kernels.yaml"


@dataclass(frozen=True)
class KernelBenchmark:
    """One published benchmark_moe.py run: kernel microseconds at two batch sizes for one layer shape."""

    generation: str
    gpu: str
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

    def floor_s(self) -> float:
        """The fixed part of the kernel time (seconds): the intercept of the line through the smallest and largest
        batch's (streamed bytes, time)."""
        (b0, t0), (b1, t1) = self.points[0], self.points[-1]
        x0, x1 = self.expert_bytes(b0), self.expert_bytes(b1)
        return (t0 - (t1 - t0) * x0 / (x1 - x0)) * 1e-6


def _benchmark(doc: dict[str, Any], i: int) -> KernelBenchmark:
    where = f"moe-kernels.benchmarks[{i}]"
    try:
        shape = doc["shape"]
        points = tuple(sorted((int(p["batch"]), float(p["us"])) for p in doc["points"]))
        bench = KernelBenchmark(
            generation=str(doc["generation"]), gpu=str(doc["gpu"]), kernel=str(doc["kernel"]),
            experts=int(shape["experts"]), top_k=int(shape["top_k"]), hidden=int(shape["hidden"]), n=int(shape["n"]),
            weight_bytes=float(shape["weight_bytes"]), points=points, source=str(doc["source"]))
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(where, str(e), "generation, gpu, kernel, shape {experts, top_k, hidden, n, weight_bytes}, "
                         "points [{batch, us}], source") from e
    if len(points) < 2 or points[0][0] == points[-1][0] or not 0 < bench.top_k <= bench.experts:
        raise InputError(f"{where}.points", list(points), "two or more batch sizes, top_k within the experts")
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

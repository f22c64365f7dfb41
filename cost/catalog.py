"""Reviewed, dated catalogs of GPUs, AWS GPU instances and open-model architectures.

The data lives in `cost/data/*.yaml`, each file naming its source and the date it was checked;
this module only loads and looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from cost.errors import InputError

DATA = Path(__file__).parent / "data"

PRECISIONS = ("bf16", "fp16", "fp8", "int4-awq")
BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int4-awq": 0.5}
PRICINGS = ("on-demand", "spot", "reserved-1y", "reserved-3y", "marketplace")  # marketplace: a per-GPU rental, priced by a price book


@dataclass(frozen=True)
class Gpu:
    id: str
    memory_gb: float   # datasheet
    memory_gib: float  # as the driver reports it: what vLLM sizes the KV cache from
    hbm_gb_s: float
    bf16_tflops: float
    fp8_tflops: float | None
    source: str


@dataclass(frozen=True)
class Instance:
    type: str
    gpu: str
    gpus: int
    vcpus: int
    memory_gib: int
    on_demand_usd_hr: float | None
    spot_usd_hr_range: tuple[float, float] | None
    source: str

    @property
    def spot_usd_hr(self) -> float | None:
        """Spot price at the midpoint of the range seen across availability zones."""
        if self.spot_usd_hr_range is None:
            return None
        low, high = self.spot_usd_hr_range
        return (low + high) / 2


@dataclass(frozen=True)
class Model:
    id: str
    hf: str
    aliases: tuple[str, ...]
    params_b: float
    active_params_b: float
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    context: int
    vocab_size: int
    tie_word_embeddings: bool
    source: str

    @property
    def is_moe(self) -> bool:
        return self.active_params_b < self.params_b


def _load(name: str) -> dict:
    with open(DATA / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@cache
def gpus() -> dict[str, Gpu]:
    """All GPUs, keyed by id (as in gpu-specs: `A100-80GB`, `H100`)."""
    doc = _load("gpus.yaml")
    src = f"{doc['source']} (checked {doc['checked']})"
    return {
        gid: Gpu(gid, float(g["memory_gb"]), float(g["memory_gib"]), float(g["hbm_gb_s"]), float(g["bf16_tflops"]),
                 None if g.get("fp8_tflops") is None else float(g["fp8_tflops"]), src)
        for gid, g in doc["gpus"].items()
    }


@cache
def instances() -> dict[str, Instance]:
    """All AWS GPU instance types, keyed by type (`g6.xlarge`)."""
    doc = _load("instances.yaml")
    src = f"{doc['source']}, {doc['region']} (checked {doc['checked']})"
    out = {}
    for itype, i in doc["instances"].items():
        spot = i.get("spot_usd_hr")
        out[itype] = Instance(
            itype, i["gpu"], int(i["gpus"]), int(i["vcpus"]), int(i["memory_gib"]),
            i.get("on_demand_usd_hr"), None if spot is None else (float(spot[0]), float(spot[1])), src,
        )
    return out


@cache
def instances_region() -> str:
    """The AWS Region whose prices the instance catalog carries."""
    return _load("instances.yaml")["region"]


@cache
def models() -> dict[str, Model]:
    """All models, keyed by breakeven id (`llama-3.1-70b`)."""
    doc = _load("models.yaml")
    src = f"{doc['source']} (checked {doc['checked']})"
    return {
        mid: Model(mid, m["hf"], tuple(m.get("aliases", [])), float(m["params_b"]), float(m["active_params_b"]),
                   int(m["layers"]), int(m["hidden_size"]), int(m["attention_heads"]), int(m["kv_heads"]),
                   int(m["head_dim"]), int(m["context"]), int(m["vocab_size"]), bool(m["tie_word_embeddings"]), src)
        for mid, m in doc["models"].items()
    }


@cache
def assumptions() -> dict:
    """Stated assumptions: hours per month, reserved discounts, overhead defaults."""
    return _load("assumptions.yaml")


def gpu(name: str, key: str = "gpu") -> Gpu:
    """Look up a GPU by id, case-insensitively."""
    table = {g.lower(): g for g in gpus()}
    if str(name).lower() not in table:
        raise InputError(key, name, ", ".join(gpus()))
    return gpus()[table[str(name).lower()]]


def instance(name: str, key: str = "instance") -> Instance:
    """Look up an AWS instance type."""
    if name not in instances():
        raise InputError(key, name, ", ".join(instances()))
    return instances()[name]


def model(name: str, key: str = "model") -> Model:
    """Look up a model by breakeven id or Hugging Face name (case-insensitive)."""
    wanted = str(name).lower()
    for m in models().values():
        if wanted == m.id or wanted == m.hf.lower() or wanted in (a.lower() for a in m.aliases):
            return m
    raise InputError(key, name, ", ".join(models()) + " (or their Hugging Face names)")


def precision(name: str, key: str = "precision") -> str:
    """Validate a precision name."""
    if name not in PRECISIONS:
        raise InputError(key, name, ", ".join(PRECISIONS))
    return name


def pricing(name: str, key: str = "pricing") -> str:
    """Validate a capacity type / pricing name."""
    if name not in PRICINGS:
        raise InputError(key, name, ", ".join(PRICINGS))
    return name


def instances_for(gpu_id: str) -> list[Instance]:
    """AWS instances carrying a GPU, smallest GPU count (then cheapest) first."""
    found = [i for i in instances().values() if i.gpu == gpu_id]
    return sorted(found, key=lambda i: (i.gpus, i.on_demand_usd_hr or float("inf")))

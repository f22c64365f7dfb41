"""Reviewed, dated catalogs of GPUs, AWS GPU instances and open-model architectures.

The data lives in `cost/data/*.yaml`, each file naming its source and the date it was checked;
this module only loads and looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from cost.catalog import strictload
from cost.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"

PRECISIONS = ("bf16", "fp16", "fp8", "int4-awq", "mxfp4")
# mxfp4 (OCP microscaling FP4, as gpt-oss ships its MoE experts): 4-bit values plus one 8-bit scale per
# 32 values = 4.25 bits/param; it applies to the expert weights only (the rest stays bf16; see capacity).
BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int4-awq": 0.5, "mxfp4": 4.25 / 8}
KV_CACHE_DTYPES = ("auto", "fp8")   # vLLM --kv-cache-dtype: auto = the model's 16-bit dtype
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
    """An open-weight architecture (models.yaml documents every field).

    Dense GQA models leave the optional fields at their defaults. MoE: `experts` routed experts per MoE
    layer (top `experts_per_token`), `shared_experts` always active, `moe_layers` of `layers` carry an MoE
    block. MLA (`attention_kind == "mla"`): the KV cache holds `kv_lora_rank + qk_rope_head_dim` values per
    token per layer. `window_layers` layers keep at most `window_tokens` tokens (sliding / chunked attention).
    """

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
    intermediate_size: int = 0
    experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    moe_layers: int = 0
    moe_intermediate_size: int = 0
    attention_kind: str = "gqa"
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    q_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    window_tokens: int = 0
    window_layers: int = 0

    @property
    def is_moe(self) -> bool:
        return self.experts > 0 or self.active_params_b < self.params_b

    @property
    def expert_params_b(self) -> float:
        """Parameters in the routed experts (billions): moe_layers x experts x 3 x hidden x expert width."""
        return self.moe_layers * self.experts * 3 * self.hidden_size * self.moe_intermediate_size / 1e9

    @property
    def embedding_params_b(self) -> float:
        """Token embedding plus LM head (one matrix when tied), billions."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2) / 1e9

    def serves(self, precision: str) -> bool:
        """Whether the architecture can be served at a precision: any of PRECISIONS, except that mxfp4
        quantizes routed MoE experts (as gpt-oss ships them) and so needs a model that has them."""
        return precision in PRECISIONS and (precision != "mxfp4" or self.expert_params_b > 0)

    def params_from_architecture_b(self) -> float:
        """Parameters implied by the config dimensions (billions), to check `params_b` against.

        Attention (GQA: q, k, v, o projections; MLA: the low-rank q and kv paths), dense MLPs
        (3 x hidden x intermediate), routed and shared experts, router, embeddings; norms and biases
        are left out (< 0.1 %).
        """
        h = self.hidden_size
        if self.attention_kind == "mla":
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            attn = (h * self.q_lora_rank + self.q_lora_rank * self.attention_heads * qk
                    + h * (self.kv_lora_rank + self.qk_rope_head_dim)
                    + self.kv_lora_rank * self.attention_heads * (self.qk_nope_head_dim + self.v_head_dim)
                    + self.attention_heads * self.v_head_dim * h)
        else:
            attn = 2 * h * self.attention_heads * self.head_dim + 2 * h * self.kv_heads * self.head_dim
        dense_layers = self.layers - self.moe_layers
        mlp = dense_layers * 3 * h * self.intermediate_size
        moe = self.moe_layers * (self.shared_experts * 3 * h * self.moe_intermediate_size + h * self.experts)
        return (self.layers * attn + mlp + moe) / 1e9 + self.expert_params_b + self.embedding_params_b


def load_yaml(stream: TextIO) -> Any:
    """An open YAML file's document, read strictly (cost/catalog/strictload.py: repeated keys, bounds, numbers)."""
    return strictload.yaml_text(stream.read(), getattr(stream, "name", "<stream>"))


@cache
def _load(name: str) -> dict:
    """A catalog file's document (cost/data/<name>), read once per process: the loaders of one file (instances and
    instances_region, checkpoints and gated_prefixes, ...) share it, so none of them may change it."""
    return strictload.load_yaml(DATA / name, name, "catalog YAML file")


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


def _model(mid: str, m: dict, default_source: str) -> Model:
    moe = m.get("moe") or {}
    attn = m.get("attention") or {}
    window = m.get("window") or {}
    return Model(
        mid, m["hf"], tuple(m.get("aliases", [])), float(m["params_b"]), float(m["active_params_b"]),
        int(m["layers"]), int(m["hidden_size"]), int(m["attention_heads"]), int(m["kv_heads"]),
        int(m["head_dim"]), int(m["context"]), int(m["vocab_size"]), bool(m["tie_word_embeddings"]),
        m.get("source", default_source),
        intermediate_size=int(m.get("intermediate_size", 0)),
        experts=int(moe.get("experts", 0)), experts_per_token=int(moe.get("experts_per_token", 0)),
        shared_experts=int(moe.get("shared_experts", 0)), moe_layers=int(moe.get("moe_layers", 0)),
        moe_intermediate_size=int(moe.get("moe_intermediate_size", 0)),
        attention_kind=attn.get("kind", "gqa"), kv_lora_rank=int(attn.get("kv_lora_rank", 0)),
        qk_rope_head_dim=int(attn.get("qk_rope_head_dim", 0)), q_lora_rank=int(attn.get("q_lora_rank", 0)),
        qk_nope_head_dim=int(attn.get("qk_nope_head_dim", 0)), v_head_dim=int(attn.get("v_head_dim", 0)),
        window_tokens=int(window.get("tokens", 0)), window_layers=int(window.get("layers", 0)),
    )


@cache
def instances_region() -> str:
    """The AWS Region whose prices the instance catalog carries."""
    return _load("instances.yaml")["region"]


@cache
def models() -> dict[str, Model]:
    """All models, keyed by breakeven id (`llama-3.1-70b`)."""
    doc = _load("models.yaml")
    src = f"{doc['source']} (checked {doc['checked']})"
    return {mid: _model(mid, m, src) for mid, m in doc["models"].items()}


@cache
def assumptions() -> dict:
    """Stated assumptions: hours per month, reserved discounts, overhead defaults."""
    return _load("assumptions.yaml")


@cache
def _gpus_by_lower_id() -> dict[str, Gpu]:
    """Every GPU under its id in lower case (built once: the catalog is read once per process)."""
    return {gid.lower(): g for gid, g in gpus().items()}


def gpu(name: object, key: str = "gpu") -> Gpu:
    """Look up a GPU by id, case-insensitively (a value that is none raises InputError naming `key`)."""
    found = _gpus_by_lower_id().get(str(name).lower())
    if found is None:
        raise InputError(key, name, ", ".join(gpus()))
    return found


def instance(name: str, key: str = "instance") -> Instance:
    """Look up an AWS instance type."""
    if name not in instances():
        raise InputError(key, name, ", ".join(instances()))
    return instances()[name]


@cache
def _models_by_name() -> dict[str, Model]:
    """Every name a model answers to (its id, its Hugging Face name and its aliases, in lower case) -> the model;
    where two models share a name, the first in models.yaml keeps it. Built once per process."""
    out: dict[str, Model] = {}
    for m in models().values():
        for name in (m.id, m.hf.lower(), *(a.lower() for a in m.aliases)):
            out.setdefault(name, m)
    return out


def model(name: object, key: str = "model") -> Model:
    """Look up a model by breakeven id or Hugging Face name, case-insensitively (a value that is none raises
    InputError naming `key`)."""
    found = _models_by_name().get(str(name).lower())
    if found is None:
        raise InputError(key, name, ", ".join(models()) + " (or their Hugging Face names)")
    return found


def precision(name: str, key: str = "precision") -> str:
    """Validate a precision name."""
    if name not in PRECISIONS:
        raise InputError(key, name, ", ".join(PRECISIONS))
    return name


def kv_cache_dtype(name: str, key: str = "kv_cache_dtype") -> str:
    """Validate a KV-cache dtype (vLLM's --kv-cache-dtype)."""
    if name not in KV_CACHE_DTYPES:
        raise InputError(key, name, ", ".join(KV_CACHE_DTYPES))
    return name


def pricing(name: str, key: str = "pricing") -> str:
    """Validate a capacity type / pricing name."""
    if name not in PRICINGS:
        raise InputError(key, name, ", ".join(PRICINGS))
    return name


def instances_for(gpu_id: str) -> list[Instance]:
    """AWS instances carrying a GPU, smallest GPU count (then cheapest) first."""
    return list(_instances_for(gpu_id))


@cache
def _instances_for(gpu_id: str) -> tuple[Instance, ...]:
    found = [i for i in instances().values() if i.gpu == gpu_id]
    return tuple(sorted(found, key=lambda i: (i.gpus, i.on_demand_usd_hr or float("inf"))))

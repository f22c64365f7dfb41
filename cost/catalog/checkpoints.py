"""The checkpoints vLLM loads: per model and precision, the repo, its bytes on disk, the flags it needs.

The one source of checkpoint facts is cost/data/checkpoints.yaml (format documented there); the model
cache and node disk are sized from it, the capacity model offers mxfp4 only where it ships, and a
deployment's weights resolve through `resolve`. Pure Python, no Pulumi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from cost import catalog
from cost.errors import InputError

SIXTEEN_BIT = ("bf16", "fp16")  # one 16-bit checkpoint serves both (vLLM casts at load)
BYTES_FROM = ("files", "estimate")


@dataclass(frozen=True)
class Checkpoint:
    model: str          # catalog model id
    precision: str
    repo: str           # the Hugging Face repo (or container path) passed as --model
    bytes: int          # weight files on disk
    bytes_from: str     # files | estimate (see checkpoints.yaml) | user-source (catalog size of the same architecture)
    flags: tuple[str, ...]
    source: str         # where and when the size was read
    gated: bool = False  # Hugging Face serves it only with a token of an account that accepted its licence

    @property
    def gib(self) -> float:
        return self.bytes / 2**30


def gated_prefixes(doc: dict | None = None) -> dict[str, str]:
    """Repo prefix -> where its gating was read (checkpoints.yaml `gated:`)."""
    doc = catalog._load("checkpoints.yaml") if doc is None else doc
    return {g["prefix"]: f"{g['source']} (checked {g['checked']})" for g in doc.get("gated") or ()}


def is_gated(repo: str) -> bool:
    """Whether a Hugging Face repo is gated (its prefix is listed in checkpoints.yaml `gated:`)."""
    return any(repo.startswith(p) for p in gated_prefixes())


def parse(doc: dict) -> dict[tuple[str, str], Checkpoint]:
    """(model id, precision) -> Checkpoint for every entry of a checkpoints.yaml document.

    An entry's own `source`/`checked` replace the file's. A model id that is not in models.yaml, a
    precision the model cannot be served at (fp16: the bf16 entry serves it), or a size that is not
    a positive byte count with a known `bytes_from` is a ValueError naming the entry."""
    out = {}
    for mid, by_precision in doc["checkpoints"].items():
        if mid not in catalog.models():
            raise ValueError(f"checkpoints.yaml: {mid!r} is not a model of models.yaml")
        model = catalog.models()[mid]
        for prec, c in by_precision.items():
            if prec == "fp16" or not model.serves(prec):
                allowed = [p for p in catalog.PRECISIONS if p != "fp16" and model.serves(p)]
                raise ValueError(f"checkpoints.yaml: {mid}.{prec}: not a precision {mid} can be served at "
                                 f"({', '.join(allowed)}; bf16 entries serve fp16)")
            if c["bytes_from"] not in BYTES_FROM or int(c["bytes"]) <= 0:
                raise ValueError(f"checkpoints.yaml: {mid}.{prec}: bytes must be > 0 and bytes_from one of {BYTES_FROM}")
            src = f"{c.get('source', doc['source'])} (checked {c.get('checked', doc['checked'])})"
            gated = any(c["repo"].startswith(p) for p in gated_prefixes(doc))
            out[(mid, prec)] = Checkpoint(mid, prec, c["repo"], int(c["bytes"]), c["bytes_from"],
                                          tuple(c.get("flags") or ()), src, gated)
    return out


@cache
def checkpoints() -> dict[tuple[str, str], Checkpoint]:
    """(model id, precision) -> Checkpoint, for every entry of cost/data/checkpoints.yaml."""
    return parse(catalog._load("checkpoints.yaml"))


def known(model_id: str, precision: str) -> Checkpoint | None:
    """The catalog checkpoint of a model at a precision (a 16-bit one serves bf16 and fp16), or None."""
    lookup = "bf16" if precision in SIXTEEN_BIT else precision
    return checkpoints().get((model_id, lookup))


def precisions(model_id: str) -> list[str]:
    """Precisions with a known checkpoint for a model (fp16 wherever bf16 is)."""
    return [p for p in catalog.PRECISIONS if known(model_id, p) is not None]


def own_weights_note(model_id: str, precision: str, fine_tuned: bool) -> str | None:
    """For fine-tuned weights served quantized: the published quantized checkpoints are of the base model,
    so the team must produce (and validate) a checkpoint of its own weights at that precision. None otherwise."""
    if not fine_tuned or precision in SIXTEEN_BIT:
        return None
    base = known(model_id, precision)
    return (f"fine-tuned weights at {precision}: the team must quantize its own checkpoint (and check its quality); "
            + (f"the catalog's {base.repo} holds the base model's weights, not yours" if base is not None
               else f"no {precision} checkpoint of {model_id} is published"))


def resolve(model_id: str, precision: str, source: str | None, key: str) -> Checkpoint:
    """The checkpoint a deployment loads. `source` (the user's own repo, e.g. a fine-tune) replaces
    the repo and takes the size and flags of the catalog checkpoint of the same architecture and
    precision. A quantized precision without a catalog checkpoint needs `source`; `key` is the
    config key of the model entry, so the error names `<key>.source`."""
    m = catalog.model(model_id)
    if not m.serves(precision):
        raise InputError(f"{key}.precision", precision, ", ".join(p for p in catalog.PRECISIONS if m.serves(p)),
                         f"{model_id} cannot be served at {precision}: mxfp4 quantizes routed MoE experts, "
                         "and this model has none")
    found = known(model_id, precision)
    if found is None and source is None:
        if precision in SIXTEEN_BIT:
            raise InputError(f"{key}.precision", precision, ", ".join(precisions(model_id)),
                             f"{model_id} has no 16-bit checkpoint in cost/data/checkpoints.yaml")
        raise InputError(f"{key}.source", None,
                         f"a Hugging Face repo of a pre-quantized {precision} checkpoint of {model_id}, or a precision "
                         f"with a known checkpoint: {', '.join(precisions(model_id))}",
                         f"no pre-quantized {precision} checkpoint of {model_id} in cost/data/checkpoints.yaml; "
                         f"serving the 16-bit weights would quantize nothing or download twice the bytes")
    if source is None:
        assert found is not None   # neither found nor a source raised above
        return found
    if found is not None:
        return Checkpoint(model_id, precision, source, found.bytes, "user-source", found.flags, found.source,
                          is_gated(source))
    size = math.ceil(m.params_b * 1e9 * catalog.BYTES_PER_PARAM[precision])
    return Checkpoint(model_id, precision, source, size, "user-source", (), "params_b x bytes per parameter",
                      is_gated(source))

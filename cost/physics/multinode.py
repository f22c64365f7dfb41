"""Replicas larger than one node: how a replica's GPUs split into nodes, and which splits can be served.

A replica of more GPUs than one instance carries runs as one group of whole instances (a LeaderWorkerSet
group in the program): tensor parallelism inside each node (NVLink), pipeline parallelism across the
nodes (one activation hand-off per step instead of an all-reduce per layer over the network), which is
the common practice vLLM's distributed-serving guide states (docs/serving/parallelism_scaling.md,
multi-node: tensor parallel size = GPUs per node, pipeline parallel size = nodes).

`require_deployable` is the one check `estimate`, `optimize` (through `cost.pricing.nodes.plan_nodes`) and the
Pulumi program's spec make, so a configuration that cannot be served is refused by all three with the
same message.
"""

from __future__ import annotations

from dataclasses import dataclass

from cost import catalog
from cost.errors import InputError


@dataclass(frozen=True)
class Layout:
    """How one replica's GPUs are laid out: `tensor` GPUs per node x `pipeline` nodes."""

    tensor: int
    pipeline: int

    @property
    def nodes(self) -> int:
        return self.pipeline

    @property
    def multi_node(self) -> bool:
        return self.pipeline > 1


def layout(gpus_per_replica: int, gpus_per_node: int) -> Layout:
    """Tensor parallel inside a node, pipeline parallel across nodes (a single-node replica: all tensor)."""
    if gpus_per_replica <= gpus_per_node:
        return Layout(gpus_per_replica, 1)
    return Layout(gpus_per_node, gpus_per_replica // gpus_per_node)


def require_deployable(model_id: str, inst: catalog.Instance, gpus_per_replica: int, key: str = "gpus_per_replica") -> Layout:
    """The replica's layout on `inst`, or InputError when vLLM could not serve it that way:
    a multi-node replica must fill whole nodes, its per-node tensor size must divide the model's
    attention heads (vLLM shards heads across tensor ranks), and each node needs at least one layer."""
    if gpus_per_replica > inst.gpus and gpus_per_replica % inst.gpus:
        raise InputError(key, gpus_per_replica, f"a multiple of {inst.gpus} (GPUs per {inst.type}) for a multi-node replica")
    lay = layout(gpus_per_replica, inst.gpus)
    if not lay.multi_node:
        return lay
    model = catalog.model(model_id)
    if model.attention_heads % lay.tensor:
        raise InputError(key, gpus_per_replica, f"a layout whose per-node tensor size divides {model.id}'s "
                         f"{model.attention_heads} attention heads",
                         f"{lay.nodes} x {inst.type} split {lay.tensor} ways per node; vLLM shards the heads across them")
    if lay.pipeline > model.layers:
        raise InputError(key, gpus_per_replica, f"at most {model.layers * inst.gpus} GPUs ({model.layers} layers, "
                         "one pipeline stage per node)")
    return lay

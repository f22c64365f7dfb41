"""Each Pulumi component takes what it needs (infra/components/*: its Args), never the whole stack spec or placement."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re

import infra.components

WHOLE = re.compile(r"\b(StackSpec|Placement)\b")   # the whole stack, as validated or as placed


def _args_classes() -> list[type]:
    out = []
    for info in pkgutil.iter_modules(infra.components.__path__):
        module = importlib.import_module(f"infra.components.{info.name}")
        out += [c for name, c in vars(module).items()
                if name.endswith("Args") and dataclasses.is_dataclass(c) and c.__module__ == module.__name__]
    return out


def test_the_components_args_are_found():
    names = {c.__name__ for c in _args_classes()}
    assert {"NetworkArgs", "EksClusterArgs", "GpuNodePoolArgs", "ServingArgs", "WeightsBucketArgs"} <= names


def test_no_component_takes_the_whole_spec_or_placement():
    for cls in _args_classes():
        for f in dataclasses.fields(cls):
            annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            assert not WHOLE.search(annotation), (cls.__name__, f.name, annotation)

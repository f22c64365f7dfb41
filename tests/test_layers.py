"""The import graph of the kit's packages: no cycles, and imports only downward.

Every `import` and `from ... import` is read with `ast`, including those inside functions (a lazy import
is still a dependency; hiding a cycle in a function does not remove it). The layers, lowest first:
cost (the pricing engine) <- infra, policies, measure <- the offline preview <- breakeven (the command line).
`cost` imports none of the others; infra, policies and measure may import cost only; nothing outside
breakeven imports breakeven. The offline preview (`infra/offline/`) runs the program and the policy pack over
its resources, so it sits above both.

Inside `cost/` the order, lowest first, is COST_LAYERS below (test_cost_imports_only_go_down_its_layers):
base (errors, units) <- catalog (data loading) <- values (the deployment and workload priced) <- physics (memory,
capacity, sizing) <- pricing (line items, node plans, APIs, hosting) <- rules (the verdict, newer models) <- estimate
<- decide (what re-estimates: optimize, advice, sensitivity, the curve, the capacity range) <- stack (fleets, the
economics value) <- report. Folders and layers agree except where a module says otherwise in COST_LAYERS."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cost", "infra", "policies", "measure", "breakeven")

# What each package may import besides itself (the standard library and third-party packages are not listed).
ALLOWED = {
    "cost": set(),
    "infra": {"cost"},
    "policies": {"cost"},
    "measure": {"cost"},
    "breakeven": {"cost", "infra", "measure", "policies"},
}
# The layers inside cost/, lowest first: (layer, the modules in it). A module belongs to the layer of its longest
# matching entry (a package name covers its modules), so the few that sit apart from their folder are named.
COST_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("cost", "cost.errors", "cost.units", "cost.pydantic_errors")),
    ("catalog", ("cost.catalog",)),
    ("values", ("cost.deployment", "cost.workload", "cost.usage", "cost.economics_model")),
    ("physics", ("cost.physics",)),
    # weights_source and weights_path price the weights path with the bill's line items (cost.pricing.tco, platform)
    ("pricing", ("cost.pricing", "cost.physics.weights_source", "cost.physics.weights_path")),
    # the rules estimate() decides with
    ("rules", ("cost.decide.verdict", "cost.decide.successors")),
    ("estimate", ("cost.estimate",)),
    # what calls estimate() again: the search, the advice, sensitivity, the curve, the capacity range (both ends
    # re-estimated), the seeds' worked examples, the benchmark
    ("decide", ("cost.decide", "cost.physics.capacity_range", "cost.seeds", "cost.bench")),
    # a stack of advised estimates and the one economics value that prices it
    ("stack", ("cost.pricing.fleet", "cost.economics")),
    # the report model (the JSON documents, cost.report_model) and the table/markdown renderers (cost.report)
    ("report", ("cost.report", "cost.report_model")),
)
# The offline preview tooling (infra/offline/): a layer of its own inside infra/ (it may import cost, infra and policies).
PREVIEW = "infra.offline"
PREVIEW_ALLOWED = {"cost", "infra", "policies"}


def module_name(path: Path) -> str:
    """cost/estimate.py -> cost.estimate; cost/__init__.py -> cost."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the kit's packages, by dotted name."""
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The kit's modules that `name` imports anywhere in its source (module level or inside a function).
    `from cost import capacity` names the module cost.physics.capacity where it is one, else the package cost."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    out.add(sub)
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    """Module -> the kit's modules it imports."""
    mods = modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (each holds at least one cycle), by Tarjan's
    algorithm, iterative so deep graphs do not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _in_preview(module: str) -> bool:
    return module == PREVIEW or module.startswith(PREVIEW + ".")


def upward_edges(g: dict[str, set[str]]) -> list[str]:
    """Imports that cross into a package the importer's layer may not use."""
    out = []
    for name, deps in sorted(g.items()):
        pkg = name.split(".")[0]
        preview = _in_preview(name)
        allowed = PREVIEW_ALLOWED if preview else ALLOWED[pkg] | {pkg}
        for dep in sorted(deps):
            if dep.split(".")[0] not in allowed or (_in_preview(dep) and not preview and pkg == "infra"):
                out.append(f"{name} -> {dep}")
    return out


def cost_layer(module: str) -> int | None:
    """The index in COST_LAYERS of a cost module's layer (its longest matching entry); None when none matches."""
    best: tuple[int, int] | None = None   # (length of the entry, layer index)
    for i, (_, entries) in enumerate(COST_LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and (best is None or len(entry) > best[0]):
                best = (len(entry), i)
    return None if best is None else best[1]


def cost_upward_edges(g: dict[str, set[str]]) -> list[str]:
    """Imports inside cost/ from a lower layer into a higher one, each with both layers named."""
    out = []
    for name, deps in sorted(g.items()):
        if name.split(".")[0] != "cost":
            continue
        mine = cost_layer(name)
        for dep in sorted(deps):
            theirs = cost_layer(dep) if dep.split(".")[0] == "cost" else None
            if mine is not None and theirs is not None and theirs > mine:
                out.append(f"{name} ({COST_LAYERS[mine][0]}) -> {dep} ({COST_LAYERS[theirs][0]})")
    return out


def test_the_graph_sees_imports_inside_functions(tmp_path):
    g = graph()
    assert len(g) > 50
    assert "cost.physics.capacity" in g["cost.estimate"]              # module level
    source = tmp_path / "a.py"
    source.write_text("from cost import b\n\n\ndef f():\n    from cost.c import x\n    return b, x\n")
    assert imported("cost.a", source, {"cost.a", "cost.b", "cost.c"}) == {"cost.b", "cost.c"}   # lazy: still an edge


def test_upward_edges_names_each_crossing():
    g = {"cost.a": {"infra.b"}, "infra.b": {"cost.a"}, "infra.config.spec": {"infra.offline.preview"}, "infra.offline.preview": {"policies.r"},
         "policies.r": {"breakeven.cli"}, "breakeven.cli": {"infra.offline.preview", "policies.r"}}
    assert upward_edges(g) == ["cost.a -> infra.b", "infra.config.spec -> infra.offline.preview", "policies.r -> breakeven.cli"]


def test_cycle_finder_finds_a_cycle_and_passes_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles():
    g = graph()
    found = cycles(g)
    detail = "\n".join(
        "cycle among " + ", ".join(c) + ":\n  " + "\n  ".join(f"{a} -> {b}" for a in c for b in sorted(g[a]) if b in c)
        for c in found)
    assert not found, f"{len(found)} import cycle(s):\n{detail}"


def test_imports_only_go_down_the_layers():
    edges = upward_edges(graph())
    assert not edges, "imports against the layering (cost <- infra, policies, measure <- breakeven):\n  " + "\n  ".join(edges)


def test_every_cost_module_has_a_layer():
    missing = [m for m in graph() if m.split(".")[0] == "cost" and cost_layer(m) is None]
    assert not missing, "cost modules in no layer (add each to COST_LAYERS in tests/test_layers.py): " + ", ".join(missing)


def test_cost_layers_name_the_modules_apart_from_their_folder():
    assert COST_LAYERS[cost_layer("cost.physics.capacity")][0] == "physics"
    assert COST_LAYERS[cost_layer("cost.physics.capacity_range")][0] == "decide"       # the longer entry wins
    assert COST_LAYERS[cost_layer("cost.decide.verdict")][0] == "rules"
    assert COST_LAYERS[cost_layer("cost.decide.newcomer")][0] == "decide"              # the package's entry
    assert cost_layer("costly") is None
    assert cost_upward_edges({"cost.physics.capacity": {"cost.estimate", "cost.catalog"}, "cost.report": {"cost.estimate"}}) \
        == ["cost.physics.capacity (physics) -> cost.estimate (estimate)"]


def test_cost_imports_only_go_down_its_layers():
    edges = cost_upward_edges(graph())
    order = " <- ".join(name for name, _ in COST_LAYERS)
    assert not edges, f"imports against the order inside cost/ ({order}):\n  " + "\n  ".join(edges)

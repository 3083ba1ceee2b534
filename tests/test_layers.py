"""The import rule of ``shared/``'s layers, read from the source (every import, module level or inside a function).

From the bottom up, a layer imports only from the layers below it (and from itself):

    base      shared.utils, shared.config, shared.entry       the tensors' helpers, the config schema, the CLI contract
    io        shared.io                                       the atomic writer, the checked readers, provenance
    maths     shared.maths                                    paths, fields, preconditioning, priors, losses, samplers,
                                                              ODE integration, likelihoods: shared.utils only, and no
                                                              yaml or tqdm
    nets      shared.nets;  data  shared.data
    metrics   shared.metrics
    report    shared.report                                   summary tables, figures, protocol tables, the comparison
    pipeline  shared.pipeline                                 spec, training loop, runs, CLI, evaluation, sweeps

and a replication never imports another replication.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BASE = ("shared.utils", "shared.config", "shared.entry")
# layer -> the shared packages / modules it may import (besides itself); None: anything of shared
ALLOWED = {
    "base": (*BASE,),
    "io": (*BASE,),
    "maths": ("shared.utils",),
    "nets": (*BASE,),
    "data": (*BASE,),
    "metrics": (*BASE, "shared.io", "shared.data"),
    "report": (*BASE, "shared.io"),
    "pipeline": None,
}
FORBIDDEN_EVERYWHERE_IN = {"maths": ("yaml", "tqdm")}


def layer_of(module: str) -> str:
    if module in BASE:
        return "base"
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (``from shared import x`` counts as ``shared.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            bare = node.module in ("shared", "replications")
            found.update(f"{node.module}.{a.name}" for a in node.names) if bare else found.add(node.module)
    return found


def modules(root: str) -> dict[str, Path]:
    return {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
        for p in REPO.glob(f"{root}/**/*.py")
    }


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(module: str, imported: set[str]) -> list[str]:
    layer = layer_of(module)
    bad = [n for n in imported if within(n, FORBIDDEN_EVERYWHERE_IN.get(layer, ()))]
    allowed = ALLOWED[layer]
    if allowed is not None:
        own = ("shared." + layer,) if layer != "base" else BASE
        bad += [n for n in imported if n.startswith("shared") and not within(n, (*own, *allowed)) and n != "shared"]
    return sorted(bad)


def test_every_shared_module_has_a_layer():
    for module in modules("shared"):
        if module != "shared":
            assert layer_of(module) in ALLOWED, f"{module}: put it in one of {sorted(ALLOWED)}"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_from_below(layer):
    found = {
        m: violations(m, imports(p)) for m, p in modules("shared").items() if m != "shared" and layer_of(m) == layer
    }
    assert found, f"no module in layer {layer}"
    assert {m: v for m, v in found.items() if v} == {}


def test_a_replication_never_imports_another():
    for module, path in modules("replications").items():
        own = ".".join(module.split(".")[:2])
        others = [n for n in imports(path) if n.startswith("replications.") and not within(n, (own,))]
        assert not others, f"{module} imports {others}"


def test_the_rule_notices_a_violation():
    """The checker itself: a maths module importing the pipeline, yaml or tqdm, and io importing maths, are caught."""
    assert violations("shared.maths.fields", {"shared.pipeline.method", "yaml", "tqdm.auto", "torch"}) == [
        "shared.pipeline.method",
        "tqdm.auto",
        "yaml",
    ]
    assert violations("shared.io.artifacts", {"shared.maths.ode"}) == ["shared.maths.ode"]
    assert violations("shared.pipeline.sweep", {"shared.report.figures", "shared.maths.ode"}) == []

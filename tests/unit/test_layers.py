"""The import graph runs one way: entry files (deploys/) -> packaged deploys and
stages -> operations -> facts, with the pure library (harbor_deploy.lib) below all of
them, importing none of them and not pyinfra. Read from the code's own imports."""

import ast

import pytest

from tests.conftest import ROOT

# Higher imports lower, never the other way round.
LAYERS = (
    ("library", ("harbor_deploy.lib",)),
    ("facts", ("harbor_deploy.facts",)),
    ("operations", ("harbor_deploy.operations",)),
    ("deploys", ("harbor_deploy.stages", "harbor_deploy.deploys", "harbor_deploy")),
    ("entry files", ("deploys",)),
)


def layer_of(module):
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes if prefix != "harbor_deploy"):
            return rank
    return 3 if module == "harbor_deploy" else None


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


SOURCES = sorted([*(ROOT / "harbor_deploy").rglob("*.py"), *(ROOT / "deploys").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=[str(path.relative_to(ROOT)) for path in SOURCES])
def test_no_import_runs_up_the_layers(path):
    own = layer_of(module_name(path))
    upward = []
    for target in imports(path):
        rank = layer_of(target)
        if rank is not None and rank > own:
            upward.append(f"{target} ({LAYERS[rank][0]})")
    assert upward == [], f"{module_name(path)} ({LAYERS[own][0]}) imports up: {upward}"


def test_the_library_imports_no_pyinfra_and_the_old_top_level_names_are_gone():
    for path in (ROOT / "harbor_deploy" / "lib").rglob("*.py"):
        assert not [name for name in imports(path) if name.split(".")[0] == "pyinfra"], path
    for path in SOURCES:
        assert not [name for name in imports(path) if name.split(".")[0] in ("facts", "operations")], path

"""The import graph runs one way: entry files (deploys/) -> packaged deploys and stages
-> planning -> operations -> facts, with the pure library (harbor_deploy.lib) below all
of them, importing none of them and not pyinfra; and no module reaches into another
one's private names. Read from the code's own imports."""

import ast

import pytest

from tests.conftest import ROOT

# Higher imports lower, never the other way round.
LAYERS = (
    ("library", ("harbor_deploy.lib",)),
    ("facts", ("harbor_deploy.facts",)),
    ("operations", ("harbor_deploy.operations",)),
    ("planning", ("harbor_deploy.planning",)),
    ("stages", ("harbor_deploy.stages",)),
    ("packaged deploys", ("harbor_deploy.deploys", "harbor_deploy")),
    ("entry files", ("deploys",)),
)


def layer_of(module):
    """The rank of ``module`` in ``LAYERS`` (the longest matching prefix), or None."""
    found = [
        (len(prefix), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(found)[1] if found else None


def module_name(path):
    """The module a source file is imported as (``facts/`` ships as ``harbor_deploy.facts``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "facts":
        parts.insert(0, "harbor_deploy")
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


# The facts and templates sit at the top of the repository (the design card's layout)
# and are symlinked into the package: walked here from where they are.
SOURCES = sorted(
    [
        *(path for path in (ROOT / "harbor_deploy").rglob("*.py")),
        *(ROOT / "facts").glob("*.py"),
        *(ROOT / "deploys").glob("*.py"),
    ]
)
# Everything of this repository's own that imports project modules.
OWN_CODE = sorted(
    {
        *SOURCES,
        *(path for folder in ("lab", "tests", "examples", "inventories") for path in (ROOT / folder).rglob("*.py")),
    }
    - set((ROOT / "lab" / "standin" / "upstream").rglob("*.py"))
)
PROJECT_PACKAGES = ("harbor_deploy", "deploys", "lab", "tests", "examples", "inventories")


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


def test_the_packages_own_facts_and_templates_are_the_top_level_folders():
    assert (ROOT / "harbor_deploy" / "facts").resolve() == ROOT / "facts"
    assert (ROOT / "harbor_deploy" / "templates").resolve() == ROOT / "templates"


def private_uses(path):
    """``module.name`` of private names (a leading ``_``, dunders aside) that ``path``
    imports from, or reads off, a module of this repository."""
    tree = ast.parse(path.read_text())
    modules = set()  # local names bound to a project module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PROJECT_PACKAGES:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"{node.module}.{alias.name}"
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT_PACKAGES:
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            yield f"{node.value.id}.{node.attr}"
        # mock.patch("harbor_deploy.x._name") and the like: a dotted path naming a private name
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PROJECT_PACKAGES):
            parts = node.value.split(".")
            if len(parts) > 1 and any(part.startswith("_") and not part.startswith("__") for part in parts[1:]):
                yield node.value


@pytest.mark.parametrize("path", OWN_CODE, ids=[str(path.relative_to(ROOT)) for path in OWN_CODE])
def test_no_module_uses_another_modules_private_names(path):
    assert list(private_uses(path)) == []

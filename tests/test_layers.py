"""The packages import one way: entry points above the core, the core never back up."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each part of candlesvc may import from candlesvc (itself always).
ALLOWED = {
    "model": set(),
    "store": {"model"},
    "history": {"model", "store"},
    "service": {"model", "store"},
    "cli": {"model", "store", "history", "service"},
    "wsgi": {"service"},
    "gunicorn_conf": {"service"},
}


def modules() -> dict[Path, str]:
    """Every module of the package and the part it belongs to."""
    found = dict.fromkeys((ROOT / "cli").glob("*.py"), "cli")
    for path in (ROOT / "candlesvc").rglob("*.py"):
        relative = path.relative_to(ROOT / "candlesvc")
        found[path] = relative.parts[0].removesuffix(".py")
    return found


def imported_parts(path: Path) -> set[str]:
    """The parts of candlesvc a module imports."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        parts |= {n.split(".")[1] for n in names if n.startswith("candlesvc.")}
    return parts


MODULES = sorted(modules().items())


@pytest.mark.parametrize(
    ("path", "part"), MODULES, ids=[str(path.relative_to(ROOT)) for path, _ in MODULES]
)
def test_each_module_imports_only_the_layers_below_it(path, part):
    if part == "__init__":
        return
    assert part in ALLOWED, f"{path}: a part of candlesvc with no place in the layers"
    assert imported_parts(path) - {part} <= ALLOWED[part], path

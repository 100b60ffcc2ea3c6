"""The package layout (ARCHITECTURE.md): stages in data-flow order, no upward import, no cycle.

Every ``import`` inside ``src/fuzzyvec`` is read from the source (module level and inside
functions alike), resolved to a module of the package and checked against the stage order.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fuzzyvec"
README = Path(__file__).resolve().parents[1] / "README.md"

#: stage of each top-level name of the package; a module may import its own stage or earlier ones
STAGES = {
    "errors": 0, "timeframes": 0, "io_utils": 0, "nb": 0,
    "strategy": 1, "data": 2, "features": 3, "model": 4, "backtest": 5, "report": 6,
    "research": 7, "live": 8, "cli": 9, "run": 9, "__main__": 9,
}
SUBPACKAGES = ("strategy", "data", "features", "model", "backtest", "report", "research", "live", "cli", "nb")
TOP_LEVEL = {"__init__.py", "__main__.py", "run.py", "errors.py", "timeframes.py", "io_utils.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts)


def _package_of(module: str, path: Path) -> list[str]:
    """The package a module's relative imports start from."""
    parts = module.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (dotted, relative to ``fuzzyvec``; '' = the root)."""
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = {_module_name(p).removesuffix(".__init__") for p in SRC.rglob("*.py")}
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "fuzzyvec" or a.name.startswith("fuzzyvec."):
                    out.add(a.name.removeprefix("fuzzyvec").lstrip("."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module, path)
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "fuzzyvec" or node.module.startswith("fuzzyvec.")):
                target = node.module.removeprefix("fuzzyvec").lstrip(".")
            else:
                continue
            for a in node.names:  # `from .pkg import module` imports the module
                sub = f"{target}.{a.name}" if target else a.name
                out.add(sub if sub in known else target)
    return out


def _all_modules() -> dict[str, Path]:
    return {_module_name(p).removesuffix(".__init__"): p for p in SRC.rglob("*.py")}


def _stage(module: str) -> int | None:
    return STAGES.get(module.split(".")[0]) if module else None


def test_the_imports_are_read():
    # the checker itself: a module known to import earlier stages is seen doing so
    imports = _imports(SRC / "backtest" / "engine.py")
    assert "strategy.config" in imports and "errors" in imports


def test_the_top_level_holds_only_the_api_the_entry_point_and_two_helpers():
    files = {p.name for p in SRC.glob("*.py")}
    assert files == TOP_LEVEL, f"unexpected top-level modules: {sorted(files - TOP_LEVEL)}"
    dirs = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert dirs == {*SUBPACKAGES, "sample_data", "strategies"}, sorted(dirs)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_stage_says_what_it_owns_and_may_import(package):
    init = SRC / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    if package != "nb":
        assert "May import" in doc, f"{package}/__init__.py: say what the stage may import"
    assert len(doc) > 80, f"{package}/__init__.py has no module docstring"


def test_no_stage_imports_a_later_one():
    upward = []
    for module, path in _all_modules().items():
        if module in ("", "__init__"):
            continue  # the root: the public API, imports every stage lazily
        own = _stage(module)
        for target in _imports(path):
            if target == "":  # `from fuzzyvec import __version__`: the root package is always loaded first
                continue
            if module.startswith("nb") and not target.startswith("nb"):
                upward.append(f"{module} -> {target} (kernels import only kernels)")
            elif _stage(target) is None:
                upward.append(f"{module} -> {target} (unknown stage)")
            elif own is not None and _stage(target) > own:
                upward.append(f"{module} (stage {own}) -> {target} (stage {_stage(target)})")
    assert not upward, "imports of a later stage:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    modules = _all_modules()
    graph = {m: {t for t in _imports(p) if t and t in modules and t != m} for m, p in modules.items()
             if m not in ("", "__init__")}
    # package __init__ modules are imported implicitly by their children: only real edges count
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_over_600_lines():
    big = [(str(p.relative_to(SRC)), n) for p in SRC.rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600]
    assert not big, f"modules over 600 lines: {big}"


def test_the_readme_map_matches_the_tree():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Package map", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)/` \|", section, flags=re.M))
    actual = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert listed == actual, f"README map lists {sorted(listed)}, the package has {sorted(actual)}"
    for package in actual:
        row = re.search(rf"^\| `{package}/` \|(.*)$", section, flags=re.M).group(1)
        for mod in re.findall(r"`(\w+)\.py`", row):
            assert (SRC / package / f"{mod}.py").exists(), f"README map: {package}/{mod}.py does not exist"
        files = {p.stem for p in (SRC / package).glob("*.py") if p.stem != "__init__"}
        missing = files - set(re.findall(r"`(\w+)\.py`", row))
        assert not missing, f"README map row of {package}/ does not name {sorted(missing)}"

"""The tree shows the pipeline and stays that way: imports parsed from the source, no cycles, no stage
reaching into another stage, no private name taken from another module, no oversized unit.

Layers (an import may only go to the same or a lower layer):
  base    errors, models, config, store, progress, stop, keywords, placeholders, mime, cron, llm, subscribers,
          subscriber_files, preferences, templating, starter, wording, embeddings
  stages  fetch, select, analyze, render, deliver   (base only; never each other)
  shells  pipeline, ops, web, cli                   (anything; they wire the stages together)
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

PKG = ROOT / "newsletter"
STAGES = {"fetch", "select", "analyze", "render", "deliver"}
BASE = {"errors", "models", "config", "roster", "assembly", "store", "progress", "stop", "keywords", "placeholders", "cron",
        "llm", "subscribers", "subscriber_files", "preferences", "templating", "starter", "wording", "embeddings", "mime",
        "__init__"}
SHELLS = {"pipeline", "picks", "ops", "web", "cli"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Dotted name -> file for every module of the package."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in a module, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("newsletter")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("newsletter"):
                out.append((mod, [a.name for a in node.names], node.lineno))
    return out


def top(module: str) -> str:
    """The unit a module belongs to: 'newsletter.deliver.send' -> 'deliver'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def resolve(mod: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """`from pkg import sub` imports the module pkg.sub: count that edge too."""
    return [mod] + [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]


def test_every_unit_has_a_layer():
    units = {top(m) for m in modules()}
    assert units <= STAGES | BASE | SHELLS, sorted(units - STAGES - BASE - SHELLS)


def test_stages_depend_only_on_the_base_and_base_on_nothing_above():
    known = modules()
    bad = []
    for name, path in known.items():
        me = top(name)
        for mod, names, line in imports(name, path):
            for target in resolve(mod, names, known):
                other = top(target)
                if other == me or other in BASE:
                    continue
                where = f"{path.relative_to(ROOT)}:{line} imports {target}"
                if me in STAGES:
                    bad.append(f"{where}: a stage may import only the base")
                elif me in BASE:
                    bad.append(f"{where}: the base may not import a stage or a shell")
    assert not bad, "\n".join(bad)


def test_no_private_name_is_taken_from_another_module():
    known = modules()
    bad = []
    for name, path in known.items():
        for mod, names, line in imports(name, path):
            if mod == name:
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{path.relative_to(ROOT)}:{line} takes {n} from {mod}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules():
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for mod, names, _ in imports(name, path):
            for target in resolve(mod, names, known):
                # a package's __init__ re-exporting its own modules is not a cycle of behaviour
                if target in known and target != name and not name.startswith(target + ".") \
                        and not target.startswith(name + "."):
                    graph[name].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(known):
        if n not in state and (cycle := visit(n)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_modules_and_functions_stay_small_or_say_why():
    """No module over ~400 lines, no function over ~60, unless its docstring says why ("long because")."""
    bad = []
    for path in modules().values():
        text = path.read_text()
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_MODULE_LINES and "long because" not in doc:
            bad.append(f"{path.relative_to(ROOT)}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and "long because" not in (ast.get_docstring(node) or ""):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}(): {length} lines")
    assert not bad, "\n".join(bad)


def test_every_stage_package_says_what_it_takes_and_gives():
    for stage in sorted(STAGES | {"ops", "web", "llm", "store", "cli"}):
        doc = ast.get_docstring(ast.parse((PKG / stage / "__init__.py").read_text())) or ""
        assert doc.strip(), f"newsletter/{stage}/__init__.py has no docstring"


def test_the_readme_map_names_every_package():
    readme = (ROOT / "README.md").read_text()
    for d in sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert f"{d}/" in readme, f"README's map does not mention newsletter/{d}/"

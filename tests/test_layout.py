"""The layout's rules, read from the source with `ast`: no import cycle, nothing outside archsim/cli imports it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archsim", "attacks", "analysis")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """{dotted module name: file} of the three import packages (configs/ is package data: archsim.configs)."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path, modules) -> set[str]:
    """The project modules `path` imports anywhere in the file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a.b import c` imports a.b.c when that is a module, else a.b
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (iterative depth-first search)."""
    state = {}  # 1: on the stack, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack, path = [(start, iter(sorted(graph[start])))], [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_the_cycle_finder_finds_a_planted_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_of_reads_from_imports_of_modules_and_names(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import archsim.sat\nfrom archsim.sat import units\nfrom archsim.sat.result import SATResult\n"
                   "def f():\n    from analysis import plots\n")
    modules = {"archsim.sat", "archsim.sat.units", "archsim.sat.result", "analysis", "analysis.plots"}
    assert imports_of(src, modules) == {"archsim.sat", "archsim.sat.units", "archsim.sat.result", "analysis.plots"}


def test_the_project_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_nothing_outside_archsim_cli_imports_it():
    offenders = sorted(f"{name} imports {dep}" for name, deps in import_graph().items()
                       if not (name == "archsim.cli" or name.startswith("archsim.cli."))
                       for dep in deps if dep == "archsim.cli" or dep.startswith("archsim.cli."))
    assert not offenders, "; ".join(offenders)


@pytest.mark.parametrize("what, path", [
    ("linear CKA", "archsim/similarity/cka.py"), ("PWCCA", "archsim/similarity/cca.py"),
    ("the SAT formula", "archsim/sat/formula.py"), ("the Wilson interval", "archsim/sat/intervals.py"),
    ("the store's resume logic", "archsim/store/resume.py"), ("spectral clustering", "analysis/clustering.py"),
    ("the HTML report", "analysis/report.py"), ("greedy ensemble selection", "analysis/ensemble_selection.py"),
    ("the KD loss", "archsim/zoo/kd_loss.py"), ("the measure registry", "archsim/similarity/registry.py")])
def test_each_piece_is_found_by_its_file_name(what, path):
    assert (ROOT / path).is_file(), f"{what} should be in {path}"


def test_every_subcommand_has_its_module_named_after_it():
    from archsim.cli import COMMAND_MODULES, build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert {m.rsplit(".", 1)[1].replace("_", "-") for m in COMMAND_MODULES} == commands


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in project_modules().items() if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long

"""The layout's rules, read from the source with `ast`: the rooms in order, no import pointing upward, no import
cycle, nothing outside archsim/cli imports it, no module over 400 lines."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archsim", "attacks", "analysis")

# The rooms from the bottom up: a module may import its own room and the rooms below it, never one above.
# A room is a list of module prefixes (a prefix also covers its submodules).
ROOMS = [
    ("foundation", ["archsim.errors", "archsim.files", "archsim.options", "archsim.matrices", "archsim.terminal_table",
                    "archsim.yaml_loader", "archsim.data_spec", "archsim.sanity", "archsim.configs",
                    "archsim.workers"]),
    ("attacks", ["attacks"]),
    ("sat primitives", ["archsim.sat"]),
    ("config", ["archsim.settings", "archsim.config"]),
    ("zoo", ["archsim.zoo"]),
    ("run store", ["archsim.store"]),
    ("pipeline: SAT through the store", ["archsim.pipeline"]),
    ("similarity measures", ["archsim.similarity"]),
    ("analysis: components", ["analysis.components"]),
    ("analysis: matrix", ["analysis.matrix", "analysis"]),
    ("analysis: decisions", ["analysis.decisions"]),
    ("analysis: scorecard", ["analysis.scorecard"]),
    ("analysis: report", ["analysis.report"]),
    ("Python API", ["archsim"]),
    ("command line", ["archsim.cli"]),
]


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


def room_of(module: str, rooms=ROOMS) -> int | None:
    """The index in `rooms` of the longest prefix that covers `module` (None: in no room)."""
    best, length = None, -1
    for i, (_, prefixes) in enumerate(rooms):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = i, len(prefix)
    return best


def upward_imports(graph: dict[str, set[str]], rooms=ROOMS) -> list[str]:
    """Every import from a module into a room above its own, as 'a (room) imports b (room)'."""
    return sorted(f"{a} ({rooms[room_of(a, rooms)][0]}) imports {b} ({rooms[room_of(b, rooms)][0]})"
                  for a, deps in graph.items() for b in deps if room_of(b, rooms) > room_of(a, rooms))


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


def test_every_module_is_in_a_room():
    homeless = [m for m in project_modules() if room_of(m) is None]
    assert not homeless, homeless


def test_the_room_check_finds_a_planted_upward_import():
    rooms = [("low", ["p.low"]), ("high", ["p.high", "p"])]
    graph = {"p.low.a": {"p.low.b", "p.high.c"}, "p.low.b": set(), "p.high.c": {"p.low.a"}, "p": {"p.high.c"}}
    assert room_of("p.high.c", rooms) == 1 and room_of("p.low.a", rooms) == 0 and room_of("q", rooms) is None
    assert upward_imports(graph, rooms) == ["p.low.a (low) imports p.high.c (high)"]


def test_no_import_points_upward():
    offenders = upward_imports(import_graph())
    assert not offenders, "; ".join(offenders)


def test_every_package_is_in_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {_module_name(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")} - {"archsim.configs"}
    assert found <= listed, sorted(found - listed)


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
    ("the store's resume logic", "archsim/store/resume.py"), ("spectral clustering", "analysis/matrix/clustering.py"),
    ("the HTML report", "analysis/report/render.py"),
    ("greedy ensemble selection", "analysis/decisions/ensemble_selection.py"),
    ("SAT through the run store", "archsim/pipeline/sat_in_store.py"), ("the data-spec check", "archsim/data_spec.py"),
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

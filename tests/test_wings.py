"""The house's one-way flow, read from the code's own imports (lazy ones inside functions too): a
wing imports only the wings below it, and the top of ``frozen_bench/`` holds only the edge (cli,
run), config and the base (errors, atomic, progress, registry). docs/architecture.md draws it."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "frozen_bench"

# each wing's floor, from the ground up; a wing may import itself and any wing on a lower floor
FLOORS = {
    "errors": 0, "atomic": 0, "progress": 0, "registry": 0,  # the base every wing may use
    "config": 1,  # conf_dir, override pre-checks, lookups
    "nn": 2,  # fixed transforms and their kernels, PActs, adapters, norms, 1-D targets
    "data": 3, "models": 3,  # tensors in memory; the model table (they never import each other)
    "train": 4, "record": 4, "export": 4,  # one run's training; run records; export of a saved run
    "run": 5, "report": 5, "predict": 5,  # the Hydra edge; figures and tables from all.csv; a saved model on new inputs
    "launch": 6,  # frozen-bench run's checks and summary, run lines, pending lines, SLURM, completion
    "cli": 7, "__main__": 8,
}


def wing(module: str) -> str:
    """``frozen_bench.models.budget`` -> ``models``; ``frozen_bench.cli`` -> ``cli``."""
    return module.split(".")[1]


def imports():
    """(importing module, imported module) for every frozen_bench import in the package."""
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        me = ".".join(parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]  # a module, or a name in one
            else:
                continue
            for name in names:
                if name.startswith("frozen_bench."):
                    yield me, name


def test_every_module_sits_in_a_known_wing():
    tops = {p.stem for p in PKG.glob("*.py")} | {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops - {"__init__"} <= set(FLOORS), sorted(tops - {"__init__"} - set(FLOORS))
    assert {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"} == {"cli", "run", "config", "errors", "atomic", "progress",
                                                                           "registry"}


def test_no_import_runs_back_up_or_sideways():
    wrong = sorted({f"{a} -> {b}" for a, b in imports()
                    if wing(a) != wing(b) and wing(b) in FLOORS and FLOORS[wing(b)] >= FLOORS[wing(a)]})
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_no_two_modules_import_each_other():
    """No circle of imports, not even inside one wing (a package's __init__ handing names on counts
    as the modules it imports)."""
    modules = {".".join(p.relative_to(PKG.parent).with_suffix("").parts) for p in PKG.rglob("*.py")}
    modules = {m.removesuffix(".__init__") for m in modules}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for a, b in imports():
        target = b if b in modules else b.rsplit(".", 1)[0]  # `from pkg.mod import name` -> pkg.mod
        if target in modules and target != a:
            graph[a].add(target)
    packages = {m for m in modules if (PKG.parent / m.replace(".", "/") / "__init__.py").exists()}
    circles, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if n in packages and m.startswith(n + "."):  # a module reaching its own package's __init__
                continue
            if state.get(n) == "open":
                circles.append(" -> ".join(path[path.index(n):] + [n]))
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, "import circles:\n" + "\n".join(circles)

"""The shape of course_utils: no import cycles, a short top level, an engine readable in one sitting.

The import graph is read from the source (``ast``), not from ``sys.modules``: every
``import`` counts, at module level or inside a function (a function-level import only
postpones a cycle to the first call, it does not remove it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import course_utils

PACKAGE = Path(course_utils.__file__).parent
MAX_TOP_LEVEL = 14  # issue 23: the modules a lesson tells learners to read
ENGINE_MAX_MODULES, ENGINE_MAX_LINES = 6, 1200


def module_name(path: Path) -> str:
    """``course_utils.data.sources`` for course_utils/data/sources.py (a package: its __init__)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.AST, importer: str) -> list[str]:
    """The course_utils modules one import statement names (``from . import x``: the submodule x)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "course_utils"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    if base.split(".")[0] != "course_utils":
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _with_packages(target: str, importer: str) -> set[str]:
    """``target`` and the packages Python runs on the way to it that do not contain ``importer``."""
    parts = target.split(".")
    found = {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    return {m for m in found if m in MODULES and not importer.startswith(m + ".")} - {importer}


def imports(name: str, *, module_level_only: bool = False) -> set[str]:
    """The course_utils modules that module ``name`` imports."""
    tree = ast.parse(MODULES[name].read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        for target in _targets(node, name):
            found |= _with_packages(target, name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def closure(name: str) -> set[str]:
    """``name`` and every course_utils module it imports, anywhere in it, followed transitively."""
    seen, todo = {name}, [name]
    while todo:
        for nxt in imports(todo.pop()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def top_level() -> list[str]:
    """The modules and subpackages directly inside course_utils."""
    return sorted(
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()
    )


def test_find_cycle_finds_a_function_level_cycle() -> None:
    """The detector itself: engine -> run -> engine, as it was on 12-01."""
    assert find_cycle({"engine": {"run"}, "run": {"engine"}, "viz": {"engine"}}) in (
        ["engine", "run", "engine"],
        ["run", "engine", "run"],
    )
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    assert "course_utils.data.device_loader" in imports("course_utils.data")  # inside a function
    assert "course_utils.data.device_loader" not in imports("course_utils.data", module_level_only=True)
    assert "course_utils.data" in imports("course_utils.viz")
    assert "course_utils.course.check" in imports("course_utils.course.exercises_01_05")


def test_no_import_cycles_among_course_utils_modules() -> None:
    graph = {name: imports(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_exercise_registry_imports_none_of_its_clients() -> None:
    assert imports("course_utils.course.check") == set()


def test_top_level_holds_at_most_14_modules() -> None:
    names = top_level()
    assert len(names) <= MAX_TOP_LEVEL, f"{len(names)} top-level modules: {names}"


def test_the_package_docstring_lists_the_top_level_truthfully() -> None:
    """Every module at the top level, and nothing else, is named where a list line starts."""
    lines = (course_utils.__doc__ or "").splitlines()
    listed = sorted(re.findall(r"``(\w+)``", line)[0] for line in lines if line.startswith("* ``"))
    named = {n for line in lines for n in re.findall(r"``(\w+)``", line)}
    assert set(listed) <= set(top_level()), (
        f"listed but not in course_utils/: {set(listed) - set(top_level())}"
    )
    assert set(top_level()) <= named, f"not in the docstring: {set(top_level()) - named}"


def test_engine_and_what_it_imports_fit_in_one_sitting() -> None:
    """What a reader of the loops and ``fit(checkpoint=..., resume=True)`` meets: every file.

    Imports inside functions count too: following ``fit`` into a checkpoint reads them all.
    The limits are issue 23's and the closure sits just under them (1,196 lines on 12-03):
    a change to engine/, checkpoint.py or files.py pays for the lines it adds.
    """
    modules = closure("course_utils.engine")
    lines = sum(len(MODULES[m].read_text().splitlines()) for m in modules)
    assert {"course_utils.engine.training", "course_utils.checkpoint"} <= modules
    assert len(modules) <= ENGINE_MAX_MODULES, sorted(modules)
    assert lines <= ENGINE_MAX_LINES, f"{lines} lines in {sorted(modules)}"


def test_closure_follows_imports_inside_functions() -> None:
    # data/__init__.py imports device_loader only inside the function that needs it
    assert "course_utils.data.device_loader" in closure("course_utils.data")
    assert closure("course_utils.files") == {"course_utils.files"}


def test_every_engine_file_is_under_400_lines() -> None:
    for name, path in MODULES.items():
        if name.startswith("course_utils.engine"):
            assert len(path.read_text().splitlines()) <= 400, name


@pytest.mark.parametrize(
    "step", ["loss.backward()", "optimizer.step()", "optimizer.zero_grad(", ".to(run.device"]
)
def test_the_training_step_is_written_out_in_engine(step: str) -> None:
    assert step in MODULES["course_utils.engine.loops"].read_text()


# ---------------------------------------------------------------- backlinks to the lessons


def lesson_sections() -> dict[str, set[str]]:
    """Every lesson's headings, ``{"03": {"4 · Train the network", ...}}``, without the #s and backticks."""
    import json

    sections: dict[str, set[str]] = {}
    for path in sorted((PACKAGE.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        found = re.findall(r"^#+ +(.+?) *$", text, re.M)
        sections[path.name[:2]] = {h.replace("`", "") for h in found}
    return sections


def backlinks(doc: str) -> list[tuple[str, str]]:
    """(lesson, section) for each ``lesson NN, *Section*`` (and ``*Other*`` after it) in ``doc``."""
    doc = " ".join(doc.split())
    parts = re.split(r"\blesson (\d\d)\b", doc)
    return [
        (n, s.replace("`", ""))
        for n, text in zip(parts[1::2], parts[2::2], strict=True)
        for s in re.findall(r"\*(?! )([^*]+?)(?<! )\*", text)  # not a list's "* item"
    ]


def docstrings() -> dict[str, str]:
    """``{"course_utils.engine.training.fit": docstring}`` for every module, class and function."""
    found = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        found[name] = ast.get_docstring(tree) or ""
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[f"{name}.{node.name}"] = ast.get_docstring(node) or ""
    return found


def test_backlinks_name_real_sections_of_the_lessons() -> None:
    sections, wrong = lesson_sections(), []
    for where, doc in docstrings().items():
        wrong += [(where, n, s) for n, s in backlinks(doc) if s not in sections.get(n, ())]
    assert backlinks("Written in lesson 07, *5 · A\n  b* and *C*; lesson 03, *D*") == [
        ("07", "5 · A b"),
        ("07", "C"),
        ("03", "D"),
    ]
    assert not wrong, f"no such section: {wrong}"


@pytest.mark.parametrize("name", sorted(__import__("course_utils.engine").engine.__all__))
def test_every_public_engine_name_links_to_the_lesson_that_teaches_it(name: str) -> None:
    obj = getattr(__import__("course_utils.engine").engine, name)
    doc = docstrings()[f"{obj.__module__}.{name}"]
    assert backlinks(doc), f"engine.{name}'s docstring names no lesson section"

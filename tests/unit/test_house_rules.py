"""The house rules that keep the code one can inherit, each checked so it stays true: no test
module imports another (shared helpers live in modules not named test_*), no import circle
among our modules, and no function in src/ over 60 lines or 15 branches — except the ones
listed in `TOO_BIG`, a debt that may only shrink (a listed function that became small must
leave the list, so it cannot grow back unnoticed)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"
MAX_LINES, MAX_BRANCHES = 60, 15

TOO_BIG: frozenset[str] = frozenset()
"""Functions allowed over the limits, each a debt named here until split (none now)."""

BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.match_case, ast.ExceptHandler)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def count_branches(fn: ast.AST) -> int:
    """Branch points of `fn` itself (if/elif, loops, except, match cases), not of functions
    defined inside it."""
    count, todo = 0, list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, (*FUNCTIONS, ast.Lambda)):
            continue
        count += isinstance(node, BRANCHES)
        todo.extend(ast.iter_child_nodes(node))
    return count


def functions() -> Iterator[tuple[str, int, int]]:
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, FUNCTIONS):
                where = f"{path.relative_to(SRC)}:{node.name}"
                assert node.end_lineno is not None
                yield where, node.end_lineno - node.lineno + 1, count_branches(node)


def test_no_function_in_src_is_over_60_lines_or_15_branches_beyond_the_listed_debt() -> None:
    too_big = {where for where, lines, branches in functions()
               if lines > MAX_LINES or branches > MAX_BRANCHES}  # fmt: skip
    assert sorted(too_big - TOO_BIG) == [], "new functions over the limits: split them"
    assert sorted(TOO_BIG - too_big) == [], "small now: take them off TOO_BIG"


def test_branches_are_counted_as_the_rule_means() -> None:
    fn = ast.parse(
        "def f(x):\n"
        "    if x:\n        pass\n    elif x > 1:\n        pass\n"
        "    for i in x:\n        while i:\n            break\n"
        "    try:\n        pass\n    except ValueError:\n        pass\n"
        "    def inner():\n        if x:\n            pass\n"
    ).body[0]
    assert count_branches(fn) == 5  # if, elif, for, while, except; not inner's if


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_test_module_imports_another() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        for name in sorted(imports_of(path))
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert offenders == []


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                cycles.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_find_cycles_finds_a_circle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle_among_our_modules() -> None:
    """Function-level imports count too: a circle is a circle, however deferred."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph = {
        name: {m for m in imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    assert find_cycles(graph) == []


PARSING = frozenset(
    {"startswith", "endswith", "removeprefix", "removesuffix", "split", "partition"}
)


def find_message_parsing(tree: ast.AST) -> list[int]:
    """Lines where a `.message` is taken apart (`x.message.startswith(...)`, ...) or searched
    (`... in x.message`): the state a decision needs must be a field of its own."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PARSING
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "message"
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.Compare):
            searched = any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
            named = [c for c in node.comparators if isinstance(c, ast.Attribute)]
            if searched and any(c.attr == "message" for c in named):
                lines.append(node.lineno)
    return lines


def test_the_core_never_reads_its_decisions_back_out_of_a_message() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((SRC / "nodewave" / "core").rglob("*.py"))
        for line in find_message_parsing(ast.parse(path.read_text()))
    ]
    assert found == []


def test_message_parsing_is_found() -> None:
    tree = ast.parse(
        "a = rs.message.removeprefix('x')\nb = 'w' in rs.message\nc = rs.failure or m\n"
    )
    assert find_message_parsing(tree) == [1, 2]

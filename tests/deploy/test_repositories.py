"""Every statement a service runs lives in one of its repository modules (`<area>/repository.py`, or
the service's own `repository.py`): a reader finds each query in one place, and endpoints,
services, event handlers and background jobs call them by name. `models.py` and the migrations
define the tables; nothing else under `services/*/src` runs or builds a statement.

What counts, found in each module's syntax tree (no import, no type information needed):
- a call that runs SQL: `.execute(`, `.exec_driver_sql(` on anything, and `.scalar(`, `.scalars(`,
  `.get(`, `.query(` on a session or connection: a name like `session`, `*_session`, `conn`,
  `connection`, a parameter annotated `Session`/`Connection`, or what a `with` binds from
  `unit_of_work()`, `begin()`, `connect()` or a session factory;
- a statement or subquery builder from SQLAlchemy (`select`, `insert`, `update`, `delete`, `text`,
  `union`, `union_all`, `exists`, ...), under whatever name it was imported (`from
  sqlalchemy.dialects.postgresql import insert as pg_insert`) or through the module (`sa.select`);
  `microblog_common.sql.dialect_insert`; and a table's own `.select()`/`.insert()`/`.update()`/
  `.delete()` (`Model.__table__.delete()`, `outbox_table.insert()`).

`dict.get`, `result.scalars()` on a repository's answer, or a local function named `update` are
not statements and are not flagged."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Modules that may run and build statements.
REPOSITORY_MODULE = "repository.py"
TABLE_MODULE = "models.py"
MIGRATIONS_FOLDER = "migrations"

RUNS_ANYWHERE = frozenset({"execute", "exec_driver_sql", "executemany"})
RUNS_ON_A_SESSION = frozenset({"scalar", "scalars", "get", "get_one", "query"})
BUILDERS = frozenset(
    {
        "select", "insert", "update", "delete", "text", "union", "union_all", "except_", "except_all",
        "intersect", "intersect_all", "exists", "values", "lateral", "tablesample",
    }
)  # fmt: skip
TABLE_METHODS = frozenset({"select", "insert", "update", "delete"})
# Shared helpers that build a statement (`dialect_insert(session)(Model)...`).
SHARED_BUILDERS = {"microblog_common.sql": frozenset({"dialect_insert"})}
SESSION_NAMES = frozenset({"session", "conn", "connection"})
SESSION_TYPES = frozenset({"Session", "AsyncSession", "Connection", "AsyncConnection"})
SESSION_FACTORIES = frozenset({"unit_of_work", "read_session", "begin", "connect", "session", "Session"})


def _terminal_name(node: ast.expr) -> str | None:
    """`session` of `session`, `self.session`, `lane.session`; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _annotation_names(annotation: ast.expr | None) -> set[str]:
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return set()
    names = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


class _Scanner(ast.NodeVisitor):
    def __init__(self) -> None:
        self.builders: set[str] = set()  # local names of imported builders
        self.sqlalchemy_modules: set[str] = set()  # local names of `import sqlalchemy [as sa]`
        self.sessions: set[str] = set(SESSION_NAMES)
        self.found: list[tuple[int, str]] = []

    # -- what names mean in this module ------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy."):
                self.sqlalchemy_modules.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            local = alias.asname or alias.name
            if (module == "sqlalchemy" or module.startswith("sqlalchemy.")) and alias.name in BUILDERS:
                self.builders.add(local)
            elif alias.name in SHARED_BUILDERS.get(module, ()):
                self.builders.add(local)
            elif module == "sqlalchemy" and alias.name in {"sql", "orm"}:
                self.sqlalchemy_modules.add(local)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for argument in arguments:
            if _annotation_names(argument.annotation) & SESSION_TYPES:
                self.sessions.add(argument.arg)
        self.generic_visit(node)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            call = item.context_expr
            if (
                isinstance(call, ast.Call)
                and _terminal_name(call.func) in SESSION_FACTORIES
                and isinstance(item.optional_vars, ast.Name)
            ):
                self.sessions.add(item.optional_vars.id)
        self.generic_visit(node)

    visit_With = _with
    visit_AsyncWith = _with

    # -- statements --------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.builders:
            self.found.append((node.lineno, f"{func.id}(...)"))
        elif isinstance(func, ast.Attribute):
            receiver = _terminal_name(func.value)
            if func.attr in RUNS_ANYWHERE:
                self.found.append((node.lineno, f".{func.attr}(...)"))
            elif func.attr in RUNS_ON_A_SESSION and (
                receiver in self.sessions or (receiver or "").endswith("_session")
            ):
                self.found.append((node.lineno, f"{receiver}.{func.attr}(...)"))
            elif (
                func.attr in BUILDERS
                and isinstance(func.value, ast.Name)
                and func.value.id in self.sqlalchemy_modules
            ):
                self.found.append((node.lineno, f"{func.value.id}.{func.attr}(...)"))
            elif func.attr in TABLE_METHODS and (
                receiver == "__table__" or (receiver or "").endswith("table")
            ):
                self.found.append((node.lineno, f"{receiver}.{func.attr}(...)"))
        self.generic_visit(node)


def may_run_statements(path: Path) -> bool:
    return path.name in (REPOSITORY_MODULE, TABLE_MODULE) or MIGRATIONS_FOLDER in path.parts


def statements_outside_repositories(sources: Path) -> list[str]:
    """`path:line: what` (the path from `sources`) for every statement under `sources` outside the
    modules that may hold one."""
    offenders = []
    for path in sorted(sources.rglob("*.py")):
        relative = path.relative_to(sources)
        if may_run_statements(relative):
            continue
        scanner = _Scanner()
        scanner.visit(ast.parse(path.read_text(), filename=str(path)))
        offenders += [f"{relative}:{line}: {what}" for line, what in scanner.found]
    return offenders


def test_every_statement_of_a_service_is_in_its_repositories(service: str) -> None:
    sources = REPO / "services" / service / "src"
    assert list(sources.rglob(REPOSITORY_MODULE)), f"{service} has no repository module"
    offenders = statements_outside_repositories(sources)
    assert not offenders, f"statements outside a repository module in {sources}:\n" + "\n".join(offenders)


PLANTED = """
import sqlalchemy as sa
from sqlalchemy import select as pick, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from microblog_common.sql import dialect_insert
from demo.models import Thing


def shows(session: Session, thing_id: int):
    return session.get(Thing, thing_id)  # <- 1


def counts(db, s: "Session"):
    with db.unit_of_work() as uow:
        uow.scalar(pick(Thing.id))  # <- 2
    s.scalars(sa.text("SELECT 1"))  # <- 2
    return s.execute(update(Thing).values(n=1))  # <- 2


def writes(self, session):
    self.session.query(Thing)  # <- 1
    dialect_insert(session)(Thing)  # <- 1
    pg_insert(Thing)  # <- 1
    Thing.__table__.delete()  # <- 1
    self.outbox_table.insert()  # <- 1
"""
# Each line marked `# <- n` holds n statements.
PLANTED_LINES = sorted(
    number
    for number, line in enumerate(PLANTED.splitlines(), 1)
    if "# <- " in line
    for _ in range(int(line.split("# <- ")[1]))
)

HARMLESS = """
from demo import repository


def update(values: dict, session) -> dict:
    values.get("x")
    values.update(x=1)
    rows = repository.things(session)
    rows.scalars()
    found = repository.thing(session, 1)
    return {"found": found, "session": session.info.get("x")}


def caller(session) -> None:
    update({}, session)
"""


def test_the_scan_finds_statements_planted_outside_a_repository(tmp_path: Path) -> None:
    area = tmp_path / "demo" / "things"
    area.mkdir(parents=True)
    (area / "service.py").write_text(PLANTED)
    (area / "harmless.py").write_text(HARMLESS)
    # The same statements where they belong: not flagged.
    (area / REPOSITORY_MODULE).write_text(PLANTED)
    (tmp_path / "demo" / TABLE_MODULE).write_text(PLANTED)
    (tmp_path / "demo" / MIGRATIONS_FOLDER / "versions").mkdir(parents=True)
    (tmp_path / "demo" / MIGRATIONS_FOLDER / "versions" / "0001_x.py").write_text(PLANTED)

    found = statements_outside_repositories(tmp_path)

    assert all(entry.startswith("demo/things/service.py:") for entry in found), found
    assert sorted(int(entry.split(":")[1]) for entry in found) == PLANTED_LINES, found
    assert len(PLANTED_LINES) == 12

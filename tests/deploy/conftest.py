"""What the deployment tests share: the repository layout, which deployables exist, and a reader for
the Dockerfiles (the instructions they use, with ARG values substituted). Test modules get them as
fixtures: with --import-mode=importlib a test module cannot import this one."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("users", "posts", "search", "translate", "notify", "web")
# The services that take part in events (a broker, an event lane that can be a worker of its own).
EVENT_SERVICES = ("users", "posts", "search", "translate", "notify")
COMPONENTS = (*SERVICES, "gateway")


def component_dir(component: str) -> Path:
    return REPO / "gateway" if component == "gateway" else REPO / "services" / component


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # `service` runs a test once per service, `component` once per service and the gateway.
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", SERVICES)
    if "event_service" in metafunc.fixturenames:
        metafunc.parametrize("event_service", EVENT_SERVICES)
    if "component" in metafunc.fixturenames:
        metafunc.parametrize("component", COMPONENTS)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def all_services() -> tuple[str, ...]:
    return SERVICES


@pytest.fixture
def folder_of():
    """component name -> its folder (services/<name> or gateway)."""
    return component_dir


# -- path patterns -------------------------------------------------------------------------


class PathPatterns:
    """Lines of .dockerignore, or anchored .gitignore-style patterns such as Railway's watch
    patterns: `*` and `?` stay within a folder, `**` crosses folders, a leading `!` re-includes,
    the last matching line wins, and matching a folder covers everything under it."""

    def __init__(self, lines: list[str]):
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            self.rules.append((negated, re.compile(self._regex(line.lstrip("!").strip("/")) + r"\Z")))

    @staticmethod
    def _regex(pattern: str) -> str:
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        return regex

    def matches(self, relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        matched = False
        for negated, regex in self.rules:
            if any(regex.match(prefix) for prefix in prefixes):
                matched = not negated
        return matched


@pytest.fixture
def path_patterns() -> type[PathPatterns]:
    return PathPatterns


# -- Dockerfiles ---------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, COPY, RUN...
    flags: dict[str, str]  # leading --name=value options (COPY --from=builder)
    text: str  # the rest, with ARG values substituted

    def words(self) -> list[str]:
        """The arguments, from the JSON (exec) form or split like a shell would."""
        return json.loads(self.text) if self.text.startswith("[") else shlex.split(self.text)


@dataclass
class Stage:
    base: str
    name: str | None
    args: dict[str, str] = field(default_factory=dict)
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
# The instructions Docker itself expands variables in; RUN, CMD and HEALTHCHECK are left to the
# shell that runs them (which sees ARG values at build time and ENV values in the container).
_EXPANDED = frozenset({"ADD", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})


def _substitute(text: str, values: dict[str, str]) -> str:
    # Only names the Dockerfile defines: ${PATH}, $PORT and friends are for the container's shell.
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(replace, text)


def _logical_lines(source: str) -> list[str]:
    """Instructions one per line: continuations joined, comment lines dropped (also inside a
    continued instruction, as Docker does)."""
    lines: list[str] = []
    current = ""
    for raw in source.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse_dockerfile(path: Path) -> list[Stage]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG":
            name, has_default, default = rest.partition("=")
            target = stages[-1].args if stages else global_args
            if has_default:
                target[name] = _substitute(default, {**global_args, **target})
            elif name in global_args:  # `ARG NAME` in a stage takes the global value
                target[name] = global_args[name]
            continue
        if keyword == "FROM":
            base, _, name = _substitute(rest, global_args).partition(" AS ")
            stages.append(Stage(base=base.strip(), name=name.strip() or None))
            continue
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            key, _, value = flag[2:].partition("=")
            flags[key] = value
            rest = rest.strip()
        stage = stages[-1]
        text = _substitute(rest, stage.args) if keyword in _EXPANDED else rest
        stage.instructions.append(Instruction(keyword, flags, text))
    return stages


@pytest.fixture
def read_dockerfile():
    return parse_dockerfile


@pytest.fixture
def dockerfile_path(component: str) -> Path:
    return component_dir(component) / "Dockerfile"


@pytest.fixture
def stages(dockerfile_path: Path) -> list[Stage]:
    return parse_dockerfile(dockerfile_path)

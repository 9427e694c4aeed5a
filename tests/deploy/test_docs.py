"""The repository explains itself: no file in it points outside it (a clone has nothing there), and
every relative link in its Markdown leads to a file or folder that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A relative Markdown link target: not a URL, not an anchor, not an e-mail address.
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
OUTSIDE = re.compile(r"\.\./shared/|/work/shared|/work/main")


def _tracked(pattern: str = "") -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *([pattern] if pattern else [])],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def test_nothing_points_outside_the_repository() -> None:
    offenders = []
    for path in _tracked():
        if path.suffix in {".lock", ".png", ".jpg", ".ico", ".woff2"} or path.name == "test_docs.py":
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_relative_markdown_link_resolves() -> None:
    broken = []
    for path in _tracked("*.md"):
        for target in LINK.findall(path.read_text()):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
    assert not broken, "\n".join(broken)


def test_the_readme_links_the_design_and_the_api() -> None:
    readme = (REPO / "README.md").read_text()
    assert "(docs/architecture.md)" in readme and "(docs/api.md)" in readme

"""The documentation site builds with every link and anchor resolved (`mkdocs build --strict`,
as `make docs`), and a broken one fails the build naming it: links between pages, anchors,
the README's links (the home page is the README) and links to files outside docs/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip


def test_the_site_builds_with_every_link_resolved(tmp_path: Path) -> None:
    done = build(REPO, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    home = (tmp_path / "site" / "index.html").read_text()
    assert "nodewave is a Kubernetes operator" in home, "the home page is the README"
    assert 'href="guide/rollouts/"' in home, "the README's links into docs/ are page links"
    assert 'src="images/dashboard.png"' in home
    rollouts = (tmp_path / "site" / "guide" / "rollouts" / "index.html").read_text()
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "canaryCount" in rollouts
    assert "set canaryCount or canaryPercent, not both" in api
    bench = (tmp_path / "site" / "benchmark" / "index.html").read_text()
    assert 'href="https://github.com/nodewave/nodewave/blob/main/bench/results.md"' in bench


def test_a_broken_link_fails_the_build_naming_it(tmp_path: Path) -> None:
    """A copy of the checkout (docs/ and the README copied, the rest linked) with one broken
    link of each kind."""
    root = tmp_path / "repo"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in ("docs", "README.md", ".git", "site"):
            (root / entry.name).symlink_to(entry)
    subprocess.run(["cp", "-r", str(REPO / "docs"), str(root / "docs")], check=True)
    (root / "README.md").write_text((REPO / "README.md").read_text() + "\n[x](docs/nowhere.md)\n")
    page = root / "docs" / "guide" / "jobs.md"
    page.write_text(
        page.read_text()
        + "\n[a](rollouts.md#no-such-heading) [b](../../examples/none.yaml) [c](../gone.md)\n"
        + "```\n[in code](not-a-link.md)\n```\n"
    )
    done = build(root, tmp_path / "site")
    assert done.returncode != 0
    for broken in ("nowhere.md", "#no-such-heading", "examples/none.yaml", "gone.md"):
        assert broken in done.stderr, (broken, done.stderr)
    assert "not-a-link.md" not in done.stderr

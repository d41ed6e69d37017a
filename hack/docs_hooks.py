"""MkDocs hooks of the documentation site (mkdocs.yml).

- The home page is the README, so the two never say different things: its links into `docs/`
  become links between pages.
- A link from a page to a file of the repository outside `docs/` (an example, the benchmark's
  results, a module) becomes a link to that file on the repository's site, and a link to a file
  that does not exist is a warning, which `mkdocs build --strict` (the test suite's) turns into
  a failure. MkDocs itself checks the links between pages and their anchors (`validation`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.nodewave")

LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s#]*)(#[^)\s]*)?\)")

FENCED = re.compile(r"^([ \t]*)(```|~~~).*?^\1\2[ \t]*$", re.MULTILINE | re.DOTALL)


def on_files(files: Files, config: Any) -> Files:
    readme = Path(config["config_file_path"]).parent / "README.md"
    files.append(File.generated(config, "index.md", content=readme.read_text()))
    return files


def _target(target: str, page_dir: Path, root: Path, repo_url: str, where: str) -> str:
    """Where a relative link goes on the site: a page stays a page (relative to the home page
    when the link is the README's), any other file of the repository its address there."""
    path = (page_dir / target).resolve()
    docs = root / "docs"
    if path == docs or docs in path.parents:
        return path.relative_to(docs).as_posix() if page_dir == root else target
    if not path.exists() or root not in path.parents:
        log.warning("%s: link to %s, which is not in the repository", where, target)
        return target
    kind = "tree" if path.is_dir() else "blob"
    return f"{repo_url}/{kind}/main/{path.relative_to(root).as_posix()}"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    root = Path(config["config_file_path"]).parent.resolve()
    src = page.file.src_uri
    page_dir = root if src == "index.md" else (root / "docs" / src).parent
    repo_url = config["repo_url"].rstrip("/")

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return match.group(0)
        new = _target(target, page_dir, root, repo_url, src)
        return f"{match.group(1)}{new}{match.group(3) or ''})"

    # A `](` inside a code block is not a link; a link's text may span lines.
    out, end = [], 0
    for block in FENCED.finditer(markdown):
        out += [LINK.sub(rewrite, markdown[end : block.start()]), block.group(0)]
        end = block.end()
    return "".join([*out, LINK.sub(rewrite, markdown[end:])])

"""Where a Secret's credentials may be sent (healthCheck.prometheus and healthCheck.alerts'
`authorization` and `basicAuth`; docs/security.md).

A Job's author names the address and the Secret; the operator reads the Secret with its own
rights. Were the address alone the author's to choose, anyone who may write a Job in a
namespace could send that namespace's Prometheus token to a server of theirs, without the
right to read the Secret. So the Secret says where it may go: its annotation
`nodewave.io/allowed-addresses` lists addresses (comma- or space-separated), and a credential is
sent only to a URL of one of their origins (scheme, host, port: the same server) under its
path. Whoever may write the Secret decides; a Secret without the annotation sends nothing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nodewave.models.job import ALLOWED_ADDRESSES

DEFAULT_PORTS = {"http": 80, "https": 443}


def build_origin(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URL, lower-cased with the default port made
    explicit and the path ending in "/"; None for anything else: a query or fragment, a path
    with "." or ".." segments, percent-escapes, backslashes or semicolons."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return None  # a base address has neither: a path is appended to it
    if any(c in parts.path for c in "%\\;") or {".", ".."} & set(parts.path.split("/")):
        # A client or a proxy on the way resolves these: the path that arrives is not the
        # path written (%2e%2e, ..%2f, ..\\, ..;/ through nginx or Tomcat).
        return None
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme], path


def evaluate_credentials_destination(allowed: str | None, url: str) -> str | None:
    """Why a credential from a Secret annotated `allowed` may not be sent to `url`, or None
    when it may: `url` has the origin of an allowed address and lies under its path."""
    if not allowed or not allowed.strip():
        return f"it has no annotation {ALLOWED_ADDRESSES} listing where it may be sent"
    target = build_origin(url)
    if target is None:
        return f"{url} is not a plain http(s) address (no . or .. segments, %, \\, ;, ? or #)"
    entries = allowed.replace(",", " ").split()
    for entry in entries:
        origin = build_origin(entry)
        if origin is not None and origin[:3] == target[:3] and target[3].startswith(origin[3]):
            return None
    return f"its annotation {ALLOWED_ADDRESSES} does not list {url}"

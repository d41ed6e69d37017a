"""JSON merge patches (RFC 7386) computed from an old and a new document.

A merge patch merges maps key by key, so a key that disappeared from a map (a state count that
dropped to zero, a detail no longer true) must be sent as null or it would linger. Lists are
replaced whole, which is what Kubernetes does with merge patches too.
"""

from __future__ import annotations

from typing import Any


def build_merge_patch(old: Any, new: Any) -> Any:
    """The patch that turns `old` into `new`; {} when they are equal."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = build_merge_patch(old[key], value)  # a map merges, anything else replaces
    return patch

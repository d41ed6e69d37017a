"""The overlay of our own writes (kube/view.py): which watch events are the echo of a write
this process made (they wake no pass), and when the watch has caught up."""

from __future__ import annotations

import dataclasses

from nodewave.kube.view import ClusterView, Overlay
from tests.unit.builders import execution, pod


def test_only_the_very_version_a_write_returned_is_its_echo() -> None:
    overlay = Overlay()
    key = ("ns", "job")
    written = pod("p1", node_name="n1")
    overlay.put(key, "p1", written)
    rv = written.resource_version
    assert overlay.wrote(key, "p1", rv)
    assert not overlay.wrote(key, "p1", str(int(rv) + 1)), "someone else's later change"
    assert not overlay.wrote(key, "p2", rv), "another object"
    assert not overlay.wrote(("ns", "other"), "p1", rv), "another Job"
    merged = overlay.merge(key, {"p1": written})  # the watch caught up: the entry goes
    assert merged == {"p1": written}
    assert not overlay.wrote(key, "p1", rv)


def test_executions_of_a_former_job_of_the_same_name_are_not_its_own() -> None:
    """A Job deleted and applied again at once: the garbage collector still removes the old
    one's executions, which carry the same names; the new Job must neither count them nor take
    their pods for its own."""
    key = ("ns", "j")
    mine = dataclasses.replace(execution("n1"), owner_uid="new")
    former = dataclasses.replace(execution("n2"), owner_uid="old")
    unowned = execution("n3")  # no owner recorded: kept
    view = ClusterView(
        jobs={}, executions={key: {e.name: e for e in (mine, former, unowned)}}, pods={},
        nodes={}, revisions={}, namespaces={},
    )  # fmt: skip
    assert view.executions_of(key, "new") == (mine, unowned)

"""The overlay of our own writes (kube/view.py): which watch events are the echo of a write
this process made (they wake no pass), and when the watch has caught up."""

from __future__ import annotations

from nodewave.kube.view import Overlay
from tests.unit.builders import pod


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

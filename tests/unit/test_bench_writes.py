"""The write-cost benchmark's cases (bench/writes.py): each write of a case must be the write it
is named for, or the table in bench/results.md would price the wrong thing: the wave object
rewritten whole with one entry changed, a status update at the version its create returned, a
create with or without its status."""

from __future__ import annotations

from typing import Any

from bench import writes

EXECUTION: dict[str, Any] = {
    "apiVersion": "nodewave.io/v1alpha1",
    "kind": "Execution",
    "metadata": {"name": "probe-v1-n-1", "namespace": "bench", "uid": "u", "resourceVersion": "9",
                 "managedFields": [{"manager": "Python"}], "labels": {"nodewave.io/job": "probe"}},
    "spec": {"jobName": "probe", "jobVersion": 1, "nodeName": "n", "rolloutWave": 1},
    "status": {"observedState": "Running", "podName": "probe-v1-n-1", "message": "running"},
}  # fmt: skip


def test_a_wave_write_sends_every_entry_and_changes_the_ith() -> None:
    body = writes.build_wave(EXECUTION, 3)
    first = body(0)[2]["status"]["nodes"]
    method, path, payload = body(4)
    nodes = payload["status"]["nodes"]
    assert (method, path) == ("PATCH", f"{writes.WAVES}/wave-3")
    assert [n["node"] for n in nodes] == ["bench-0000", "bench-0001", "bench-0002"]
    assert [n["restarts"] for n in nodes] == [0, 4, 0]
    assert first[1]["restarts"] == 0  # an earlier write's body is not changed afterwards


def test_a_status_update_carries_the_version_its_create_returned() -> None:
    writes.CREATED["w-ex-00007"] = "1234"
    method, path, payload = writes.build_status(EXECUTION, update=True)(7)
    assert (method, path) == ("PUT", f"{writes.EXECUTIONS}/w-ex-00007/status")
    assert payload["metadata"]["resourceVersion"] == "1234"
    assert payload["metadata"]["name"] == "w-ex-00007"
    assert "uid" not in payload["metadata"]
    assert "managedFields" not in payload["metadata"]
    method, path, payload = writes.build_status(EXECUTION, update=False)(7)
    assert (method, payload) == ("PATCH", {"status": EXECUTION["status"]})


def test_creates_with_and_without_the_status() -> None:
    plain = writes.build_execution(EXECUTION, writes.EXECUTIONS, with_status=False)(3)
    inline = writes.build_execution(EXECUTION, writes.INLINE, with_status=True)(3)
    assert plain[0] == inline[0] == "POST"
    assert "status" not in plain[2]
    assert inline[2]["status"] == EXECUTION["status"]
    assert inline[2]["apiVersion"] == f"{writes.PROBE_GROUP}/v1alpha1"
    assert plain[2]["metadata"]["name"] == inline[2]["metadata"]["name"] == "w-ex-00003"

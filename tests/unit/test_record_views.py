"""What a reader says of an execution only a pod stands for (`--pod-records`, docs/design.md
§4.2 step 6; core/views/records.py and the plugin's documents, cli/records.py): what a new
leader would decide on its first pass from the pod and the Job, never a verdict of the
operator's windows it cannot know."""

from __future__ import annotations

import dataclasses
from typing import Any

from nodewave.cli.records import ANNOTATION_POD_RECORD, build_record_documents, is_pod_record
from nodewave.core.views.records import build_record_view, build_record_views
from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.models.execution import ObservedState
from nodewave.models.job import JobStatus, RolloutStatus, SettledWave
from tests.unit.builders import T0, at, execution, job, job_spec, node, pod_record

S = ObservedState
GATED = job_spec(rollout={"strategy": "Rolling", "healthCheck": {"deadlineSeconds": 60}})
WAVE_1_SETTLED = JobStatus(
    current_version=1,
    rollout=RolloutStatus(version=1, wave=2, settled_waves=[SettledWave(wave=1, created_until=T0)]),
)


def test_a_reader_says_of_a_pod_record_what_a_new_leader_would() -> None:
    """Worked example of `build_record_view`: wave 1 of version 1 settled (its newest
    execution created at T0), the Job gated by a 60-second health deadline."""
    rollout = job(GATED, WAVE_1_SETTLED)
    in_wave_2 = dataclasses.replace(pod_record("n2"), wave=2)
    cases = {
        "ready, of the settled wave: validated": (pod_record(), rollout, S.RUNNING),
        "ready, of a wave not settled: its windows are the operator's": (in_wave_2, rollout, S.VALIDATING),
        "ready, no health deadline: nothing to validate": (pod_record(), job(), S.RUNNING),
        "pulling its image": (pod_record(phase="Pending", ready=False), rollout, S.STARTING),
        "not scheduled": (pod_record(phase="Pending", ready=False, node_name=None), rollout, S.PENDING),
        "in a crash loop": (pod_record(ready=False, waiting="CrashLoopBackOff"), rollout, S.DEGRADED),
        "its pod deleted (the run stopped)": (pod_record(deleting=True), rollout, S.STOPPING),
    }  # fmt: skip
    for what, (candidate, of, state) in cases.items():
        view = build_record_view(candidate, of, at(30))
        assert view.status.observed_state is state, what
        assert view.status.history[-1].state is state, what
        assert view.spec.node_name == candidate.target_node, what
        assert view.status.pod_name == candidate.name, what


def test_a_reader_never_fails_a_pod_record_for_a_deadline_the_operator_may_have_seen_met() -> None:
    """An hour after its creation, past the 60-second deadline, a ready pod of a wave not
    settled is Validating to a reader: the operator may have validated it in memory (a new
    leader rebases the deadline too, §4.1)."""
    late = dataclasses.replace(pod_record("n2"), wave=2)
    view = build_record_view(late, job(GATED, WAVE_1_SETTLED), at(3600))
    assert view.status.observed_state is S.VALIDATING
    assert view.status.error is None


def test_a_reader_with_the_nodes_says_lost_of_a_pod_record_whose_node_is_gone() -> None:
    record = pod_record()
    assert build_record_view(record, job(), at(30), {}).status.observed_state is S.LOST
    assert build_record_view(record, job(), at(30), {"n1": node("n1")}).status.observed_state is (
        S.RUNNING
    )
    # Without them it judges no node: the operator does, and makes an Execution that says it.
    assert build_record_view(record, job(), at(30)).status.observed_state is S.RUNNING


def test_a_pod_under_an_execution_s_name_is_that_execution_s_not_a_record() -> None:
    shadowed, alone = pod_record("n1"), pod_record("n2")
    pods = {p.name: p for p in (shadowed, alone)}
    views = build_record_views(pods, [execution("n1")], job(), at(30))
    assert [v.spec.node_name for v in views] == ["n2"]


def body(name_node: str, owner: str = "job-uid", ready: bool = True) -> dict[str, Any]:
    """A pod of Job j, version 1, as the API server returns the operator's."""
    return {
        "metadata": {
            "name": build_execution_name("j", 1, name_node),
            "namespace": "ns",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"nodewave.io/job": "j", "nodewave.io/version": "1", "nodewave.io/wave": "1"},
            "annotations": {"nodewave.io/job": "j", "nodewave.io/node": name_node,
                            "nodewave.io/incarnation": "abc"},
            "ownerReferences": [{"apiVersion": "nodewave.io/v1alpha1", "kind": "Job", "name": "j",
                                 "uid": owner, "controller": True}],
        },
        "spec": {"nodeName": name_node},
        "status": {"phase": "Running", "startTime": "2026-01-01T00:00:01Z",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


JOB = {
    "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid", "generation": 1},
    "spec": {
        "type": "Pipeline",
        "template": {"spec": {"containers": [{"name": "m", "image": "a"}]}},
    },
}


def test_the_plugin_shows_a_pod_record_as_an_execution_document() -> None:
    existing = {
        "metadata": {"name": build_execution_name("j", 1, "n1"), "namespace": "ns",
                     "uid": "x", "labels": {"nodewave.io/job": "j"},
                     "ownerReferences": [{"kind": "Job", "uid": "job-uid", "controller": True}]},
        "spec": {"jobName": "j", "jobVersion": 1, "nodeName": "n1", "incarnation": "abc"},
    }  # fmt: skip
    pods = [body("n1"), body("n2"), body("n3", owner="someone-else")]
    docs = build_record_documents([JOB], pods, [existing], at(30))
    # n1 has its Execution; n3's pod is not the Job's.
    assert [d["spec"]["nodeName"] for d in docs] == ["n2"]
    doc = docs[0]
    assert is_pod_record(doc)
    assert not is_pod_record(existing)
    assert doc["metadata"]["annotations"] == {ANNOTATION_POD_RECORD: "true"}
    assert doc["metadata"]["labels"] == {
        "nodewave.io/job": "j", "nodewave.io/version": "1", "nodewave.io/node": "n2",
    }  # fmt: skip
    assert doc["spec"]["jobVersion"] == 1
    assert doc["spec"]["rolloutWave"] == 1
    assert doc["status"]["observedState"] == "Running"
    assert doc["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
    # A Job the reader did not get (another namespace's, or gone): nothing said of its pods.
    assert build_record_documents([], pods, [], at(30)) == []

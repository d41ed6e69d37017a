"""Deterministic names, version hashing and history, merge patches."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.execution.podspec import build_execution, build_labels, build_pod
from nodewave.core.job.planner import plan_job
from nodewave.core.job.versions import (
    RevisionInfo,
    build_revision,
    build_version_content,
    hash_version,
    plan_versions,
    select_owned,
)
from nodewave.core.vocabulary.actions import (
    CreateExecution,
    CreatePod,
    CreateRevision,
    DeleteRevision,
    EnsureConfigMap,
)
from nodewave.core.vocabulary.naming import (
    LABEL_VERSION_HASH,
    build_configmap_name,
    build_execution_name,
    build_revision_name,
    label_value,
)
from nodewave.core.vocabulary.patch import build_merge_patch
from nodewave.core.vocabulary.snapshot import VersionSpec
from nodewave.kube.parse import parse_revision
from nodewave.models.execution import DesiredState
from nodewave.models.job import JobSpec, JobType, RestartPolicy
from tests.unit.builders import at, job, job_spec, node, snapshot

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
dns = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,60}[a-z0-9])?", fullmatch=True)


@given(
    job=dns,
    version=st.integers(1, 10**6),
    node=st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,200}[a-z0-9])?", fullmatch=True),
)
def test_execution_name_is_a_dns_label_and_deterministic(job: str, version: int, node: str) -> None:
    name = build_execution_name(job, version, node)
    assert len(name) <= 63
    assert DNS_LABEL.match(name), name
    assert build_execution_name(job, version, node) == name


def test_names_of_different_jobs_do_not_collide_when_parts_run_together() -> None:
    assert build_execution_name("a-v1", 2, "b") != build_execution_name("a", 1, "v2-b")


def test_readable_when_short() -> None:
    assert build_execution_name("logs", 3, "node-7").startswith("logs-v3-node-7-")


@given(st.text(min_size=0, max_size=300))
def test_label_value_is_valid(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63
    assert re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", value), value


TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "b:1"}]}}


def spec(**kw: Any) -> JobSpec:
    return JobSpec.model_validate({"type": "Pipeline", "template": TEMPLATE, **kw})


def test_first_version_is_one_and_is_stored() -> None:
    plan = plan_versions(spec(), [], None, "j")
    assert plan.current.number == 1
    assert plan.create is not None
    assert plan.delete == ()


def test_only_type_template_config_make_versions() -> None:
    base = hash_version(build_version_content(spec()))
    assert (
        hash_version(build_version_content(spec(rollout={"maxParallel": 50}, description="x")))
        == base
    )
    assert hash_version(build_version_content(spec(config={"a": 1}))) != base
    assert hash_version(build_version_content(spec(type="Query"))) != base


def _rev(n: int, s: JobSpec) -> RevisionInfo:
    content = build_version_content(s)
    return RevisionInfo(f"j-{n}", n, hash_version(content), content)


def test_reverting_reuses_the_old_number() -> None:
    revs = [_rev(1, spec()), _rev(2, spec(config={"a": 1}))]
    plan = plan_versions(spec(), revs, 2, "j")
    assert plan.current.number == 1
    assert plan.create is None


def test_new_content_gets_next_number_and_history_is_trimmed() -> None:
    revs = [_rev(n, spec(config={"n": n})) for n in range(1, 6)]
    plan = plan_versions(spec(config={"n": 99}, revisionHistoryLimit=2), revs, 3, "j")
    assert plan.current.number == 6
    # keep current (6) and stable (3), plus the two newest others (4, 5)
    assert set(plan.delete) == {"j-1", "j-2"}


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as written in the RFC's pseudo-code."""
    if not isinstance(patch, dict):
        return patch
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


json_values = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
    lambda inner: (
        st.dictionaries(st.text(max_size=2), inner, max_size=3) | st.lists(inner, max_size=2)
    ),
    max_leaves=8,
)
docs = st.dictionaries(st.text(max_size=2), json_values, max_size=4)


@given(old=docs, new=docs)
def test_merge_patch_turns_old_into_new(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert apply_merge_patch(old, build_merge_patch(old, new)) == new
    assert build_merge_patch(new, new) == {}


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({"a": 1}, [1], [1]),
        ([1], {"a": 1}, {"a": 1}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, {"a": {"c": None}}),
        ({"a": {"b": 1}}, {"a": [1]}, {"a": [1]}),
        ({"a": [1]}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": 1, "b": 2}, {"b": 3}, {"a": None, "b": 3}),
    ],
)
def test_merge_patch_table(old: Any, new: Any, patch: Any) -> None:
    assert build_merge_patch(old, new) == patch


def _sha(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _digest(job: str, version: int, node: str, n: int) -> str:
    return _sha("\x00".join((job, str(version), node)), n)


def test_execution_names_exactly() -> None:
    assert build_execution_name("logs", 3, "node-7") == "logs-v3-node-7-" + _digest(
        "logs", 3, "node-7", 6
    )
    # Too long, or not a DNS label (a dot in the node name): the job, the version, a longer hash.
    long_node = "n" * 60
    assert build_execution_name("logs", 3, long_node) == "logs-v3-" + _digest(
        "logs", 3, long_node, 10
    )
    dotted = build_execution_name("logs", 3, "node.example")
    assert dotted == "logs-v3-" + _digest("logs", 3, "node.example", 10)
    long_job = "j" * 70 + "-"
    name = build_execution_name(long_job, 12, "n1")
    assert name == "j" * (63 - 15) + "-v12-" + _digest(long_job, 12, "n1", 10)
    assert len(name) == 63


def test_label_values_exactly() -> None:
    assert label_value("web-1.a_b") == "web-1.a_b"
    assert label_value("") == ""
    assert label_value("a" * 63) == "a" * 63
    too_long = "a" * 64
    assert label_value(too_long) == "a" * 52 + f"-{_sha(too_long, 10)}"
    assert label_value("-my job!") == f"my-job-{_sha('-my job!', 10)}"
    assert label_value("!!!") == _sha("!!!", 10)
    upper = "Xylophone Node " * 5  # 75 characters: upper case kept, spaces made dashes
    assert label_value(upper) == upper[:52].replace(" ", "-").rstrip("-") + f"-{_sha(upper, 10)}"
    assert label_value("." + "B" * 70) == "B" * 51 + f"-{_sha('.' + 'B' * 70, 10)}"


def test_an_execution_name_of_exactly_63_characters_stays_readable() -> None:
    job, node = "j" * 26, "n" * 26  # "-v1-" and "-" + 6 hash characters: 63 in all
    assert build_execution_name(job, 1, node) == f"{job}-v1-{node}-{_digest(job, 1, node, 6)}"
    assert build_execution_name(job, 1, node + "n") == f"{job}-v1-{_digest(job, 1, node + 'n', 10)}"


def test_a_shortened_job_name_never_ends_the_prefix_with_a_dash_or_dot() -> None:
    for sep in "-.":
        job = "j" * 47 + sep + "k" * 30
        assert build_execution_name(job, 12, "n1") == "j" * 47 + "-v12-" + _digest(
            job, 12, "n1", 10
        )


def test_configmap_and_revision_names() -> None:
    assert build_configmap_name("j", 3) == "j-config-v3"
    assert build_configmap_name("x" * 300, 12) == "x" * (253 - 11) + "-config-v12"
    assert build_revision_name("j", "0123456789abcdef") == "j-0123456789"
    assert build_revision_name("y" * 300, "0123456789abcdef") == "y" * 242 + "-0123456789"


def test_the_revision_stored_for_new_content() -> None:
    s = spec(config={"a": 1})
    content = build_version_content(s)
    assert content == {"type": "Pipeline", "template": s.template, "config": {"a": 1}}
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    assert hash_version(content) == digest
    plan = plan_versions(s, [_rev(1, spec())], None, "j")
    assert plan.create == RevisionInfo(f"j-{digest[:10]}", 2, digest, content)
    assert plan.current.number == 2
    assert (plan.current.type.value, plan.current.config) == ("Pipeline", {"a": 1})
    assert plan.current.template == s.template


def test_the_newest_revision_with_the_content_wins() -> None:
    """Two revisions with the same content (an old operator may have stored both): the newer
    number is the version."""
    revs = [_rev(1, spec()), _rev(2, spec(config={"a": 1})), _rev(3, spec())]
    assert plan_versions(spec(), revs, None, "j").current.number == 3


def test_history_keeps_exactly_the_limit_besides_current_and_stable() -> None:
    revs = [_rev(n, spec(config={"n": n})) for n in range(1, 6)]
    at_limit = plan_versions(spec(config={"n": 5}, revisionHistoryLimit=3), revs, 4, "j")
    assert at_limit.delete == ()  # 1, 2, 3 are the three others: at the limit, none goes
    over = plan_versions(spec(config={"n": 5}, revisionHistoryLimit=2), revs, 4, "j")
    assert over.delete == ("j-1",)  # the oldest goes first
    no_stable = plan_versions(spec(config={"n": 5}, revisionHistoryLimit=0), revs, None, "j")
    assert no_stable.delete == ("j-1", "j-2", "j-3", "j-4")


def test_a_revision_without_template_reads_as_empty_and_without_config_as_not_held() -> None:
    version = RevisionInfo("j-1", 1, "h", {"type": "Query"}).to_version()
    assert (version.type, version.template, version.config) == (JobType.QUERY, {}, None)
    assert version.revision == "j-1"  # where a pass reads the config when it makes a pod
    with pytest.raises(ValueError, match="version 1's config was not read from its revision j-1"):
        build_pod(
            job(spec()), version, CreatePod("x", "", "n1", 1, 0, None, "abc"), RestartPolicy.ALWAYS
        )


def test_revisions_in_memory_hold_no_config_but_the_current_version_has_the_specs() -> None:
    """The informer's revisions leave their configs in the API (up to ~900 KiB each, ten times
    that parsed); the current version's config comes from the spec, whose hash it matches."""
    big = {"blob": "x" * 1000}
    body = {"metadata": {"name": "j-abc", "labels": {LABEL_VERSION_HASH: "h1"}}, "revision": 1,
            "data": {"type": "Pipeline", "template": TEMPLATE, "config": big}}  # fmt: skip
    held = parse_revision(body)
    assert "config" not in held.data
    assert parse_revision(body, with_config=True).data["config"] == big
    current = spec(config=big)
    content = build_version_content(current)
    stored = replace(parse_revision(body), hash=hash_version(content))
    plan = plan_versions(current, [stored], 1, "j")
    assert plan.create is None
    assert plan.current.config == big
    assert plan.known[1] == plan.current
    older = replace(stored, number=0, name="j-old", hash="other")
    assert plan_versions(current, [older, stored], 1, "j").known[0].config is None


def test_only_revisions_the_job_controls_are_its_history() -> None:
    """A ControllerRevision carrying the Job's annotation but controlled by another object (a
    tenant's own, or a former Job's of the same name) is neither counted nor pruned."""
    mine = [dataclasses.replace(_rev(n, spec(config={"n": n})), owner_uid="uid") for n in (1, 2)]
    foreign = dataclasses.replace(_rev(3, spec(config={"n": 3})), owner_uid="other")
    unowned = _rev(4, spec(config={"n": 4}))
    owned = select_owned([*mine, foreign, unowned], "uid")
    assert owned == mine
    assert select_owned(mine, "") == []  # a Job not created yet owns nothing
    plan = plan_versions(spec(config={"n": 9}, revisionHistoryLimit=0), owned, None, "j")
    assert plan.current.number == 3  # numbered after its own history, not the foreign one
    assert set(plan.delete) == {"j-1", "j-2"}


def test_a_revision_knows_the_job_that_controls_it() -> None:
    body = {
        "metadata": {"name": "r", "labels": {}, "ownerReferences": [
            {"kind": "Deployment", "uid": "d", "controller": False},
            {"apiVersion": "nodewave.io/v1alpha1", "kind": "Job", "uid": "job-uid",
             "controller": True},
        ]},
        "revision": 2,
    }  # fmt: skip
    assert parse_revision(body).owner_uid == "job-uid"
    body["metadata"]["ownerReferences"][1]["controller"] = False
    assert parse_revision(body).owner_uid == ""


NEW_REV = RevisionInfo("j-abc", 2, "h2", {"type": "Pipeline", "template": {}, "config": {}})


@pytest.mark.parametrize(
    ("changes", "nodes", "expected"),
    [
        ({}, ["n1"], ["EnsureConfigMap(1)", "CreateExecution"]),
        ({"new_revision": NEW_REV}, [], ["CreateRevision(j-abc)"]),
        ({"excess_revisions": ("j-old",)}, ["n1"], ["EnsureConfigMap(1)", "DeleteRevision(j-old)", "CreateExecution"]),
        ({"new_revision": NEW_REV, "namespace_labels": None}, ["n1"], ["CreateRevision(j-abc)", "EnsureConfigMap(1)", "CreateExecution"]),
    ],
    ids=["configmap-before-starts", "revision-with-no-node", "history-trimmed", "everything"],
)  # fmt: skip
def test_the_plan_stores_versions_and_their_configmaps(
    changes: dict[str, Any], nodes: list[str], expected: list[str]
) -> None:
    """The version bookkeeping is the plan's: a new revision is stored, each version whose
    pods the pass makes gets its ConfigMap, revisions past the history limit go."""
    snap = snapshot([node(n) for n in nodes])
    changes = {k: v for k, v in changes.items() if v is not None}
    plan = plan_job(dataclasses.replace(snap, **changes), at(0))
    assert [_said(a) for a in plan.actions] == expected


def test_a_refused_version_is_stored_all_the_same_and_starts_nothing() -> None:
    """Re-applying it later must find its number: the revision is written even when the
    namespace refuses what the version asks for."""
    spec = job_spec(template={"spec": {"hostNetwork": True, "containers": [{"name": "c"}]}})
    snap = snapshot([node("n1")], spec=spec)
    snap = dataclasses.replace(
        snap, current=replace(snap.current, template=spec.template), new_revision=NEW_REV
    )
    assert [_said(a) for a in plan_job(snap, at(0)).actions] == ["CreateRevision(j-abc)"]


def _said(action: object) -> str:
    if isinstance(action, CreateRevision):
        return f"CreateRevision({action.revision.name})"
    if isinstance(action, DeleteRevision):
        return f"DeleteRevision({action.name})"
    if isinstance(action, EnsureConfigMap):
        return f"EnsureConfigMap({action.version})"
    return type(action).__name__


def test_the_revision_body_holds_the_version_and_names_its_job() -> None:
    body = build_revision(job(), NEW_REV)
    assert (body["kind"], body["revision"], body["data"]) == ("ControllerRevision", 2, NEW_REV.data)
    assert body["metadata"]["labels"] == {
        "nodewave.io/job": "j",
        "nodewave.io/version": "2",
        LABEL_VERSION_HASH: "h2",
    }
    assert body["metadata"]["annotations"] == {"nodewave.io/job": "j"}
    (owner,) = body["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Job",
        "j",
        "job-uid",
        True,
    )
    assert parse_revision(body, with_config=True) == dataclasses.replace(
        NEW_REV, owner_uid="job-uid"
    )


@pytest.mark.parametrize("previous", [None, "j-n1-v1"])
def test_the_execution_body_says_where_what_and_in_which_wave(previous: str | None) -> None:
    action = CreateExecution("j-n1-v2", "n1", 2, 3, DesiredState.RUNNING, previous, True, "abc")
    body = build_execution(job(), action)
    expected = {
        "jobName": "j",
        "jobVersion": 2,
        "nodeName": "n1",
        "rolloutWave": 3,
        "desiredState": "Running",
        "incarnation": "abc",
    }
    assert body["spec"] == expected | ({"previousExecution": previous} if previous else {})
    assert body["metadata"]["name"] == "j-n1-v2"
    assert body["metadata"]["labels"] == build_labels("j", 2, "n1")
    assert body["metadata"]["labels"]["nodewave.io/version"] == "2"
    (owner,) = body["metadata"]["ownerReferences"]
    assert (owner["apiVersion"], owner["kind"], owner["name"], owner["uid"]) == (
        "nodewave.io/v1alpha1",
        "Job",
        "j",
        "job-uid",
    )


def test_a_stored_revision_reads_back_as_the_version_it_holds() -> None:
    data = {"type": "Query", "template": {"spec": {"x": 1}}, "config": {"k": "v"}}
    assert RevisionInfo("j-1", 1, "h", data).to_version() == VersionSpec(
        1, JobType.QUERY, {"spec": {"x": 1}}, {"k": "v"}, "j-1"
    )

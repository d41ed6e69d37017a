"""Template policy: host access only where the namespace's Pod Security level allows it (the
controls themselves: test_podsecurity.py), never the operator's account; and the planner
refuses such a version without touching what runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.job.planner import PlannerSettings, plan_job
from nodewave.core.job.podsecurity import Level, evaluate_pod_security
from nodewave.core.job.policy import (
    ALLOW_PRIVILEGED_LABEL,
    POD_SECURITY_LABEL,
    ServiceAccountRef,
    evaluate_template_policy,
)
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import CreateExecution
from nodewave.core.vocabulary.snapshot import VersionSpec
from nodewave.models.execution import ObservedState
from nodewave.models.job import JobStatus, JobType
from tests.unit.builders import at, execution, job_spec, node, pod, snapshot

OPT_IN = {ALLOW_PRIVILEGED_LABEL: "true"}
OPERATOR = ServiceAccountRef("nodewave-system", "nodewave")


def tpl(**spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "main", "image": "app:1"}], **spec}}


def fields(template: dict[str, Any]) -> list[str]:
    return [f for v in evaluate_pod_security(template, Level.BASELINE) for f in v.fields]


def privileged(kind: str = "containers") -> dict[str, Any]:
    t = tpl()
    t["spec"][kind] = [{"name": "x", "image": "a", "securityContext": {"privileged": True}}]
    return t


HOST = [
    (tpl(hostNetwork=True), ["spec.hostNetwork=true"]),
    (tpl(hostPID=True), ["spec.hostPID=true"]),
    (tpl(hostIPC=True), ["spec.hostIPC=true"]),
    (privileged(), ["spec.containers[0].securityContext.privileged=true"]),
    (privileged("initContainers"), ["spec.initContainers[0].securityContext.privileged=true"]),
    (
        privileged("ephemeralContainers"),
        ["spec.ephemeralContainers[0].securityContext.privileged=true"],
    ),
    (
        tpl(volumes=[{"name": "c", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}}]),
        ["spec.volumes[1].hostPath"],
    ),
    (tpl(hostNetwork=True, hostPID=True), ["spec.hostNetwork=true", "spec.hostPID=true"]),
]
HARMLESS = [
    tpl(),
    tpl(hostNetwork=False, hostPID=False),
    tpl(volumes=[{"name": "c", "configMap": {"name": "x"}}]),
    {
        "spec": {
            "containers": [{"name": "a", "image": "a", "securityContext": {"privileged": False}}]
        }
    },
    {},
]


@pytest.mark.parametrize(("template", "paths"), HOST)
def test_host_access_is_found_and_refused_unless_the_namespace_opts_in(
    template: dict[str, Any], paths: list[str]
) -> None:
    assert fields(template) == paths
    verdict = evaluate_template_policy(template, "tenant", {}, OPERATOR)
    assert verdict is not None
    assert verdict.reason == R.POD_SECURITY_VIOLATION
    assert all(p in verdict.message for p in paths)
    assert f"{POD_SECURITY_LABEL}=privileged" in verdict.message
    assert evaluate_template_policy(template, "tenant", OPT_IN, OPERATOR) is None
    # Only the literal opt-in counts.
    assert evaluate_template_policy(template, "tenant", {ALLOW_PRIVILEGED_LABEL: "yes"}, None)


@pytest.mark.parametrize("template", HARMLESS)
def test_harmless_templates_run_anywhere(template: dict[str, Any]) -> None:
    assert fields(template) == []
    assert evaluate_template_policy(template, "tenant", {}, OPERATOR) is None


@pytest.mark.parametrize(
    ("namespace", "account", "refused"),
    [
        ("nodewave-system", "nodewave", True),
        ("nodewave-system", None, False),  # runs as default
        ("nodewave-system", "other", False),
        ("tenant", "nodewave", False),  # a different account of the same name
    ],
)
def test_the_operators_own_account_is_never_lent(
    namespace: str, account: str | None, refused: bool
) -> None:
    t = tpl(serviceAccountName=account) if account else tpl()
    for labels in ({}, OPT_IN):
        verdict = evaluate_template_policy(t, namespace, labels, OPERATOR)
        assert (verdict is not None and verdict.reason == R.SERVICE_ACCOUNT_NOT_ALLOWED) is refused
    assert evaluate_template_policy(t, namespace, {}, None) is None


def test_refusals_say_what_to_do() -> None:
    verdict = evaluate_template_policy(
        tpl(serviceAccountName="nodewave"), "nodewave-system", {}, OPERATOR
    )
    assert verdict is not None
    assert verdict.message == (
        "the template runs as nodewave-system/nodewave, the operator's own ServiceAccount; "
        "give the Job a ServiceAccount of its own"
    )
    verdict = evaluate_template_policy(tpl(hostNetwork=True, hostPID=True), "tenant", {}, None)
    assert verdict is not None
    assert verdict.message == (
        "the template breaks Pod Security baseline (namespace tenant: the operator's default): "
        "Host Namespaces (spec.hostNetwork=true, spec.hostPID=true); "
        f"label the namespace {POD_SECURITY_LABEL}=privileged (or looser) to allow it"
    )


def test_the_deprecated_serviceAccount_field_and_the_default_account_count() -> None:
    deprecated = tpl(serviceAccount="nodewave")
    assert evaluate_template_policy(deprecated, "nodewave-system", {}, OPERATOR) is not None
    default_operator = ServiceAccountRef("tenant", "default")
    assert evaluate_template_policy(tpl(), "tenant", {}, default_operator) is not None


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("ns/sa", ServiceAccountRef("ns", "sa")),
        ("system:serviceaccount:ns:sa", ServiceAccountRef("ns", "sa")),
    ],
)
def test_service_account_refs_parse(text: str, ref: ServiceAccountRef) -> None:
    assert ServiceAccountRef.parse(text) == ref


@pytest.mark.parametrize("text", ["ns", "ns/", "/sa", "a/b/c", "system:serviceaccount:ns"])
def test_bad_service_account_refs_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="ServiceAccount"):
        ServiceAccountRef.parse(text)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "hostNetwork": st.booleans(),
            "hostPID": st.booleans(),
            "hostIPC": st.booleans(),
            "privileged": st.booleans(),
            "hostPath": st.booleans(),
        },
    )
)
def test_refused_exactly_when_some_host_access_is_asked_for(flags: dict[str, bool]) -> None:
    spec: dict[str, Any] = {
        k: v for k, v in flags.items() if k.startswith("host") and k != "hostPath"
    }
    container: dict[str, Any] = {"name": "main", "image": "a"}
    if "privileged" in flags:
        container["securityContext"] = {"privileged": flags["privileged"]}
    if flags.get("hostPath"):
        spec["volumes"] = [{"name": "h", "hostPath": {"path": "/var/log"}}]
    template = {"spec": {"containers": [container], **spec}}
    asks = any(flags.values())
    assert (evaluate_template_policy(template, "ns", {}, None) is not None) is asks
    assert evaluate_template_policy(template, "ns", OPT_IN, None) is None


def test_a_refused_version_leaves_what_runs_alone_and_says_why() -> None:
    nodes = [node("n1"), node("n2")]
    running = [
        execution(n.name, 1, state=ObservedState.RUNNING, started=1, stable=True) for n in nodes
    ]
    pods = [pod(e.name, node_name=e.spec.node_name) for e in running]
    base = snapshot(nodes, running, pods, current=2)
    snap = replace(base, current=VersionSpec(2, JobType.PIPELINE, tpl(hostNetwork=True), {}))
    plan = plan_job(snap, at(100), PlannerSettings())
    assert plan.actions == []
    conds = {c.type: (c.status, c.reason) for c in plan.status.conditions}
    assert conds[R.READY] == ("False", R.POD_SECURITY_VIOLATION)
    assert conds[R.STALLED] == ("True", R.POD_SECURITY_VIOLATION)
    assert conds[R.RECONCILING][0] == "False"
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", R.POD_SECURITY_VIOLATION)]
    assert plan.status_changed

    # Once recorded, the next pass neither rewrites the status nor repeats the Event.
    again = plan_job(replace(snap, job=replace(snap.job, status=plan.status)), at(130))
    assert not again.status_changed
    assert again.events == []

    # The namespace opts in: the version rolls out as any other would.
    allowed = plan_job(replace(snap, namespace_labels=OPT_IN), at(100))
    assert allowed.actions
    assert not any(c.reason == R.POD_SECURITY_VIOLATION for c in allowed.status.conditions)


def test_the_stable_version_is_still_kept_in_place_while_the_current_one_is_refused() -> None:
    stable = JobStatus(stable_version=1, current_version=1)
    running = [
        execution(n, 1, state=ObservedState.RUNNING, started=1, stable=True) for n in ("n1", "n2")
    ]
    pods = [pod(e.name, node_name=e.spec.node_name) for e in running]
    nodes = [node("n1"), node("n2"), node("n3")]  # n3 is new
    base = snapshot(nodes, running, pods, current=2, status=stable)
    snap = replace(base, current=VersionSpec(2, JobType.PIPELINE, privileged(), {}))
    plan = plan_job(snap, at(100))

    created = [a for a in plan.actions if isinstance(a, CreateExecution)]
    assert [(a.node, a.version) for a in created] == [("n3", 1)]
    assert all(getattr(a, "version", 1) == 1 for a in plan.actions)  # nothing of version 2
    assert plan.status.current_version == 1
    conds = {c.type: c for c in plan.status.conditions}
    assert (conds[R.READY].status, conds[R.READY].reason) == ("False", R.POD_SECURITY_VIOLATION)
    assert conds[R.STALLED].status == "True"
    assert conds[R.STALLED].message.startswith("version 2 is not rolled out: ")
    assert [(e.type, e.reason) for e in plan.events if e.type == "Warning"] == [
        ("Warning", R.POD_SECURITY_VIOLATION)
    ]
    assert [e.reason for e in plan.events] == [R.POD_SECURITY_VIOLATION], "no Ready Event"
    assert (plan.status.observed_generation, plan.status_changed, plan.status_significant) == (
        1, True, True,
    )  # fmt: skip
    assert {c.observed_generation for c in plan.status.conditions} == {1}
    again = plan_job(replace(snap, job=replace(snap.job, status=plan.status)), at(101))
    assert R.POD_SECURITY_VIOLATION not in [e.reason for e in again.events]
    assert R.READY not in [e.reason for e in again.events]
    assert (again.status_changed, again.status_significant) == (False, False)

    # The operator's own ServiceAccount in the stable version is no fallback either.
    sa = tpl(serviceAccountName="nodewave")
    own = replace(snap, versions={**snap.versions, 1: VersionSpec(1, JobType.PIPELINE, sa, {})})
    job_ns = PlannerSettings(operator_account=ServiceAccountRef("ns", "nodewave"))
    assert plan_job(own, at(100), job_ns).actions == []
    assert plan_job(own, at(100), PlannerSettings()).actions != []

    # A stable version that is itself refused (the namespace opted out) is no fallback.
    both = replace(
        snap, versions={**snap.versions, 1: VersionSpec(1, JobType.PIPELINE, privileged(), {})}
    )
    refused = plan_job(both, at(100))
    assert refused.actions == []
    stalled = next(c for c in refused.status.conditions if c.type == R.STALLED)
    assert stalled.message.startswith("the template breaks Pod Security baseline"), (
        "the current one's"
    )

    # The stable version is planned with the operator's settings (here its node-lost grace).
    lost = replace(snap, nodes={**snap.nodes, "n1": node("n1", ready=False, since=0)})
    short = PlannerSettings(node_lost_grace=timedelta(seconds=5))
    assert plan_job(lost, at(30), short).status.execution_counts.get("Lost") == 1
    assert plan_job(lost, at(30)).status.execution_counts.get("Lost") is None


def test_a_refusal_for_another_reason_or_message_is_announced_again() -> None:
    snap = snapshot([node("n1")], current=1)
    snap = replace(snap, current=VersionSpec(1, JobType.PIPELINE, tpl(hostNetwork=True), {}))
    first = plan_job(snap, at(0))
    shown = first.status.conditions

    def with_stalled(**kw: str) -> JobStatus:
        conds = [c.model_copy(update=kw) if c.type == R.STALLED else c for c in shown]
        return first.status.model_copy(update={"conditions": conds})

    for status in (with_stalled(message="another"), with_stalled(reason="Other"),
                   with_stalled(type="Other")):  # fmt: skip
        again = plan_job(replace(snap, job=replace(snap.job, status=status)), at(1))
        assert [e.reason for e in again.events] == [R.POD_SECURITY_VIOLATION]


def test_the_stable_versions_own_events_stay_but_not_its_ready() -> None:
    """A Query whose stable version has completed everywhere: its Complete Event is news, its
    Ready is not (the Job is not Ready: the current version is refused)."""
    query = job_spec(type="Query")
    done = [execution(n, 1, state=ObservedState.COMPLETED) for n in ("n1", "n2")]
    base = snapshot([node("n1"), node("n2")], done, spec=query, current=2,
                    status=JobStatus(stable_version=1, current_version=1))  # fmt: skip
    snap = replace(base, current=VersionSpec(2, JobType.QUERY, tpl(hostNetwork=True), {}))
    plan = plan_job(snap, at(100))
    assert [e.reason for e in plan.events] == [R.COMPLETE, R.POD_SECURITY_VIOLATION]

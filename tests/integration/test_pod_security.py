"""nodewave's Pod Security verdict equals the API server's own Pod Security admission, control by
control (issue 26): the real admission is the oracle. Each template becomes the very pod the
operator would create (`build_dry_run_pod`: its config volume, environment and node affinity
included), dry-run created in namespaces enforcing `baseline` and `restricted`; it must be
refused by the admission ("violates PodSecurity") exactly when nodewave refuses it at that
level. The table covers every control and its allowed values (tests/podsecurity_cases.py),
hypothesis adds random combinations of the fields that matter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nodewave.core.job.podsecurity import Level, evaluate_pod_security
from nodewave.core.vocabulary.snapshot import JobInfo, VersionSpec
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.kube.podcheck import build_dry_run_pod
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.models.job import JobSpec, JobStatus, JobType
from tests.podsecurity_cases import CASES, CONTAINER_CONTEXT, restricted_pod

LEVELS = (Level.BASELINE, Level.RESTRICTED)


class Admission:
    """Dry-run creates in one namespace per level, on one event loop for the whole test."""

    def __init__(self, cp: ControlPlane, prefix: str) -> None:
        self.cp = cp
        self.namespaces = {level: f"{prefix}-{level.value}" for level in LEVELS}
        for level, ns in self.namespaces.items():
            cp.kubectl("create", "namespace", ns)
            cp.kubectl(
                "label", "namespace", ns, f"pod-security.kubernetes.io/enforce={level.value}"
            )
        self.loop = asyncio.new_event_loop()
        self.kube = self.loop.run_until_complete(Kube.connect(8, config_file=str(cp.kubeconfig)))

    def close(self) -> None:
        self.loop.run_until_complete(self.kube.close())
        self.loop.close()
        for ns in self.namespaces.values():
            self.cp.kubectl("delete", "namespace", ns, "--wait=false")

    def refuses(self, template: dict[str, Any], level: Level) -> bool | str:
        """True: Pod Security refused the operator's pod; False: admitted; else the message
        of another refusal (the template is not a valid pod: a mistake of the test)."""
        ns = self.namespaces[level]
        spec = JobSpec.model_validate({"type": "Pipeline", "template": template})
        job = JobInfo(ns, "psa", "uid", 1, "1", spec, JobStatus())
        body = build_dry_run_pod(job, VersionSpec(1, JobType.PIPELINE, template, {}), "node-0")
        try:
            self.loop.run_until_complete(self.kube.request(
                "POST", path_of("pods", ns), body, query={"dryRun": "All"}
            ))  # fmt: skip
        except KubeError as e:
            return True if "violates PodSecurity" in e.message else e.message
        return False


@pytest.fixture(scope="module")
def admission(cluster: ControlPlane) -> Iterator[Admission]:
    a = Admission(cluster, "psa")
    yield a
    a.close()


def test_every_control_is_judged_as_the_api_server_judges_it(admission: Admission) -> None:
    differ = []
    for name, (template, _) in CASES.items():
        for level in LEVELS:
            ours = bool(evaluate_pod_security(template, level))
            theirs = admission.refuses(template, level)
            if theirs is not ours:
                differ.append(f"{name} at {level.value}: nodewave {ours}, API server {theirs}")
    assert differ == []


POD_CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "runAsNonRoot": st.booleans(),
        "runAsUser": st.sampled_from([0, 1000]),
        "seccompProfile": st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Unconfined"}]),
        "sysctls": st.sampled_from([[{"name": "net.ipv4.tcp_syncookies", "value": "1"}],
                                    [{"name": "kernel.msgmax", "value": "65536"}]]),
    },
)  # fmt: skip
VOLUMES = st.lists(
    st.sampled_from([{"emptyDir": {}}, {"hostPath": {"path": "/tmp"}}, {"nfs": {"server": "s", "path": "/"}}]),
    max_size=2,
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    containers=st.lists(CONTAINER_CONTEXT, min_size=1, max_size=2),
    pod=POD_CONTEXT,
    volumes=VOLUMES,
    host=st.fixed_dictionaries({}, optional={"hostPID": st.booleans(), "hostIPC": st.booleans()}),
    host_port=st.sampled_from([None, 0, 8080]),
)
def test_random_pods_are_judged_as_the_api_server_judges_them(
    admission: Admission,
    containers: list[dict[str, Any]],
    pod: dict[str, Any],
    volumes: list[dict[str, Any]],
    host: dict[str, bool],
    host_port: int | None,
) -> None:
    template = restricted_pod(securityContext=pod, **host)
    template["spec"]["containers"] = [
        {"name": f"c{i}", "image": "registry.example/agent:1", "securityContext": ctx}
        for i, ctx in enumerate(containers)
    ]
    if host_port is not None:
        template["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    template["spec"]["volumes"] = [{"name": f"v{i}", **v} for i, v in enumerate(volumes)]
    for level in LEVELS:
        theirs = admission.refuses(template, level)
        assume(isinstance(theirs, bool))  # a combination pod validation refuses first
        assert theirs is bool(evaluate_pod_security(template, level)), (level, template)

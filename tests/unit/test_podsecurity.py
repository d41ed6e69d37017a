"""The Pod Security Standards in the pure core (core/job/podsecurity.py) and how a namespace's level
is found (core/job/policy.py). The API server's own admission holds the same table in
tests/integration/test_pod_security.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodewave.core.job.podsecurity import CHECKS, Level, Violation, evaluate_pod_security
from nodewave.core.job.policy import (
    ALLOW_PRIVILEGED_LABEL,
    POD_SECURITY_LABEL,
    PSA_ENFORCE_LABEL,
    evaluate_namespace_level,
)
from tests.podsecurity_cases import CASES, CONTAINER_CONTEXT, restricted_pod, with_context

P, B, R = Level.PRIVILEGED, Level.BASELINE, Level.RESTRICTED


@pytest.mark.parametrize("name", list(CASES))
def test_each_control_is_refused_by_the_levels_that_have_it(name: str) -> None:
    template, refused_by = CASES[name]
    assert evaluate_pod_security(template, P) == []
    for level in (B, R):
        assert bool(evaluate_pod_security(template, level)) is (level.value in refused_by), level


def test_every_control_is_exercised_by_some_case() -> None:
    controls = {v.control for t, _ in CASES.values() for v in evaluate_pod_security(t, R)}
    assert controls == {control for _, control, _ in CHECKS}


@pytest.mark.parametrize(
    ("template", "level", "violations"),
    [
        (with_context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN", "CHOWN"]}), B,
         [Violation("Capabilities", ("spec.containers[0].securityContext.capabilities.add=SYS_ADMIN",))]),
        (with_context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN", "CHOWN"]}), R,
         [Violation("Capabilities", ("spec.containers[0].securityContext.capabilities.add=SYS_ADMIN",)),
          Violation("Capabilities (restricted)", (
              "spec.containers[0].securityContext.capabilities.add=SYS_ADMIN",
              "spec.containers[0].securityContext.capabilities.add=CHOWN"))]),
        (CASES["hostPort"][0], B,
         [Violation("Host Ports", ("spec.containers[0].ports[0].hostPort=8080",))]),
        (CASES["probe host"][0], B, [Violation("Host Probes / Lifecycle Hooks", (
            "spec.containers[0].readinessProbe.httpGet.host=169.254.169.254",))]),
        (CASES["unsafe sysctl"][0], B,
         [Violation("Sysctls", ("spec.securityContext.sysctls[0].name=kernel.msgmax",))]),
        (CASES["seccomp unset"][0], R, [Violation("Seccomp (restricted)", (
            "spec.containers[0].securityContext.seccompProfile.type unset (nor at the pod)",))]),
        (CASES["runAsNonRoot false at pod level"][0], R,
         [Violation("Running as Non-root", ("spec.securityContext.runAsNonRoot=False",))]),
        (CASES["nfs volume"][0], R, [Violation("Volume Types", ("spec.volumes[0]=nfs",))]),
        (CASES["selinux role"][0], B, [Violation("SELinux", (
            "spec.containers[0].securityContext.seLinuxOptions.role=sysadm_r",))]),
        (CASES["apparmor annotation unconfined"][0], B, [Violation("AppArmor", (
            "metadata.annotations[container.apparmor.security.beta.kubernetes.io/main]=unconfined",))]),
        (CASES["privileged init"][0], B, [Violation("Privileged Containers", (
            "spec.initContainers[0].securityContext.privileged=true",))]),
    ],
)  # fmt: skip
def test_violations_name_the_control_and_each_field(
    template: dict[str, Any], level: Level, violations: list[Violation]
) -> None:
    assert evaluate_pod_security(template, level) == violations


def test_a_violation_reads_as_its_control_and_fields() -> None:
    v = Violation("Host Namespaces", ("spec.hostNetwork=true", "spec.hostPID=true"))
    assert v.describe() == "Host Namespaces (spec.hostNetwork=true, spec.hostPID=true)"


@pytest.mark.parametrize(
    ("labels", "default", "level", "source"),
    [
        ({}, B, B, "the operator's default"),
        ({}, R, R, "the operator's default"),
        ({POD_SECURITY_LABEL: "privileged"}, B, P, f"{POD_SECURITY_LABEL}=privileged"),
        ({POD_SECURITY_LABEL: "baseline"}, R, B, f"{POD_SECURITY_LABEL}=baseline"),
        ({ALLOW_PRIVILEGED_LABEL: "true"}, B, P, f"{ALLOW_PRIVILEGED_LABEL}=true"),
        ({ALLOW_PRIVILEGED_LABEL: "yes"}, B, B, "the operator's default"),
        # The newer label wins over the older opt-in.
        ({ALLOW_PRIVILEGED_LABEL: "true", POD_SECURITY_LABEL: "baseline"}, B, B,
         f"{POD_SECURITY_LABEL}=baseline"),
        # A typo never opens the fleet.
        ({POD_SECURITY_LABEL: "privilegd"}, B, R, f"{POD_SECURITY_LABEL}=privilegd (no such level)"),
        # Never looser than what the namespace enforces itself.
        ({POD_SECURITY_LABEL: "privileged", PSA_ENFORCE_LABEL: "baseline"}, B, B,
         f"{PSA_ENFORCE_LABEL}=baseline"),
        ({PSA_ENFORCE_LABEL: "restricted"}, B, R, f"{PSA_ENFORCE_LABEL}=restricted"),
        ({PSA_ENFORCE_LABEL: "privileged"}, B, B, "the operator's default"),
        ({PSA_ENFORCE_LABEL: "bogus"}, B, B, "the operator's default"),
    ],
)  # fmt: skip
def test_a_namespace_level(
    labels: dict[str, str], default: Level, level: Level, source: str
) -> None:
    assert evaluate_namespace_level(labels, default) == (level, source)


@settings(max_examples=300)
@given(CONTAINER_CONTEXT, st.booleans())
def test_restricted_refuses_whatever_baseline_refuses(ctx: dict[str, Any], host: bool) -> None:
    template = restricted_pod(hostNetwork=host)
    template["spec"]["containers"][0]["securityContext"] = ctx
    baseline = {v.control for v in evaluate_pod_security(template, B)}
    restricted = {v.control for v in evaluate_pod_security(template, R)}
    assert baseline <= restricted


def test_ephemeral_containers_are_held_to_the_level_too() -> None:
    template = restricted_pod(ephemeralContainers=[{"name": "debug", "image": "x"}])
    assert evaluate_pod_security(template, B) == []
    assert [v.control for v in evaluate_pod_security(template, R)] == [
        "Privilege Escalation", "Running as Non-root", "Seccomp (restricted)",
        "Capabilities (restricted)",
    ]  # fmt: skip

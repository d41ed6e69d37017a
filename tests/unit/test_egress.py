"""core/operator/egress.py: which destinations a Job's webhook calls and Prometheus queries may reach,
one row per rule; kube/outbound.py: the policy applied to what is really connected to."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.operator.egress import (
    DEFAULT_ALLOWED,
    EgressError,
    build_egress_policy,
    evaluate_destination,
)
from nodewave.kube.outbound import (
    EgressRefused,
    Outbound,
    PolicyResolver,
    build_operator_egress,
    evaluate_url,
)

DEFAULT = build_egress_policy()
PLATFORM = build_egress_policy(
    allowed=("0.0.0.0/0", "::/0", "10.96.5.5/32"),
    denied=("169.254.0.0/16", "127.0.0.0/8", "10.0.0.0/8", "fd00::/8"),
    endpoints_denied=[("10.96.0.1", 443)],
)
ONLY = build_egress_policy(allowed=("0.0.0.0/0", "203.0.113.0/24"), denied=("0.0.0.0/0",))


@pytest.mark.parametrize(
    ("policy", "host", "port", "why"),
    [
        (DEFAULT, "203.0.113.7", 443, None),
        (DEFAULT, "2001:db8::1", 443, None),
        (DEFAULT, "169.254.169.254", 80, "169.254.169.254 is in the denied network 169.254.0.0/16"),
        (
            DEFAULT,
            "::ffff:169.254.169.254",
            80,
            "169.254.169.254 is in the denied network 169.254.0.0/16",
        ),
        (DEFAULT, "fd00:ec2::254", 80, "fd00:ec2::254 is in the denied network fd00:ec2::254/128"),
        (DEFAULT, "fe80::1%eth0", 80, "fe80::1 is in the denied network fe80::/10"),
        (DEFAULT, "127.0.0.1", 8000, "127.0.0.1 is in the denied network 127.0.0.0/8"),
        (DEFAULT, "::1", 8000, "::1 is in the denied network ::1/128"),
        (DEFAULT, "0.0.0.0", 8000, "0.0.0.0 is in the denied network 0.0.0.0/8"),
        (DEFAULT, "example.org", 80, "example.org is not an address"),
        # The most specific network decides: one Prometheus inside a denied pod network.
        (PLATFORM, "10.96.5.5", 9090, None),
        (PLATFORM, "10.96.5.6", 9090, "10.96.5.6 is in the denied network 10.0.0.0/8"),
        (PLATFORM, "10.96.0.1", 443, "10.96.0.1:443 is the API server's"),
        (PLATFORM, "10.96.0.1", 80, "10.96.0.1 is in the denied network 10.0.0.0/8"),
        (PLATFORM, "fd00::5", 80, "fd00::5 is in the denied network fd00::/8"),
        # A tie denies: deny everything, allow a few.
        (ONLY, "203.0.113.9", 443, None),
        (ONLY, "198.51.100.1", 443, "198.51.100.1 is in the denied network 0.0.0.0/0"),
        (ONLY, "2001:db8::1", 443, "2001:db8::1 is in no allowed network"),
    ],
)
def test_destinations(policy: Any, host: str, port: int, why: str | None) -> None:
    assert evaluate_destination(policy, host, port) == why


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_is_judged_the_same_when_written_ipv4_mapped(address: Any) -> None:
    mapped = f"::ffff:{address}"
    for policy in (DEFAULT, PLATFORM, ONLY):
        plain = evaluate_destination(policy, str(address), 80)
        assert (evaluate_destination(policy, mapped, 80) is None) is (plain is None)


def test_a_bad_network_is_named() -> None:
    with pytest.raises(EgressError, match="not a network"):
        build_egress_policy(denied=("10.0.0.0/33",))


def test_a_network_written_with_host_bits_means_its_network() -> None:
    """`10.1.2.3/8` in a values file is 10.0.0.0/8 (as iptables reads it), not an error that
    would keep the operator from starting."""
    policy = build_egress_policy(denied=("10.1.2.3/8",))
    assert evaluate_destination(policy, "10.200.0.1", 443) == (
        "10.200.0.1 is in the denied network 10.0.0.0/8"
    )


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://169.254.169.254/latest", True),
        ("http://[::ffff:169.254.169.254]/", True),
        ("http://127.0.0.1:8000/metrics", True),
        ("https://203.0.113.7/hook", False),
        ("https://metadata.google.internal/", False),  # a name: judged once resolved
    ],
)
def test_an_address_in_the_url_is_judged_before_anything_is_sent(url: str, refused: bool) -> None:
    assert (evaluate_url(DEFAULT, url) is not None) is refused


class FakeResolver(AbstractResolver):
    """A name server that answers what the test says (a rebinding one, say)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
                for a in self.answers[host]]  # fmt: skip

    async def close(self) -> None:
        pass


def test_only_the_addresses_the_policy_allows_are_handed_to_the_connection() -> None:
    resolver = PolicyResolver(DEFAULT, FakeResolver({
        "mixed.example": ["169.254.169.254", "203.0.113.7"],
        "metadata.example": ["169.254.169.254", "::ffff:169.254.169.254"],
    }))  # fmt: skip
    kept = asyncio.run(resolver.resolve("mixed.example", 80))
    assert [r["host"] for r in kept] == ["203.0.113.7"]
    with pytest.raises(EgressRefused) as refused:
        asyncio.run(resolver.resolve("metadata.example", 80))
    assert str(refused.value) == (
        "refused by the operator's egress policy: metadata.example resolves to "
        "169.254.169.254 is in the denied network 169.254.0.0/16"
    )


def test_a_name_resolving_to_a_denied_address_sends_nothing() -> None:
    """Through the whole Outbound: the call fails with EgressRefused before any connection."""
    outbound = Outbound(policy=DEFAULT, resolver=FakeResolver({"rebind.example": ["127.0.0.1"]}))

    async def call() -> None:
        try:
            await outbound.request(("ns", "j"), "POST", "http://rebind.example:8000/x",
                                   limit_seconds=2, max_bytes=100)  # fmt: skip
        finally:
            await outbound.close()

    with pytest.raises(
        EgressRefused, match=re.escape("rebind.example resolves to 127.0.0.1 is in the denied")
    ):
        asyncio.run(call())
    with pytest.raises(EgressRefused, match=re.escape("169.254.169.254 is in the denied network")):
        asyncio.run(Outbound(policy=DEFAULT).request(
            ("ns", "j"), "GET", "http://169.254.169.254/", limit_seconds=2, max_bytes=100))  # fmt: skip


def test_the_api_servers_endpoint_is_denied_as_the_operator_reaches_it() -> None:
    policy = asyncio.run(
        build_operator_egress(DEFAULT_ALLOWED, (), "https://10.96.0.1", "10.1.2.3")
    )
    assert evaluate_destination(policy, "10.96.0.1", 443) == "10.96.0.1:443 is the API server's"
    assert evaluate_destination(policy, "10.96.0.1", 80) is None  # another port of that address
    assert evaluate_destination(policy, "10.1.2.3", 9090) == (
        "10.1.2.3 is in the denied network 10.1.2.3/32"  # the operator's own pod
    )
    named = asyncio.run(build_operator_egress(DEFAULT_ALLOWED, (), "https://localhost:6443", None))
    assert evaluate_destination(named, "127.0.0.1", 6443) == "127.0.0.1:6443 is the API server's"
    # A name that does not resolve (DNS down at start-up) does not stop the operator.
    unknown = "https://no-such-host.invalid:6443"
    assert (
        asyncio.run(build_operator_egress(DEFAULT_ALLOWED, (), unknown, None)).endpoints_denied
        == frozenset()
    )

"""Where the operator may send a Job's webhook calls and Prometheus queries (docs/design.md
§3.12).

A Job's author names the URLs, and the operator calls them from inside the cluster with its own
network position: without a policy, a tenant reads what only the operator can reach (the cloud's
metadata service at 169.254.169.254 and its credentials, the operator's own metrics and health
ports on loopback, the API server, another tenant's in-cluster Prometheus) — a webhook's reply
text even lands in the Job's status.

The policy is two lists of networks. An address is judged by the most specific network naming
it (the longest prefix), a tie going to `denied`: so a denied 10.0.0.0/8 with an allowed
10.96.5.5/32 inside lets that one Prometheus through, and an address in no list is refused. The
defaults allow everything but link-local (the metadata services), loopback and the unspecified
address; the API server's own endpoints are denied whatever the lists say (see
`Destination`). The addresses judged are those a name resolved to, and only the approved ones
are connected to (kube/outbound.py), so a name that resolves to an allowed address for the
check and a denied one for the connection (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_ALLOWED = ("0.0.0.0/0", "::/0")
DEFAULT_DENIED = (
    "169.254.0.0/16",  # IPv4 link-local: cloud metadata services, the node's link
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS's IPv6 metadata service
    "127.0.0.0/8",  # the operator's own pod: its metrics and health ports
    "::1/128",
    "0.0.0.0/8",  # "this host": connecting to 0.0.0.0 reaches loopback on Linux
    "::/128",
)


class EgressError(ValueError):
    """A policy that cannot be read (a flag or chart value that is no network)."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    allowed: tuple[IPNetwork, ...]
    denied: tuple[IPNetwork, ...]
    endpoints_denied: frozenset[tuple[IPAddress, int]] = frozenset()
    """Address and port pairs refused whatever the lists say: the API server's own."""


def build_egress_policy(
    allowed: Iterable[str] = DEFAULT_ALLOWED,
    denied: Iterable[str] = DEFAULT_DENIED,
    endpoints_denied: Iterable[tuple[str, int]] = (),
) -> EgressPolicy:
    """The policy from CIDRs (a bare address is a /32 or /128); EgressError naming a bad one."""

    def networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
        try:
            # An interface's network: 10.1.2.3/8 means 10.0.0.0/8, as iptables reads it.
            return tuple(ipaddress.ip_interface(v.strip()).network for v in values)
        except ValueError as e:
            raise EgressError(f"not a network (CIDR): {e}") from e

    return EgressPolicy(
        networks(allowed),
        networks(denied),
        frozenset((parse_address(host), port) for host, port in endpoints_denied),
    )


def parse_address(text: str) -> IPAddress:
    """The address, an IPv4-mapped IPv6 one as the IPv4 it is (::ffff:169.254.169.254 is the
    metadata service), an IPv6 zone dropped; ValueError when it is none."""
    address = ipaddress.ip_address(text.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def evaluate_destination(policy: EgressPolicy, host: str, port: int) -> str | None:
    """None when the operator may connect to `host` (an address) on `port`, else why not."""
    try:
        address = parse_address(host)
    except ValueError:
        return f"{host} is not an address"
    if (address, port) in policy.endpoints_denied:
        return f"{address}:{port} is the API server's"
    # (prefix length, whether it denies, the network) of each network holding the address:
    # the longest prefix decides, and at equal length a denial.
    holding = [
        (net.prefixlen, denies, net)
        for denies, networks in ((False, policy.allowed), (True, policy.denied))
        for net in networks
        if address.version == net.version and address in net
    ]
    if not holding:
        return f"{address} is in no allowed network"
    _, denies, net = max(holding, key=lambda h: (h[0], h[1]))
    return f"{address} is in the denied network {net}" if denies else None

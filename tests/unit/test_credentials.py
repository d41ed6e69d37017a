"""core/operator/credentials.py: a Secret's credentials go only where its own annotation says,
whatever address the Job names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.operator.credentials import build_origin, evaluate_credentials_destination

NO_ANNOTATION = "it has no annotation nodewave.io/allowed-addresses listing where it may be sent"


def not_plain(url: str) -> str:
    return f"{url} is not a plain http(s) address (no . or .. segments, %, \\, ;, ? or #)"


@pytest.mark.parametrize(
    ("allowed", "url", "why"),
    [
        ("https://prom.monitoring:9090", "https://prom.monitoring:9090", None),
        ("https://prom.monitoring:9090", "https://PROM.monitoring:9090/", None),
        ("https://prom.example", "https://prom.example:443", None),  # the default port
        ("http://prom.example", "http://prom.example:80/", None),
        # Either of several, comma- or space-separated.
        ("https://a.example, https://b.example", "https://b.example", None),
        ("https://a.example https://b.example", "https://b.example", None),
        # Under a path: the path and anything below it, not a sibling.
        ("https://grafana.example/api/prom", "https://grafana.example/api/prom", None),
        ("https://grafana.example/api/prom", "https://grafana.example/api/prom/x", None),
        (
            "https://grafana.example/api/prom",
            "https://grafana.example/api/prometheus",
            "its annotation nodewave.io/allowed-addresses does not list "
            "https://grafana.example/api/prometheus",
        ),
        (
            "https://grafana.example/api/prom",
            "https://grafana.example/api/prom/../../admin",
            not_plain("https://grafana.example/api/prom/../../admin"),
        ),
        (
            "https://grafana.example/api/prom",
            "https://grafana.example/api/prom/%2e%2e/admin",
            not_plain("https://grafana.example/api/prom/%2e%2e/admin"),
        ),
        # Paths a proxy on the way may resolve otherwise than written (a review's finds).
        *(
            ("https://h/prom/", f"https://h/prom/{tail}", not_plain(f"https://h/prom/{tail}"))
            for tail in ("..%2fx", "..\\x", "..;/x", "%252e%252e/x", "x?y", "x#y", "x/./y")
        ),
        # Another scheme, host or port is another server.
        (
            "https://prom.example",
            "http://prom.example",
            "its annotation nodewave.io/allowed-addresses does not list http://prom.example",
        ),
        (
            "https://prom.example",
            "https://prom.example:8443",
            "its annotation nodewave.io/allowed-addresses does not list https://prom.example:8443",
        ),
        (
            "https://prom.example",
            "https://prom.example.attacker.test",
            "its annotation nodewave.io/allowed-addresses does not list "
            "https://prom.example.attacker.test",
        ),
        (
            "https://prom.example",
            "https://prom.example@attacker.test",
            not_plain("https://prom.example@attacker.test"),
        ),
        # No annotation, an empty one, or entries that are not URLs: nothing is sent.
        (None, "https://prom.example", NO_ANNOTATION),
        ("  ", "https://prom.example", NO_ANNOTATION),
        (
            "prom.example *",
            "https://prom.example",
            "its annotation nodewave.io/allowed-addresses does not list https://prom.example",
        ),
    ],
)
def test_credentials_go_only_where_the_secret_says(
    allowed: str | None, url: str, why: str | None
) -> None:
    assert evaluate_credentials_destination(allowed, url) == why


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Prom.Example", ("https", "prom.example", 443, "/")),
        ("http://[::1]:9090/x", ("http", "::1", 9090, "/x/")),
        ("ftp://prom.example", None),
        ("https://prom.example:99999", None),
        ("https://user@prom.example", None),
        ("prom.example", None),
    ],
)
def test_build_origin(url: str, origin: tuple[str, str, int, str] | None) -> None:
    assert build_origin(url) == origin


@given(st.text(max_size=40), st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True))
def test_a_url_is_never_allowed_by_an_annotation_of_another_host(path: str, host: str) -> None:
    url = "https://prom.example/" + path
    assert evaluate_credentials_destination(f"https://{host}.test", url) is not None

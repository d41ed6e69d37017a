"""The `Job` resource: what a user applies.

A Job says what runs (`template`, `config`, `type`), where (`selector`) and how a new version
replaces the old one (`rollout`). Its field names map the seed API's snake_case to Kubernetes
conventions (camelCase, integer `...Seconds`, CamelCase enums); see docs/design.md §1.

Every cross-field constraint is a CEL rule on the model that owns both fields, so the API
server refuses a bad manifest at `kubectl apply` with a message naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.config import JsonDict

from nodewave.models.base import (
    MAX_LABEL_VALUE,
    MAX_NAME,
    MAX_SELECTOR_TERMS,
    PRESERVE_UNKNOWN,
    RESERVED_PREFIX,
    ApiModel,
    Condition,
    cel,
    string_schema,
    validations,
)
from nodewave.models.selector_syntax import EXPRESSION_FORMS, LABEL_KEY, LABEL_VALUE, NODE_NAME


class JobType(StrEnum):
    """What kind of workload a Job runs; it sets the default restart policy and whether executions finish."""

    PIPELINE = "Pipeline"
    QUERY = "Query"
    UPDATE = "Update"
    CONFIG = "Config"

    @property
    def runs_to_completion(self) -> bool:
        return self is not JobType.PIPELINE


class RestartPolicy(StrEnum):
    ON_FAILURE = "OnFailure"
    ALWAYS = "Always"
    NEVER = "Never"


class Strategy(StrEnum):
    IMMEDIATE = "Immediate"
    ROLLING = "Rolling"
    CANARY = "Canary"


class NodeFailurePolicy(StrEnum):
    KEEP = "Keep"
    REVERT = "Revert"


def _regex_any(var: str, patterns: tuple[str, ...]) -> str:
    return " || ".join(f"{var}.matches(r'{p}')" for p in patterns)


class Selector(ApiModel):
    """Which nodes run the Job. All given terms must match (AND). Empty selects every node."""

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_SELECTOR_TERMS,
        json_schema_extra={
            "additionalProperties": string_schema(MAX_LABEL_VALUE),
            **validations(
                cel(
                    f"self.all(k, k.size() <= {MAX_NAME} && k.matches(r'^{LABEL_KEY}$') "
                    f"&& self[k].size() <= {MAX_LABEL_VALUE} && self[k].matches(r'^{LABEL_VALUE}$'))",
                    "matchLabels keys must be label keys (optional DNS prefix/ and a name of up to "
                    "63 characters) and values label values (empty or up to 63 characters)",
                )
            ),
        },
    )
    """Labels a node must carry with exactly these values, e.g. {"region": "eu-west"}."""

    match_expressions: list[str] = Field(
        default_factory=list,
        max_length=MAX_SELECTOR_TERMS,
        json_schema_extra={
            "items": string_schema(2 * MAX_NAME),
            **validations(
                cel(
                    f"self.all(e, {_regex_any('e', EXPRESSION_FORMS)})",
                    "each matchExpressions entry must be one of: key=value, key==value, "
                    "key!=value, key in (v1,v2), key notin (v1,v2), key, !key",
                )
            ),
        },
    )
    """Label selector strings, all of which must match: `key=value`, `key==value`,
    `key!=value` (also matches nodes without the key), `key in (a,b)`, `key notin (a,b)`,
    `key` (has the label) and `!key` (lacks it)."""

    match_names: list[str] = Field(
        default_factory=list,
        max_length=1000,
        json_schema_extra={
            "items": {"type": "string", "maxLength": MAX_NAME, "pattern": NODE_NAME}
        },
    )
    """Node names; when given, only these nodes are candidates."""


class Baseline(ApiModel):
    """Judge each node against itself: before a node moves, its own error rate on the version
    it ran is averaged over the lookback; a window is healthy when the node's rate is at most
    that baseline plus maxIncrease. A node with no baseline sample is judged by maxErrorRate
    (its execution's status says so)."""

    lookback_seconds: int = Field(ge=10, le=7 * 24 * 3600)
    """How far back the node's rate on its previous version is averaged, up to the moment it
    moved."""
    max_increase: float = Field(ge=0.0, le=1.0)
    """How far above its baseline a node's error rate may go in a healthy window."""


class SecretKeyRef(ApiModel):
    """A key of a Secret in the Job's namespace."""

    name: str = Field(max_length=MAX_NAME, pattern=NODE_NAME)
    """The Secret's name. The operator may read only the Secret names its chart allows
    (values webhooks.secretNames, default nodewave-webhooks, and healthChecks.secretNames,
    default nodewave-prometheus)."""
    key: str = Field(max_length=MAX_NAME, pattern=r"^[-._a-zA-Z0-9]+$")
    """The key whose value is used (a signing key, a CA bundle, a token)."""


HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
"""An HTTP field name (RFC 9110's token)."""

RESERVED_HEADERS = (
    "authorization", "host", "content-length", "content-type", "transfer-encoding",
    "connection", "cookie", "proxy-authorization", "te", "upgrade",
)  # fmt: skip
"""Header names a Job may not set: the operator writes them (authorization, basicAuth) or
they frame the request itself."""

ALLOWED_ADDRESSES = "nodewave.io/allowed-addresses"
"""The annotation of a Secret listing the addresses its credentials may be sent to: the
Secret's author, not the Job's, says where a token goes (docs/security.md)."""


HEADER_VALUE = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"
"""A field value: no control character but tab (RFC 9110; aiohttp refuses them too)."""


class HeaderSource(ApiModel):
    secret_key_ref: SecretKeyRef
    """A key of a Secret of the names the chart allows (healthChecks.secretNames) whose
    annotation nodewave.io/allowed-addresses lists the address, as for credentials."""


class HttpHeader(ApiModel):
    """One header sent with every request, e.g. X-Scope-OrgID for Cortex, Mimir and Thanos'
    tenancy: a `value`, or `valueFrom` a Secret. With authorization or basicAuth every header
    comes from a Secret: a shared token's tenant is its Secret's writer's to set, not the
    Job's (else team-a's Job could read team-b's series with it)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.value) != has(self.valueFrom)", "give one of value and valueFrom")
        )
    )

    name: str = Field(max_length=64, pattern=HEADER_NAME)
    value: str | None = Field(default=None, max_length=1024, pattern=HEADER_VALUE)
    value_from: HeaderSource | None = None


class Authorization(ApiModel):
    """The Authorization header `<type> <credentials>`, the credentials read from a Secret (as
    the Prometheus Operator's `authorization`)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.type.lowerAscii() != 'basic'",
                "use basicAuth for Basic credentials",
                ".type",
            )
        )
    )

    type: str = Field(default="Bearer", max_length=32, pattern=HEADER_NAME)
    """The scheme, e.g. Bearer."""
    credentials: SecretKeyRef
    """The token. The Secret must list the address in its annotation
    nodewave.io/allowed-addresses, or nothing is sent."""


class BasicAuth(ApiModel):
    """HTTP Basic credentials (Grafana Cloud, a Prometheus with web.config basic_auth_users),
    read from Secrets that list the address in their annotation nodewave.io/allowed-addresses."""

    username: SecretKeyRef
    password: SecretKeyRef


class HttpEndpoint(ApiModel):
    """Where an HTTP API is and how to talk to it: its address, the credentials from Secrets,
    the CA that signed its certificate, extra headers."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.authorization) || !has(self.basicAuth)",
                "authorization and basicAuth are mutually exclusive",
                ".basicAuth",
            ),
            cel(
                "!has(self.caSecretRef) || self.address.startsWith('https://')",
                "caSecretRef verifies an https:// address' certificate",
                ".caSecretRef",
            ),
            cel(
                "!has(self.headers) || self.headers.all(h, !(h.name.lowerAscii() in "
                + repr(list(RESERVED_HEADERS)).replace('"', "'")
                + "))",
                "headers may not set "
                + ", ".join(RESERVED_HEADERS)
                + ": credentials come from authorization or basicAuth",
                ".headers",
            ),
            cel(
                "!has(self.headers) || self.headers.all(h, self.headers.exists_one("
                "o, o.name.lowerAscii() == h.name.lowerAscii()))",
                "header names must be unique, whatever their case",
                ".headers",
            ),
            cel(
                "!(has(self.authorization) || has(self.basicAuth)) || !has(self.headers) || "
                "self.headers.all(h, has(h.valueFrom))",
                "with authorization or basicAuth, headers take valueFrom.secretKeyRef: the "
                "Secret's writer, not the Job's, sets a shared credential's tenant",
                ".headers",
            ),
        )
    )

    address: str = Field(max_length=2048, pattern=r"^https?://[^\s]+$")
    authorization: Authorization | None = None
    """Credentials sent as the Authorization header, e.g. a bearer token."""
    basic_auth: BasicAuth | None = None
    """HTTP Basic credentials."""
    ca_secret_ref: SecretKeyRef | None = None
    """The CA bundle (PEM) that signed an https:// address' certificate (a private CA);
    without it, the system's CAs."""
    headers: list[HttpHeader] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Extra headers, e.g. X-Scope-OrgID: team-a."""
    timeout_seconds: int = Field(default=5, ge=1, le=60)
    """How long one request may take."""


class PrometheusCheck(HttpEndpoint):
    """An error rate from Prometheus, read when each health window closes."""

    address: str = Field(max_length=2048, pattern=r"^https?://[^\s]+$")
    """Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090 (or
    Thanos', Mimir's: anything that answers /api/v1/query)."""
    query: str = Field(min_length=1, max_length=4096)
    """PromQL giving this execution's error rate in [0, 1] as a scalar or a one-sample vector.
    $node, $execution, $job, $namespace and $version are replaced by the execution's values,
    e.g. sum(rate(http_errors_total{node="$node"}[1m])) / sum(rate(http_requests_total{node="$node"}[1m])).
    A query that fails or returns no sample makes its window unhealthy (never silently healthy)."""
    baseline: Baseline | None = None
    """Judge each node's rate against its own rate before it moved, not a fixed maxErrorRate."""


class AlertAction(StrEnum):
    PAUSE = "Pause"
    ROLLBACK = "Rollback"


class AlertSource(StrEnum):
    PROMETHEUS = "Prometheus"
    ALERTMANAGER = "Alertmanager"


ALERT_MATCHER = r'^[a-zA-Z_][a-zA-Z0-9_]*(=|!=|=~|!~)"([^"\\]|\\.)*"$'
"""`name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`: Prometheus' and
Alertmanager's matcher syntax; the value is always a double-quoted string, so a matcher cannot
reach past itself in the query it is put into."""


class AlertCheck(HttpEndpoint):
    """Active alerts that gate the rollout, from Prometheus (`ALERTS`) or Alertmanager (active,
    not silenced nor inhibited), as kured's alert filter and AppConfig's alarm rollback."""

    address: str = Field(max_length=2048, pattern=r"^https?://[^\s]+$")
    """Base URL of the Prometheus or Alertmanager HTTP API, e.g. http://alertmanager.monitoring:9093."""
    api: AlertSource = AlertSource.PROMETHEUS
    """Prometheus: firing series of ALERTS; Alertmanager: its /api/v2/alerts."""
    matchers: list[Annotated[str, Field(max_length=512, pattern=ALERT_MATCHER)]] = Field(
        min_length=1, max_length=16
    )
    """Label matchers an alert must all match to count, e.g. severity="critical",
    alertname=~"Node.*|KubeletDown" (regular expressions are evaluated by the server, RE2)."""
    action: AlertAction = AlertAction.PAUSE
    """Pause: while a matching alert fires no wave starts and the bake does not end. Rollback:
    a matching alert firing while the rollout is in flight or bakes fails it (and rolls it
    back, with autoRollback). Alerts that cannot be read hold the next wave in both."""
    interval_seconds: int = Field(default=30, ge=5, le=3600)
    """How often the alerts are read while the rollout is in flight."""


class HealthCheck(ApiModel):
    """Health-check windows that gate a rollout: each window of `intervalSeconds` is sampled
    for pod readiness and container restarts; its error rate is the unhealthy share."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.deadlineSeconds) || "
                "self.deadlineSeconds >= self.intervalSeconds * self.successThreshold",
                "deadlineSeconds must leave room for successThreshold windows of intervalSeconds",
                ".deadlineSeconds",
            )
        )
    )

    deadline_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    """How long an execution may take to become healthy before it counts as failed.
    Required for the Rolling and Canary strategies."""
    interval_seconds: int = Field(default=10, ge=1, le=3600)
    """Length of one health window."""
    failure_threshold: int = Field(default=3, ge=1, le=100)
    """Consecutive unhealthy windows after which the execution has failed."""
    success_threshold: int = Field(default=2, ge=1, le=100)
    """Consecutive healthy windows after which the execution is validated (stable)."""
    max_error_rate: float = Field(default=0.10, ge=0.0, le=1.0)
    """Highest share of unhealthy samples a window may have and still count as healthy."""
    prometheus: PrometheusCheck | None = None
    """Also require the error rate a Prometheus query reports to be at most maxErrorRate."""
    alerts: AlertCheck | None = None
    """Active alerts that hold the next wave or roll the rollout back."""


class Weekday(StrEnum):
    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"


HOUR_MINUTE = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
TIME_ZONE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


class MaintenanceWindow(ApiModel):
    """When waves may start: wall-clock times in a time zone, on some days (core/rollout/windows.py)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.start != self.end",
                "a maintenance window's start and end must differ (an end before the start "
                "crosses midnight)",
                ".end",
            )
        )
    )

    days: list[Weekday] = Field(
        default_factory=list,
        min_length=1,
        max_length=7,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    """Days the window opens on (Mon … Sun), in its time zone; omitted: every day. A window
    that crosses midnight belongs to the day it opens on."""
    start: str = Field(pattern=HOUR_MINUTE, max_length=5)
    """Opening time, HH:MM (24-hour), local to timeZone."""
    end: str = Field(pattern=HOUR_MINUTE, max_length=5)
    """Closing time, HH:MM; at or before start: the next day."""
    time_zone: str = Field(default="UTC", pattern=TIME_ZONE, max_length=64)
    """An IANA time zone, e.g. Europe/Berlin (daylight saving follows tzdata)."""


class WebhookType(StrEnum):
    """When a webhook is called (docs/design.md §3.6), after Flagger's hook types."""

    CONFIRM_ROLLOUT = "ConfirmRollout"
    PRE_WAVE = "PreWave"
    CONFIRM_PROMOTION = "ConfirmPromotion"
    POST_ROLLOUT = "PostRollout"
    ROLLBACK = "Rollback"


WEBHOOK_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Webhook(ApiModel):
    """An HTTP endpoint another system answers to gate a rollout: a change-management
    approval, a load test before each wave, a rollback trigger. It gets a JSON POST (the Job,
    version, wave, nodes and phase); a 2xx answer passes. Redirects are not followed."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.caSecretRef) || self.url.startsWith('https://')",
                "caSecretRef verifies an https:// endpoint's certificate",
                ".caSecretRef",
            )
        )
    )

    name: str = Field(max_length=MAX_LABEL_VALUE, pattern=WEBHOOK_NAME)
    """Unique among the Job's webhooks; shown in the status while it is awaited."""
    type: WebhookType
    """ConfirmRollout: before the first wave, asked again until it passes (the rollout
    AwaitingConfirmation). PreWave: before each wave; failureThreshold refusals in a row fail
    the rollout, as unhealthy windows fail an execution. ConfirmPromotion (Canary): past the
    validated canary once it passes, instead of autoPromote (a promote by a person still
    counts). PostRollout: once the rollout completed, rolled back, failed or was aborted;
    retried up to failureThreshold times, gates nothing. Rollback: asked while the rollout is
    in flight; a 2xx answer fails it (and rolls it back)."""
    url: str = Field(max_length=2048, pattern=r"^https?://[^\s/?#@]+[^\s]*$")
    """http:// or https:// only."""
    timeout_seconds: int = Field(default=10, ge=1, le=60)
    """How long one call may take; longer counts as a refusal."""
    interval_seconds: int = Field(default=15, ge=1, le=3600)
    """How long after a call's answer the webhook is called again while it is awaited (and
    how often a Rollback webhook is asked)."""
    failure_threshold: int = Field(default=3, ge=1, le=100)
    """PreWave: refusals in a row that fail the rollout. PostRollout: attempts before giving up."""
    metadata: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        json_schema_extra={"additionalProperties": string_schema(1024)},
    )
    """Sent as is in the payload's metadata (a ticket, a test profile)."""
    secret_ref: SecretKeyRef | None = None
    """Sign each payload with HMAC-SHA256 under this key: header X-Nodewave-Signature is
    sha256=hex(HMAC(key, "POST\\n" + url + "\\n" + X-Nodewave-Timestamp + "\\n" + body))."""
    ca_secret_ref: SecretKeyRef | None = None
    """The CA bundle (PEM) that signed the endpoint's certificate, for an https:// URL served
    with a private CA; without it, the system's CAs. A Secret of the names the chart allows
    (webhooks.secretNames), like the signing key."""


class StepPause(ApiModel):
    """A pause between two waves of `rollout.steps`."""

    duration_seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    """How long the next wave waits once the wave before settled; omitted: until a promote
    (`kubectl nodewave promote`), as a canary without autoPromote."""


class RolloutStep(ApiModel):
    """One step of `rollout.steps`: a wave of `nodes` nodes or `percent` percent of the
    target nodes, or a `pause` before the next wave."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "[has(self.nodes), has(self.percent), has(self.pause)].filter(x, x).size() == 1",
                "a step is exactly one of nodes, percent or pause",
            )
        )
    )

    nodes: int | None = Field(default=None, ge=1, le=100000)
    """A wave of this many nodes (at most the nodes left)."""
    percent: int | None = Field(default=None, ge=1, le=100)
    """A wave of this percent of the target nodes, rounded up."""
    pause: StepPause | None = None
    """Wait before the next wave: for durationSeconds, or until promoted."""


class GrowthType(StrEnum):
    LINEAR = "Linear"
    EXPONENTIAL = "Exponential"


class Growth(ApiModel):
    """Waves that grow, as shorthand for steps: Linear takes firstNodes, 2 x firstNodes,
    3 x firstNodes...; Exponential firstNodes, x factor, x factor²... (rounded up). No wave
    is larger than maxParallel percent of the target nodes."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            # The schema's minimum alone lets `factor: 1` through: kube-apiserver v1.34 checks
            # an integer value against the minimum cut to an integer (1.1 → 1).
            cel("self.factor >= 1.1", "factor should be greater than or equal to 1.1", ".factor")
        )
    )

    type: GrowthType
    first_nodes: int = Field(default=1, ge=1, le=100000)
    """The first wave's size."""
    factor: float = Field(default=2.0, ge=1.1, le=10.0)
    """Exponential: how much larger each wave is than the one before."""


class PrePullStart(StrEnum):
    IMMEDIATELY = "Immediately"
    """Each wave's nodes pull from the rollout's start on: the first wave's before it
    starts, each next one's while the wave before it is validated."""
    AFTER_FIRST_WAVE = "AfterFirstWave"
    """Only once the first wave (a canary's) has settled: a version that fails its canary
    never reaches the registry from the rest of the fleet."""


class PrePull(ApiModel):
    """Image pre-pull (Kruise's imagePreDownload): the next wave's images are pulled on its
    nodes while the rollout waits for the wave before it, by a pull-only pod per node (the
    template's images with `/` as the command, a directory in every image, so nothing of
    them runs and an image with no shell works), and a pull that fails is reported on its
    node before the wave takes it."""

    start: PrePullStart = PrePullStart.IMMEDIATELY
    wait_seconds: int = Field(default=300, ge=0, le=3600)
    """How long the next wave, otherwise ready to start, waits for its nodes' pulls
    (PrePulling), failing ones retried by the kubelet, before it starts anyway; 0: it never
    waits, pulls only run ahead. Pulls still failing then (at once: an invalid image name)
    count against the failure budget, and a wave whose failed pulls would spend it fails the
    rollout before it starts."""


PERCENT = r"^(100|[1-9][0-9]?)%$"
IntOrPercent = Annotated[
    int | str, WithJsonSchema({"x-kubernetes-int-or-string": True, "maxLength": 4})
]
"""A count or a percent ("10%"), as the DaemonSet's maxUnavailable: checked by CEL on the API
server and by `check_int_or_percent` here."""


def check_int_or_percent(value: int | str | None) -> int | str | None:
    if isinstance(value, int) and value < 1:
        raise ValueError("a count of at least 1")
    if isinstance(value, str) and not re.match(PERCENT, value):
        raise ValueError("a percent from 1% to 100%, e.g. 10%")
    return value


class Rollout(ApiModel):
    """How each version, the Job's first included, reaches the nodes and replaces the
    running one."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.strategy == 'Immediate' || "
                "(has(self.healthCheck) && has(self.healthCheck.deadlineSeconds))",
                "healthCheck.deadlineSeconds is required for the Rolling and Canary strategies",
                ".healthCheck",
            ),
            cel(
                "!(has(self.canaryCount) && has(self.canaryPercent))",
                "set canaryCount or canaryPercent, not both",
                ".canaryPercent",
            ),
            cel(
                "self.strategy != 'Canary' || has(self.canaryCount) || has(self.canaryPercent)",
                "strategy Canary needs canaryCount or canaryPercent",
                ".strategy",
            ),
            cel(
                "self.strategy == 'Canary' || (!has(self.canaryCount) && !has(self.canaryPercent))",
                "canaryCount and canaryPercent apply only to strategy Canary",
                ".strategy",
            ),
            cel(
                "!has(self.domainOrder) || size(self.domainOrder) == 0 || has(self.topologyKey)",
                "domainOrder needs topologyKey",
                ".domainOrder",
            ),
            cel(
                "!has(self.maxUnavailable) || (type(self.maxUnavailable) == int "
                f"? self.maxUnavailable >= 1 : self.maxUnavailable.matches('{PERCENT}'))",
                "maxUnavailable is a count of at least 1 or a percent from 1% to 100%",
                ".maxUnavailable",
            ),
            cel(
                "!has(self.maxSurge) || (type(self.maxSurge) == int "
                f"? self.maxSurge >= 1 : self.maxSurge.matches('{PERCENT}'))",
                "maxSurge is a count of at least 1 or a percent from 1% to 100%",
                ".maxSurge",
            ),
            cel(
                "!self.maxUnavailablePerDomain || "
                "(has(self.maxUnavailable) && has(self.topologyKey))",
                "maxUnavailablePerDomain needs maxUnavailable and topologyKey",
                ".maxUnavailablePerDomain",
            ),
            cel(
                "!(has(self.steps) && size(self.steps) > 0 && has(self.growth))",
                "set steps or growth, not both",
                ".growth",
            ),
            cel(
                "self.strategy == 'Rolling' || ((!has(self.steps) || size(self.steps) == 0) "
                "&& !has(self.growth))",
                "steps and growth size the waves of strategy Rolling only (a first step of a "
                "few nodes and a pause is a canary)",
                ".strategy",
            ),
            cel(
                "!has(self.steps) || size(self.steps) == 0 "
                "|| self.steps.exists(s, has(s.nodes) || has(s.percent))",
                "steps need at least one wave (nodes or percent)",
                ".steps",
            ),
            cel(
                "!has(self.prePull) || self.prePull.start != 'AfterFirstWave' "
                "|| self.strategy != 'Immediate'",
                "prePull.start AfterFirstWave needs waves after the first (strategy Rolling or "
                "Canary)",
                ".prePull.start",
            ),
            cel(
                "self.strategy == 'Canary' || !has(self.webhooks) "
                "|| self.webhooks.all(w, w.type != 'ConfirmPromotion')",
                "a ConfirmPromotion webhook needs strategy Canary (it gates the promotion past "
                "the canary)",
                ".webhooks",
            ),
        )
    )

    strategy: Strategy = Strategy.IMMEDIATE
    """Immediate: every target node at once. Rolling: waves of maxParallel percent of the
    target nodes. Canary: canaryCount (or canaryPercent) nodes first, then rolling waves."""
    max_parallel: int = Field(default=10, ge=1, le=100)
    """Percent of the target nodes per wave, rounded up (Rolling and Canary)."""
    canary_count: int | None = Field(default=None, ge=1, le=100000)
    """Nodes in the canary wave (Canary only; exclusive with canaryPercent)."""
    canary_percent: int | None = Field(default=None, ge=1, le=100)
    """Percent of the target nodes in the canary wave, rounded up (Canary only)."""
    auto_promote: bool = False
    """Go on past a validated canary without waiting for a promote."""
    auto_rollback: bool = True
    """When the failure budget is spent, return every node that moved to the stable version."""
    max_failed_nodes: int = Field(default=10, ge=0, le=100000)
    """Failed nodes one rollout may have before it stops."""
    max_failed_nodes_percent: float = Field(default=10.0, ge=0.0, le=100.0)
    """Failed nodes one rollout may have, in percent of the target nodes, before it stops."""
    health_check: HealthCheck = Field(
        default_factory=HealthCheck, json_schema_extra={"default": HealthCheck().to_api()}
    )
    """Windows that decide when a wave is validated and when an execution has failed."""
    paused: bool = False
    """Start no new waves while true (executions already started go on)."""
    on_node_failure: NodeFailurePolicy = NodeFailurePolicy.KEEP
    """What a node whose execution of the new version failed before it was validated does:
    Keep it (failed, as it is) or Revert to the version it ran before at once, so the workload
    keeps running there while the rollout goes on within its budget. Past the budget the whole
    rollout fails as always. `kubectl nodewave retry JOB --node N` tries a node again."""
    topology_key: str | None = Field(default=None, max_length=MAX_NAME, pattern=rf"^{LABEL_KEY}$")
    """A node label, e.g. topology.kubernetes.io/zone: a wave never spans two of its values
    (domains). Domains go one after another, the canary inside the first; nodes without the
    label come last, as a domain of their own."""
    domain_order: list[str] = Field(
        default_factory=list,
        max_length=MAX_SELECTOR_TERMS,
        json_schema_extra={
            "items": string_schema(MAX_LABEL_VALUE, rf"^{LABEL_VALUE}$"),
            "x-kubernetes-list-type": "set",
        },
    )
    """Domains to go through first, in this order (the rest follow by name); needs
    topologyKey."""
    steps: list[RolloutStep] = Field(default_factory=list, max_length=64)
    """Strategy Rolling, wave by wave: each `nodes` or `percent` step is one wave of that
    size, the last one repeating until every node has moved; a `pause` step holds the next
    wave once the one before settled (for durationSeconds, or until promoted). Without steps
    every wave is maxParallel percent. [nodes 1, pause {}, percent 10, pause
    {durationSeconds 600}, percent 25]: one node, wait for a promote, 10 %, ten minutes, then
    waves of 25 % with ten minutes after each."""
    growth: Growth | None = None
    """Strategy Rolling: waves that grow from firstNodes (Linear or Exponential) up to
    maxParallel percent; exclusive with steps."""
    bake_seconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    """After the last wave settled the rollout bakes this long (Baking): every execution of
    the version is judged again by the health windows, Prometheus and the Rollback webhooks,
    validated ones included, and a failure still rolls it back. It is Completed, and the
    version stable, only after the bake."""
    max_unavailable: IntOrPercent | None = None
    """An availability budget (a count, or a percent of the target nodes rounded up): a wave
    starts only when the target nodes unavailable already (NotReady, cordoned, or with the
    Job's pod not ready) and the wave's own nodes are at most this many; until then the
    rollout is WaitingForAvailability. It also bounds every wave's size. A rollback, an
    abort and new nodes do not wait for it."""
    max_surge: IntOrPercent | None = None
    """Surge hand-off (the DaemonSet's maxSurge): on each node of a wave the new version's
    execution starts beside the running one, which stops only once the new one is Running
    (validated, with a health check), so the node always has a ready pod; when the new one
    fails there, the old one goes on. A count, or a percent of the target nodes rounded up:
    how many nodes may run two at once, so it also bounds each wave. Type Pipeline only, and
    refused with a hostPort or hostNetwork in the template (two pods on one node would
    conflict)."""
    pre_pull: PrePull | None = None
    """Pull each wave's images on its nodes before the wave starts (PrePull)."""
    max_unavailable_per_domain: bool = False
    """Count maxUnavailable in the wave's topology domain (its percent over the domain's
    nodes), not over all the target nodes; needs topologyKey."""
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list, max_length=16)
    """When set, a wave (of a rollout or a restart) starts only while one of them is open; a
    wave under way finishes, nodes that join get the stable version at once, and a rollback or
    an abort does not wait."""
    webhooks: list[Webhook] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Gates owned by other systems: HTTP endpoints called before the rollout, before each
    wave, before the promotion past the canary, after the rollout, and to ask for a
    rollback (docs/design.md §3.6)."""

    _check_budgets = field_validator("max_unavailable", "max_surge")(check_int_or_percent)


class Timeouts(ApiModel):
    """Time limits per execution; 0 means none."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.totalTimeoutSeconds == 0 || "
                "self.totalTimeoutSeconds >= self.queueTimeoutSeconds + self.executionTimeoutSeconds",
                "totalTimeoutSeconds must be 0 or at least queueTimeoutSeconds + executionTimeoutSeconds",
                ".totalTimeoutSeconds",
            )
        )
    )

    execution_timeout_seconds: int = Field(default=0, ge=0, le=365 * 24 * 3600)
    """How long an execution may run once started."""
    queue_timeout_seconds: int = Field(default=0, ge=0, le=365 * 24 * 3600)
    """How long an execution may wait to start."""
    total_timeout_seconds: int = Field(default=0, ge=0, le=365 * 24 * 3600)
    """Queue time plus run time plus restarts."""


TEMPLATE_SCHEMA: JsonDict = {
    "type": "object",
    "description": "The pod each execution runs, pinned to its node (a PodTemplateSpec).",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object", **PRESERVE_UNKNOWN},
        "spec": {
            "type": "object",
            "required": ["containers"],
            **PRESERVE_UNKNOWN,
            "properties": {
                "containers": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 32,
                    "items": {
                        "type": "object",
                        "required": ["name", "image"],
                        **PRESERVE_UNKNOWN,
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 63},
                            "image": {"type": "string", "minLength": 1, "maxLength": 4096},
                            "ports": {
                                "type": "array",
                                "maxItems": 64,
                                "items": {
                                    "type": "object",
                                    **PRESERVE_UNKNOWN,
                                    "properties": {"hostPort": {"type": "integer"}},
                                },
                            },
                        },
                    },
                },
                "nodeName": {"type": "string", "maxLength": MAX_NAME},
                "restartPolicy": {"type": "string", "maxLength": 16},
                "hostNetwork": {"type": "boolean"},
            },
            **validations(
                cel(
                    "!has(self.nodeName)",
                    "nodewave pins each pod to its node; leave template.spec.nodeName empty",
                    ".nodeName",
                ),
                cel(
                    "!has(self.restartPolicy)",
                    "set the Job's spec.restartPolicy, not template.spec.restartPolicy",
                    ".restartPolicy",
                ),
            ),
        },
    },
}


class Drain(ApiModel):
    """Evicting the node's other pods before an execution starts, as `kubectl drain` does."""

    enabled: bool = False
    """Evict the node's pods (through the Eviction API: PodDisruptionBudgets respected) once it
    is cordoned, and start the execution when they are gone."""
    timeout_seconds: int = Field(default=600, ge=1, le=24 * 3600)
    """How long evictions may be refused (a PodDisruptionBudget) or pods take to go before the
    execution fails with DrainTimeout; the node then stays cordoned and quarantined."""
    ignore_daemon_sets: bool = True
    """Leave DaemonSet pods (they would come back at once); false: such a pod blocks the drain."""
    delete_empty_dir_data: bool = False
    """Evict pods with emptyDir volumes, whose data is lost; false: such a pod blocks the drain."""
    force: bool = False
    """Evict pods no controller will re-create (they are gone for good); false: such a pod
    blocks the drain."""
    pod_selector: Selector = Field(default_factory=Selector, json_schema_extra={"default": {}})
    """Only pods with these labels are evicted (the same syntax as the node selector); empty:
    every pod."""


class NodeMaintenance(ApiModel):
    """Taking each node out of service around a run-to-completion execution, as
    system-upgrade-controller and kured do: cordon, drain, run, uncordon."""

    cordon: bool = False
    """Mark the node unschedulable before the execution's pod starts; uncordon after it
    completed. A node whose execution failed stays cordoned, labelled
    nodewave.io/quarantined, until `kubectl nodewave uncordon JOB NODE`."""
    drain: Drain = Field(default_factory=Drain, json_schema_extra={"default": Drain().to_api()})
    """Evict the node's pods after cordoning it."""


class JobSpec(ApiModel):
    """What runs, where, and how new versions roll out."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.type == 'Pipeline' || !has(self.restartPolicy) "
                "|| self.restartPolicy != 'Always'",
                "restartPolicy Always restarts a container that exits, so a Query, Update or "
                "Config execution could never complete: use OnFailure (the default) or Never",
                ".restartPolicy",
            ),
            cel(
                "self.type != 'Pipeline' || !has(self.nodeMaintenance) "
                "|| (!self.nodeMaintenance.cordon && !self.nodeMaintenance.drain.enabled)",
                "nodeMaintenance applies to run-to-completion types (Query, Update, Config): a "
                "Pipeline's execution never ends, so its node would stay cordoned",
                ".nodeMaintenance",
            ),
            cel(
                "!has(self.rollout) || !has(self.rollout.maxSurge) || self.type == 'Pipeline'",
                "maxSurge hands a node over from a running pod to a new one: type Pipeline only "
                "(a Query, Update or Config execution runs once)",
                ".rollout.maxSurge",
            ),
            cel(
                "!has(self.rollout) || !has(self.rollout.maxSurge) || "
                "((!has(self.template.spec.hostNetwork) || !self.template.spec.hostNetwork) && "
                "self.template.spec.containers.all(c, !has(c.ports) "
                "|| c.ports.all(p, !has(p.hostPort) || p.hostPort == 0)))",
                "maxSurge runs two pods on a node at once: a hostPort or hostNetwork in the "
                "template would make them conflict",
                ".rollout.maxSurge",
            ),
            cel(
                "!has(self.nodeMaintenance) || !self.nodeMaintenance.drain.enabled "
                "|| self.nodeMaintenance.cordon",
                "nodeMaintenance.drain needs cordon: true (evicted pods would be scheduled back "
                "onto the node)",
                ".nodeMaintenance.drain.enabled",
            ),
        )
    )

    type: JobType
    """Pipeline runs until stopped (like a daemon); Query, Update and Config run to completion
    on each node. The type sets the default restartPolicy."""
    description: str = Field(default="", max_length=1024)
    """What this Job is for, for people."""
    meta: dict[str, str] = Field(
        default_factory=dict,
        max_length=64,
        json_schema_extra={
            "additionalProperties": string_schema(1024),
            **validations(
                cel(
                    f"self.all(k, k.size() <= {MAX_NAME} && !k.startsWith('{RESERVED_PREFIX}'))",
                    f"meta keys must be at most {MAX_NAME} characters; the prefix "
                    f"{RESERVED_PREFIX} is reserved",
                )
            ),
        },
    )
    """Free metadata for tools. Keys starting with nodewave.io/ are reserved."""
    priority: int = Field(default=0, ge=-1_000_000_000, le=1_000_000_000)
    """Higher first when the operator has a backlog: while its API requests queue (at
    `--max-inflight`), a Job's go before those of lower priority."""
    restart_policy: RestartPolicy | None = None
    """OnFailure (default for Query, Update, Config), Always (default for Pipeline) or Never."""
    max_restarts: int | None = Field(default=None, ge=0, le=1_000_000)
    """The restart budget of one execution: restarts it may spend (container restarts in its
    pod, plus one for each pod replaced after it failed) before it is Failed with
    RestartBudgetSpent and its pod deleted. Unset: no limit, as for a DaemonSet's pods. Each
    execution (a new version, a retry) starts with the whole budget."""
    config: dict[str, Any] = Field(default_factory=dict, json_schema_extra=PRESERVE_UNKNOWN)
    """Free-form settings handed to the workload as a file and as environment; a change makes
    a new version."""
    template: dict[str, Any] = Field(json_schema_extra=TEMPLATE_SCHEMA)
    """The pod each execution runs, pinned to its node (a PodTemplateSpec)."""
    selector: Selector = Field(default_factory=Selector, json_schema_extra={"default": {}})
    """Which nodes run the Job."""
    timeouts: Timeouts = Field(
        default_factory=Timeouts, json_schema_extra={"default": Timeouts().to_api()}
    )
    """Time limits per execution."""
    rollout: Rollout = Field(
        default_factory=Rollout, json_schema_extra={"default": Rollout().to_api()}
    )
    """How each version, the Job's first included, reaches the nodes and replaces the
    running one."""
    node_maintenance: NodeMaintenance = Field(
        default_factory=NodeMaintenance,
        json_schema_extra={"default": NodeMaintenance().to_api()},
    )
    """Cordon and drain each node around its execution (run-to-completion types). Needs the
    chart's nodeMaintenance.enabled (RBAC on nodes and evictions)."""
    revision_history_limit: int = Field(default=10, ge=0, le=100)
    """Old versions kept as ControllerRevisions, for rollback."""

    @property
    def effective_restart_policy(self) -> RestartPolicy:
        if self.restart_policy is not None:
            return self.restart_policy
        return RestartPolicy.ON_FAILURE if self.type.runs_to_completion else RestartPolicy.ALWAYS


MAX_REVERTED_LISTED = 100


class RolloutPhase(StrEnum):
    PROGRESSING = "Progressing"
    AWAITING_PROMOTION = "AwaitingPromotion"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    FAILED = "Failed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    WAITING_FOR_WINDOW = "WaitingForWindow"
    AWAITING_CONFIRMATION = "AwaitingConfirmation"
    STEP_PAUSED = "StepPaused"
    WAITING_FOR_AVAILABILITY = "WaitingForAvailability"
    WAITING_FOR_ALERTS = "WaitingForAlerts"
    BAKING = "Baking"
    PRE_PULLING = "PrePulling"


MAX_PULL_FAILURES_LISTED = 20


class PullFailure(ApiModel):
    """A node where the pre-pull of the version's images failed, as its kubelet said."""

    node: str = Field(max_length=MAX_NAME)
    reason: str = Field(default="", max_length=MAX_LABEL_VALUE)
    """ErrImagePull, ImagePullBackOff, InvalidImageName..."""
    message: str = Field(default="", max_length=512)


class PrePullStatus(ApiModel):
    """The pre-pull for the next wave (rollout.prePull)."""

    wave: int = Field(default=0, ge=0)
    """The wave whose nodes pull."""
    nodes: int = Field(default=0, ge=0)
    pulled: int = Field(default=0, ge=0)
    failed_count: int = Field(default=0, ge=0)
    failed: list[PullFailure] = Field(default_factory=list, max_length=MAX_PULL_FAILURES_LISTED)
    """The first 20 nodes whose pull failed, by name."""
    wait_until: datetime | None = None
    """While PrePulling: when the wave starts whether or not its pulls are done."""


MAX_SETTLED_WAVES = 100


class SettledWave(ApiModel):
    """A wave of the rollout whose every execution settled (validated, failed or lost)."""

    wave: int = Field(ge=1)
    created_until: datetime
    """The newest creation time among the wave's executions when it settled (the API
    server's clock, as their creationTimestamp): an execution of this wave created no later
    and not failed was validated (docs/design.md §4.2), without its own stableAt."""


class RolloutStatus(ApiModel):
    """Where the current rollout stands; everything the engine decided, so a restart resumes."""

    phase: RolloutPhase | None = None
    """Progressing, AwaitingConfirmation (a ConfirmRollout webhook has not passed yet),
    AwaitingPromotion (a canary or a step's pause waits for a promote), Paused
    (spec.rollout.paused), StepPaused (a timed pause of rollout.steps, until waitUntil),
    WaitingForAvailability (the next wave would pass maxUnavailable), WaitingForAlerts (a
    matching alert fires, or the alerts cannot be read),
    WaitingForWindow (no maintenance window open for the next wave),
    PrePulling (the next wave waits for its nodes' image pulls, rollout.prePull), Baking (the
    last wave settled; bakeSeconds of judging before it completes), Completed, Failed,
    RollingBack, RolledBack or Aborted (`kubectl nodewave
    abort`: every node returns to the stable version in waves while the spec still names this
    one)."""
    version: int | None = Field(default=None, ge=1)
    """The version being rolled out."""
    from_version: int | None = Field(default=None, ge=1)
    """The stable version it replaces, and returns to on rollback."""
    wave: int = Field(default=0, ge=0)
    """Current wave, 1-based; 0 before the first."""
    total_waves: int = Field(default=0, ge=0)
    """Waves this rollout has."""
    failed_nodes: int = Field(default=0, ge=0)
    """Nodes whose execution of this version failed."""
    started_at: datetime | None = None
    """When this rollout started."""
    phase_since: datetime | None = None
    """When the rollout entered its phase (how long a gate, a pause or a window has held it)."""
    wait_until: datetime | None = None
    """When the timed pause of a step (StepPaused) or the bake (Baking) ends."""
    finished_at: datetime | None = None
    """When it ended: Completed, Failed, RolledBack, or Aborted with every node back."""
    failure: str = Field(default="", max_length=2048)
    """Why the version failed (its failure budget spent, the canary, a webhook), as decided;
    kept through the rollback. Empty while it has not."""
    message: str = Field(default="", max_length=4096)
    """What the rollout is doing or waiting for, for people: rendered from the fields above
    and the phase, never read back by the operator."""
    reverted_nodes: list[str] = Field(
        default_factory=list,
        max_length=MAX_REVERTED_LISTED,
        json_schema_extra={"items": string_schema(MAX_NAME)},
    )
    """Nodes back on the previous version after this version failed there (onNodeFailure
    Revert), by name; the first 100."""
    unavailable_nodes: int = Field(default=0, ge=0)
    """With maxUnavailable: the target nodes unavailable at the last pass (NotReady,
    cordoned, or with the Job's pod not ready)."""
    reverted_count: int = Field(default=0, ge=0)
    """How many nodes are reverted, all of them."""
    pre_pull: PrePullStatus | None = None
    """With rollout.prePull: how the next wave's nodes pull the version's images."""
    webhooks: list[WebhookStatus] = Field(default_factory=list, max_length=16)
    """The webhooks asked during this rollout and their last answers (spec.rollout.webhooks)."""
    settled_waves: list[SettledWave] = Field(default_factory=list, max_length=MAX_SETTLED_WAVES)
    """The waves that settled, in order; the last 100."""
    other_versions_created_until: datetime | None = None
    """The newest creation time among the executions of every other version (the stable
    version's on nodes not moved yet, the reverted nodes' with onNodeFailure Revert) when
    each of them was validated, failed or lost: one of another version created no later and
    neither failed nor lost was validated (docs/design.md §4.2), without its own stableAt."""


class WebhookPhase(StrEnum):
    WAITING = "Waiting"
    """Not answered with a 2xx yet (asked again after intervalSeconds)."""
    PASSED = "Passed"
    FAILED = "Failed"
    """PreWave: failureThreshold refusals in a row; PostRollout: given up."""


MAX_WEBHOOK_MESSAGE = 512


class WebhookStatus(ApiModel):
    """One webhook of the current rollout: what it answered, for what."""

    name: str = Field(max_length=MAX_LABEL_VALUE)
    type: WebhookType
    wave: int = Field(default=0, ge=0)
    """The wave it is asked about (PreWave: the wave about to start)."""
    phase: WebhookPhase = WebhookPhase.WAITING
    attempts: int = Field(default=0, ge=0)
    """Calls answered (or timed out) so far."""
    failures: int = Field(default=0, ge=0)
    """Refusals in a row."""
    last_attempt_at: datetime | None = None
    message: str = Field(default="", max_length=MAX_WEBHOOK_MESSAGE)
    """The last answer: HTTP status and the start of the body, or why there was none."""


class NotificationPhase(StrEnum):
    PENDING = "Pending"
    SENT = "Sent"
    FAILED = "Failed"
    """Every attempt failed; given up."""


MAX_NOTIFICATIONS = 32


class NotificationStatus(ApiModel):
    """One notification of a rollout's transition to one service: the outbox entry that makes
    it sent once (core/job/notifications.py)."""

    id: str = Field(max_length=512)
    """The transition and the service: trigger/version@rolloutStart/wave/service."""
    trigger: str = Field(max_length=64)
    """on-rollout-started, on-wave-completed, on-rollout-completed..."""
    service: str = Field(max_length=MAX_NAME)
    """The service (a `service.<name>` of the nodewave-notifications ConfigMap)."""
    phase: NotificationPhase = NotificationPhase.PENDING
    version: int = Field(default=0, ge=0)
    wave: int = Field(default=0, ge=0)
    text: str = Field(default="", max_length=1024)
    """What happened (the Event's message), for the template's $message."""
    created_at: datetime
    attempts: int = Field(default=0, ge=0)
    last_attempt_at: datetime | None = None
    message: str = Field(default="", max_length=MAX_WEBHOOK_MESSAGE)
    """Why the last attempt failed, or what was sent."""


class RestartPhase(StrEnum):
    SCHEDULED = "Scheduled"
    RESTARTING = "Restarting"
    PAUSED = "Paused"
    COMPLETED = "Completed"


class RestartStatus(ApiModel):
    """A restart of the current version's executions (`kubectl nodewave restart`)."""

    requested_at: datetime
    """The time it was asked for (annotation nodewave.io/restartAt): executions created
    before it are recreated."""
    phase: RestartPhase
    """Scheduled (that time is ahead, or a rollout is under way), Restarting, Paused (more
    nodes failed than the rollout's budget allows) or Completed."""
    wave: int = Field(default=0, ge=0)
    """Current wave, 1-based; 0 before the first."""
    restarted_nodes: int = Field(default=0, ge=0)
    """Nodes whose execution was recreated and is validated (Completed, for run-to-completion
    types)."""
    failed_nodes: int = Field(default=0, ge=0)
    """Nodes whose recreated execution failed before it was validated."""
    remaining_nodes: int = Field(default=0, ge=0)
    """Nodes whose execution is still older than `requestedAt`."""
    message: str = Field(default="", max_length=4096)


class JobStatus(ApiModel):
    """What the operator observed and decided."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The .metadata.generation this status reflects."""
    current_version: int | None = Field(default=None, ge=1)
    """The newest version of the spec."""
    stable_version: int | None = Field(default=None, ge=1)
    """The last version that completed a rollout; rollbacks return here."""
    stable_created_until: datetime | None = None
    """The newest creation time among the stable version's executions when its rollout
    completed, and since whenever each of them was validated, failed or lost (a restart's, a
    retry's, a node that joined): one of them created no later and neither failed nor lost
    was validated (docs/design.md §4.2); one made since is judged on its own."""
    target_nodes: int = Field(default=0, ge=0)
    """Nodes the selector picks."""
    ready_nodes: int = Field(default=0, ge=0)
    """Nodes whose execution of the current version is Running (or Completed)."""
    execution_counts: dict[str, int] = Field(default_factory=dict, max_length=16)
    """Executions per observed state."""
    rollout: RolloutStatus | None = None
    """The current or last rollout."""
    restart: RestartStatus | None = None
    """The current or last restart of the current version's executions."""
    notifications: list[NotificationStatus] = Field(
        default_factory=list, max_length=MAX_NOTIFICATIONS
    )
    """The latest notifications of the Job's transitions and whether they were sent."""
    quarantined_nodes: int = Field(default=0, ge=0)
    """Nodes kept cordoned after their execution failed (spec.nodeMaintenance), until
    `kubectl nodewave uncordon`."""
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready, Progressing, Degraded, RolledBack, AwaitingPromotion, Reconciling, Stalled."""


class Job(ApiModel):
    """A workload that runs on every node a selector picks, rolled out version by version."""

    spec: JobSpec
    status: JobStatus | None = None

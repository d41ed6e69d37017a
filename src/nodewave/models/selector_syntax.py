"""The grammar of node selector strings, as regular expressions.

Used twice: the CRD's CEL rules reject a malformed `matchExpressions` string at `kubectl apply`,
and `nodewave.core.job.selector` parses the same strings. Both follow Kubernetes label syntax
(keys: optional DNS-subdomain prefix and a 63-character name; values: empty or a 63-character
name), so anything the API server admits, the operator can evaluate. The patterns use only the
subset shared by RE2 (CEL) and Python's `re`, so the unit tests check them with `re`.
"""

from __future__ import annotations

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_PREFIX = rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*"

LABEL_KEY = rf"(?:{_PREFIX}/)?{_NAME}"
LABEL_VALUE = rf"(?:{_NAME})?"
NODE_NAME = rf"^{_PREFIX}$"

_WS = r"[ \t]*"
EXISTS = rf"^{_WS}!?{_WS}{LABEL_KEY}{_WS}$"
EQUALITY = rf"^{_WS}{LABEL_KEY}{_WS}(?:==|!=|=){_WS}{LABEL_VALUE}{_WS}$"
# Sets hold one or more non-empty values (Kubernetes refuses an empty set).
SET = (
    rf"^{_WS}{LABEL_KEY}[ \t]+(?:in|notin){_WS}\({_WS}{_NAME}"
    rf"(?:{_WS},{_WS}{_NAME})*{_WS}\){_WS}$"
)
EXPRESSION_FORMS = (EXISTS, EQUALITY, SET)

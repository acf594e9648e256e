"""Secrets stay out of logs. Attached to every log handler (config.yml), this filter masks
passwords and session tokens in logged payloads (nameko logs message bodies at DEBUG), and
survey tokens in request lines (the audience's QR code carries the token in its URL), and the
password of every broker or database address (nameko masks only the first address of a
``;``-separated list of a cluster's nodes when it says it is reconnecting)."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"""(['"](?:password|token|password_hash)['"]\s*:\s*)(['"])[^'"]*\2"""), r"\1\2***\2"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9_\-.~+/=]+"), r"\1***"),
    (re.compile(r"(/s/|/api/surveys/)[^/\s?\"']+"), r"\1***"),
    (re.compile(r"((?:amqps?|pyamqp|mongodb(?:\+srv)?)://[^:/@\s;]+:)[^@\s;]+@"), r"\1********@"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True

"""The channels a notification goes out on besides the inbox: pluggable senders.

A channel is a class with a ``name`` registered with ``@channel``; it is built from the service's
config, says whether it is ``available`` (configured here) and ``send``s one delivery or raises
with the reason. The inbox is not among them: it is written in the same transaction as the
event that caused it. Add a channel by writing a class here and adding its name to
``contracts.events.NOTIFICATION_CHANNELS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr

import requests

from common.config import setting

REGISTRY: dict[str, type[Channel]] = {}
SUBJECT_PREFIX = "【工人文化宫】"
SIGNATURE = "——送文化下基层 · 工人文化宫"
FOOTER = "如不想再收到这类邮件，请在消息设置里关闭。"


def channel(cls):
    REGISTRY[cls.name] = cls
    return cls


def configured(config: dict) -> dict[str, Channel]:
    return {name: cls(config) for name, cls in REGISTRY.items()}


def absolute(config: dict, link: str | None) -> str:
    base = setting(config, "PUBLIC_URL").rstrip("/")
    return base + (link or "/")


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class Channel:
    name = ""

    def __init__(self, config: dict):
        self.config = config

    def available(self) -> bool:
        raise NotImplementedError

    def send(self, delivery: dict) -> None:
        raise NotImplementedError


@channel
class Email(Channel):
    """Email over SMTP: SMTP_HOST, SMTP_PORT, SMTP_FROM, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS
    (upgrade a plain connection) or SMTP_SSL (TLS from the start, port 465)."""

    name = "email"

    def available(self) -> bool:
        return bool(setting(self.config, "SMTP_HOST"))

    def message(self, delivery: dict) -> EmailMessage:
        sender = setting(self.config, "SMTP_FROM")
        name, addr = parseaddr(sender)
        msg = EmailMessage()
        msg["Subject"] = SUBJECT_PREFIX + delivery["title"]
        msg["From"] = formataddr((name, addr)) if name else addr
        msg["To"] = delivery["address"]
        msg["Message-ID"] = make_msgid(idstring=delivery["notification_id"][:16], domain=addr.split("@")[-1] or None)
        link = absolute(self.config, delivery.get("link"))
        text = "\n".join([delivery["body"], "", link, "", SIGNATURE, FOOTER, ""])
        msg.set_content(text, charset="utf-8", cte="base64")
        return msg

    def send(self, delivery: dict) -> None:
        host = setting(self.config, "SMTP_HOST")
        port = setting(self.config, "SMTP_PORT")
        timeout = setting(self.config, "SMTP_TIMEOUT")
        tls = ssl.create_default_context()  # the server's certificate is checked
        if setting(self.config, "SMTP_SSL"):  # TLS from the start (port 465), as many providers ask
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if not isinstance(smtp, smtplib.SMTP_SSL) and setting(self.config, "SMTP_STARTTLS"):
                smtp.starttls(context=tls)
            user = setting(self.config, "SMTP_USER")
            if user:
                smtp.login(user, setting(self.config, "SMTP_PASSWORD"))
            smtp.send_message(self.message(delivery))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex: what the receiver recomputes to trust a call."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@channel
class Webhook(Channel):
    """POST JSON to WEBHOOK_URL (an SMS or WeChat gateway), signed with WEBHOOK_SECRET:
    X-Songwenhua-Timestamp and X-Songwenhua-Signature: sha256=HMAC(secret, timestamp + "." + body)."""

    name = "webhook"

    def available(self) -> bool:
        return bool(setting(self.config, "WEBHOOK_URL"))

    def payload(self, delivery: dict) -> bytes:
        data = {
            "notification_id": delivery["notification_id"],
            "to": delivery["address"],
            "username": delivery["username"],
            "kind": delivery["kind"],
            "title": delivery["title"],
            "body": delivery["body"],
            "link": absolute(self.config, delivery.get("link")),
            "created_at": delivery["created_at"].isoformat(),
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def send(self, delivery: dict) -> None:
        body = self.payload(delivery)
        stamp = str(int(time.time()))
        secret = setting(self.config, "WEBHOOK_SECRET")
        response = requests.post(
            setting(self.config, "WEBHOOK_URL"),
            data=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Songwenhua-Timestamp": stamp,
                "X-Songwenhua-Signature": signature(secret, stamp, body),
                "X-Songwenhua-Delivery": delivery["_id"],
            },
            timeout=setting(self.config, "WEBHOOK_TIMEOUT"),
        )
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}: {response.text[:200]}")

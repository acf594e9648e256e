"""Errors that cross service boundaries and end as a clear HTTP answer.

Each error carries a code for programs, a Chinese message for people, and field messages.
They are registered with nameko so that the gateway receives the same class over RPC.

A message is written as a template, a literal Chinese string with {name} placeholders, plus its
values: `Invalid("一个系列最多 {n} 次。", params={"n": 52})`. The template is the message's key in
the catalogues (`make i18n` finds every template passed to an error, to `Message` or to `N_`);
`message` is the template filled in, in Chinese. Template and values travel with the error, so
the gateway can say the same thing in the reader's language. A value that is itself a message (a
status label, a date written in words) is a `Message` and is translated in turn.
"""

from __future__ import annotations

from marshmallow import ValidationError
from nameko.exceptions import deserialize_to_instance

from common.messages import N_, Message, field_messages, params_from_wire, wire_fields
from contracts.base import flatten_errors, schema_of

__all__ = [
    "N_",
    "Conflict",
    "Forbidden",
    "Invalid",
    "Message",
    "NotFound",
    "ServiceError",
    "Throttled",
    "Unauthorized",
    "Unavailable",
]


class ServiceError(Exception):
    status = 400
    default_code = "BAD_REQUEST"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        deserialize_to_instance(cls)  # every subclass reaches the RPC caller as itself

    def __init__(self, message, code: str | None = None, fields: dict | None = None, params: dict | None = None):
        # `message`: the template (or, arriving over RPC, exactly what args held on the other side)
        self._message = Message.of(message, params_from_wire(params or {}))
        self._fields = field_messages(fields or {})
        wired = self._message.wire()
        template, values = (wired, {}) if isinstance(wired, str) else (wired["template"], wired["params"])
        # args are what nameko sends, and what the receiving side builds the error again from
        super().__init__(template, code or self.default_code, wire_fields(self._fields), values)

    @property
    def message(self) -> str:
        """The message in Chinese."""
        return str(self._message)

    @property
    def template(self) -> Message:
        """The message with its key and values, to say it in another language."""
        return self._message

    @property
    def code(self) -> str:
        return self.args[1]

    @property
    def fields(self) -> dict:
        """Field messages (each reads as its Chinese text and keeps its key and values)."""
        return self._fields

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.fields:
            out["fields"] = self.fields
        return out


class Invalid(ServiceError):
    status = 400
    default_code = "INVALID"

    @classmethod
    def from_validation(cls, err: ValidationError) -> "Invalid":
        return cls("提交的内容有误，请检查标出的字段。", "INVALID", flatten_errors(err.messages))


class NotFound(ServiceError):
    status = 404
    default_code = "NOT_FOUND"


class Forbidden(ServiceError):
    status = 403
    default_code = "FORBIDDEN"


class Conflict(ServiceError):
    status = 409
    default_code = "CONFLICT"


def load(schema_cls, data, **kwargs) -> dict:
    """Load an input payload with its contract, or raise Invalid with field messages."""
    try:
        schema = schema_cls(**kwargs) if kwargs else schema_of(schema_cls)
        return schema.load(data if data is not None else {})
    except ValidationError as err:
        raise Invalid.from_validation(err) from None


class Unavailable(ServiceError):
    status = 503
    default_code = "UNAVAILABLE"


class Unauthorized(ServiceError):
    status = 401
    default_code = "UNAUTHENTICATED"


class Throttled(ServiceError):
    """Too many tries: the value ``retry_after`` (seconds) becomes the answer's ``Retry-After``."""

    status = 429
    default_code = "TOO_MANY_REQUESTS"

    @property
    def retry_after(self) -> int | None:
        value = self.template.params.get("retry_after")  # over RPC, values arrive as text
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            return None

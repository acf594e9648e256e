"""Errors that cross service boundaries and end as a clear HTTP answer.

Each error carries a code for programs, a Chinese message for people, and field messages.
They are registered with nameko so that the gateway receives the same class over RPC.
"""

from __future__ import annotations

from marshmallow import ValidationError
from nameko.exceptions import deserialize_to_instance

from contracts.base import flatten_errors, schema_of


class ServiceError(Exception):
    status = 400
    default_code = "BAD_REQUEST"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        deserialize_to_instance(cls)  # every subclass reaches the RPC caller as itself

    def __init__(self, message: str, code: str | None = None, fields: dict | None = None):
        super().__init__(message, code or self.default_code, fields or {})

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def code(self) -> str:
        return self.args[1]

    @property
    def fields(self) -> dict:
        return self.args[2]

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

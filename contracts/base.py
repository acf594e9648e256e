"""Shared building blocks for every schema: Chinese error messages, time fields, ids.

Every message a person can read is in Chinese (zh-CN): an enterprise union clerk who sends
a bad form gets told, in words they understand, which field is wrong and why.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

# One place sets the wording of marshmallow's built-in errors, for every field of every schema.
_MESSAGES = {
    fields.Field: {
        "required": "此项为必填项。",
        "null": "此项不能为空。",
        "validator_failed": "此项的值不符合要求。",
    },
    fields.String: {"invalid": "应为文本。", "invalid_utf8": "文本编码无效。"},
    fields.Integer: {"invalid": "应为整数。", "too_large": "数值过大。"},
    fields.Float: {"invalid": "应为数字。", "special": "数值无效。", "too_large": "数值过大。"},
    fields.Boolean: {"invalid": "应为是或否（true/false）。"},
    fields.DateTime: {
        "invalid": "时间格式不对，请使用 ISO 8601 格式，例如 2026-12-01T14:00:00+08:00。",
        "invalid_awareness": "时间须带时区，例如 2026-12-01T14:00:00+08:00。",
        "format": "时间无法格式化。",
    },
    fields.Date: {"invalid": "日期格式不对，例如 2026-12-01。"},
    fields.List: {"invalid": "应为列表。"},
    fields.Nested: {"type": "应为对象。"},
    fields.Dict: {"invalid": "应为对象。"},
    fields.UUID: {"invalid_uuid": "编号格式不对。"},
    fields.Email: {"invalid": "邮箱地址格式不对。"},
}
for _cls, _msgs in _MESSAGES.items():
    _cls.default_error_messages = {**_cls.default_error_messages, **_msgs}
Schema.error_messages = {"unknown": "不认识的字段。", "type": "数据格式不对，应为对象。"}

CST = dt.timezone(dt.timedelta(hours=8), "CST")


@functools.cache
def schema_of(schema_cls: type[Schema]) -> Schema:
    """The one instance of a contract's schema that loads and dumps everywhere in a process.
    Building a schema copies every field (a tenth of the gateway's processor in an audience
    burst, when built per answer); a built schema keeps nothing between loads and dumps."""
    return schema_cls()


def now() -> dt.datetime:
    """UTC now, to the millisecond (what MongoDB stores), so that what is returned at once and
    what is read back later are the same instant, written the same way."""
    moment = dt.datetime.now(dt.timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_id() -> str:
    """32 hex digits: microseconds since the epoch, then 76 random bits. Ids sort by creation
    time (newest-first listings stay stable within a millisecond) and cannot be guessed."""
    return f"{time.time_ns() // 1000:013x}{secrets.randbits(76):019x}"


class TextLength(validate.Length):
    """A length bound whose message says how long the text is: an over-long text is refused
    with its length and the limit, never cut to fit."""

    def __init__(self, min_length: int, max_length: int, label: str | None = None):
        super().__init__(min=min_length, max=max_length, error=f"长度应在 {min_length} 到 {max_length} 个字符之间。")
        self.label = label

    def __call__(self, value):
        if isinstance(value, str) and len(value) > self.max:
            maximum, length = self.max, len(value)
            if self.label:
                label = self.label
                raise ValidationError(f"{label}最多 {maximum} 字，现在是 {length} 字。")
            raise ValidationError(f"最多 {maximum} 字，现在是 {length} 字。")
        return super().__call__(value)


def Text(*, required: bool = True, max_length: int = 200, min_length: int = 1, label: str | None = None, **kw):
    """A text field with a length bound (huge strings are refused, not stored, never cut);
    `label` names the field in the message about its length."""
    return fields.String(required=required, validate=TextLength(min_length, max_length, label), **kw)


def Id(*, required: bool = True, **kw):
    return fields.String(
        required=required,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="编号格式不对。"),
        **kw,
    )


def Count(*, minimum: int = 0, maximum: int = 100_000, required: bool = True, strict: bool = True, **kw):
    return fields.Integer(
        required=required,
        strict=strict,
        validate=validate.Range(min=minimum, max=maximum, error=f"应为 {minimum} 到 {maximum} 之间的整数。"),
        **kw,
    )


def Rating(*, required: bool = True, **kw):
    return fields.Integer(
        required=required,
        strict=True,
        validate=validate.Range(min=1, max=5, error="评分应为 1 到 5 之间的整数。"),
        **kw,
    )


class CstDateTime(fields.AwareDateTime):
    """Read with a time zone (naive times are China Standard Time); written in China Standard
    Time, to the millisecond, whatever zone it was stored in."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(CST)
            value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return super()._serialize(value, attr, obj, **kwargs)


def Time(*, required: bool = True, **kw):
    """An instant with a time zone."""
    return CstDateTime(required=required, default_timezone=CST, **kw)


def OneOf(choices, *, required: bool = True, **kw):
    return fields.String(
        required=required,
        validate=validate.OneOf(choices, error="取值应为以下之一：{choices}。"),
        **kw,
    )


class StrictSchema(Schema):
    """Payloads coming from people: unknown fields are refused with a clear message."""

    class Meta:
        unknown = RAISE


class EventSchema(Schema):
    """Every event carries an id, the time it happened and its version.

    Consumers ignore fields they do not know, so that a publisher can add fields.
    """

    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True)
    occurred_at = Time()
    version = fields.Integer(required=True)


class TimeWindowSchema(StrictSchema):
    start = Time()
    end = Time()

    @validates_schema
    def validate_order(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError({"end": ["结束时间应晚于开始时间。"]})


def flatten_errors(messages) -> dict:
    """Turn marshmallow's nested messages into {"a.b.0.c": ["..."]} for a form to show."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.setdefault(prefix or "_schema", []).extend(value)
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                walk(f"{prefix}.{i}", sub)
        else:
            out.setdefault(prefix or "_schema", []).append(str(value))

    walk("", messages)
    return out


__all__ = [
    "CST",
    "Count",
    "EventSchema",
    "Id",
    "OneOf",
    "Rating",
    "StrictSchema",
    "Text",
    "Time",
    "TimeWindowSchema",
    "ValidationError",
    "fields",
    "flatten_errors",
    "new_id",
    "now",
    "validate",
]

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

from common.messages import N_, Message, used

# One place sets the wording of marshmallow's built-in errors, for every field of every schema.
_MESSAGES = {
    fields.Field: {
        "required": N_("此项为必填项。"),
        "null": N_("此项不能为空。"),
        "validator_failed": N_("此项的值不符合要求。"),
    },
    fields.String: {"invalid": N_("应为文本。"), "invalid_utf8": N_("文本编码无效。")},
    fields.Integer: {"invalid": N_("应为整数。"), "too_large": N_("数值过大。")},
    fields.Float: {"invalid": N_("应为数字。"), "special": N_("数值无效。"), "too_large": N_("数值过大。")},
    fields.Boolean: {"invalid": N_("应为是或否（true/false）。")},
    fields.DateTime: {
        "invalid": N_("时间格式不对，请使用 ISO 8601 格式，例如 2026-12-01T14:00:00+08:00。"),
        "invalid_awareness": N_("时间须带时区，例如 2026-12-01T14:00:00+08:00。"),
        "format": N_("时间无法格式化。"),
    },
    fields.Date: {"invalid": N_("日期格式不对，例如 2026-12-01。")},
    fields.List: {"invalid": N_("应为列表。")},
    fields.Nested: {"type": N_("应为对象。")},
    fields.Dict: {"invalid": N_("应为对象。")},
    fields.UUID: {"invalid_uuid": N_("编号格式不对。")},
    fields.Email: {"invalid": N_("邮箱地址格式不对。")},
}
for _cls, _msgs in _MESSAGES.items():
    _cls.default_error_messages = {**_cls.default_error_messages, **_msgs}
Schema.error_messages = {"unknown": N_("不认识的字段。"), "type": N_("数据格式不对，应为对象。")}

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


class _Keyed:
    """A validator whose message keeps its template and values (a Message), so that the gateway
    can say it in the reader's language. `values` replaces the ones the validator has (e.g. a
    bound written as the message shows it)."""

    def __init__(self, *args, values: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.values = values or {}

    def _format_error(self, value, message=None) -> Message:
        template = self.error or message
        return Message(template, **used(template, {**self._values(), **self.values}))


class Length(_Keyed, validate.Length):
    """marshmallow's Length; the message may name {min}, {max} and {equal}."""

    def _values(self) -> dict:
        return {"min": self.min, "max": self.max, "equal": self.equal}


class Range(_Keyed, validate.Range):
    """marshmallow's Range; the message may name {min} and {max}."""

    def _values(self) -> dict:
        return {"min": self.min, "max": self.max}


class Choice(_Keyed, validate.OneOf):
    """marshmallow's OneOf; the message may name {choices}."""

    def _values(self) -> dict:
        return {"choices": self.choices_text}


class TextLength(Length):
    """A length bound whose message says how long the text is: an over-long text is refused
    with its length and the limit, never cut to fit. `label` is a message (marked with N_)."""

    def __init__(self, min_length: int, max_length: int, label: str | None = None):
        super().__init__(min=min_length, max=max_length, error=N_("长度应在 {min} 到 {max} 个字符之间。"))
        self.label = label

    def __call__(self, value):
        if isinstance(value, str) and len(value) > self.max:
            maximum, length = self.max, len(value)
            if self.label:
                raise ValidationError(
                    Message(
                        "{label}最多 {maximum} 字，现在是 {length} 字。",
                        label=Message(self.label),
                        maximum=maximum,
                        length=length,
                    )
                )
            raise ValidationError(Message("最多 {maximum} 字，现在是 {length} 字。", maximum=maximum, length=length))
        return super().__call__(value)


def Text(*, required: bool = True, max_length: int = 200, min_length: int = 1, label: str | None = None, **kw):
    """A text field with a length bound (huge strings are refused, not stored, never cut);
    `label` names the field in the message about its length."""
    return fields.String(required=required, validate=TextLength(min_length, max_length, label), **kw)


def Id(*, required: bool = True, **kw):
    return fields.String(
        required=required,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error=N_("编号格式不对。")),
        **kw,
    )


def Count(*, minimum: int = 0, maximum: int = 100_000, required: bool = True, strict: bool = True, **kw):
    return fields.Integer(
        required=required,
        strict=strict,
        validate=Range(min=minimum, max=maximum, error=N_("应为 {min} 到 {max} 之间的整数。")),
        **kw,
    )


def Rating(*, required: bool = True, **kw):
    return fields.Integer(
        required=required,
        strict=True,
        validate=validate.Range(min=1, max=5, error=N_("评分应为 1 到 5 之间的整数。")),
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
        validate=Choice(choices, error=N_("取值应为以下之一：{choices}。")),
        **kw,
    )


class StrictSchema(Schema):
    """Payloads coming from people: unknown fields are refused with a clear message."""

    class Meta:
        unknown = RAISE


class Actor(Schema):
    """Who did what an event records, when a signed-in person did it (not the system on its own):
    the account, its role and palace, and the address the request came from."""

    class Meta:
        unknown = EXCLUDE

    username = fields.String(required=True)
    role = fields.String(required=True)
    palace_id = fields.String(required=False, allow_none=True, load_default=None)
    address = fields.String(required=False, allow_none=True, load_default=None)


class EventSchema(Schema):
    """Every event carries an id, the time it happened and its version; an event a person caused
    through the API also carries who (``actor``), added by the store from the request's context.

    Consumers ignore fields they do not know, so that a publisher can add fields.
    """

    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True)
    occurred_at = Time()
    version = fields.Integer(required=True)
    actor = fields.Nested(Actor, required=False, allow_none=True)


class TimeWindowSchema(StrictSchema):
    start = Time()
    end = Time()

    @validates_schema
    def validate_order(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError({"end": [N_("结束时间应晚于开始时间。")]})


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
    "Choice",
    "Length",
    "Range",
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

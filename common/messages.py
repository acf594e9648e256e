"""Messages kept with their key: a template (a literal Chinese string with {name} placeholders, the
message's key in the catalogues) and its values. Read as text, a message is the Chinese; the gateway
says it in the reader's language from the template and the values. No dependencies, so that the
contracts and every service can use it.

`make i18n` finds every template passed to an error, to `Message` or to `N_`.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def N_(template: str) -> str:
    """Marks a fixed message kept in a table (a label, a field message) for the catalogue."""
    return template


class Message(str):
    """A message made of a template and values: reads as the Chinese text, keeps its key.

    `Message("第 {n} 次（{day}）超出了预约范围。", n=2, day=Message("{year} 年 {month} 月 {date} 日", ...))`:
    a value that is a Message is said in the reader's language too; other values are kept as they are.
    """

    template: str
    params: dict

    def __new__(cls, template: str, /, **params):
        self = super().__new__(cls, fill(template, params))
        self.template = template
        self.params = params
        return self

    def __reduce__(self):  # copies and pickles keep the key and the values
        return _message, (self.template, self.params)

    def wire(self) -> str | dict:
        """The form that crosses RPC as JSON: the bare template, or {"template", "params"}."""
        if not self.params:
            return self.template
        return {"template": self.template, "params": wire_params(self.params)}

    @classmethod
    def of(cls, value, params: dict | None = None) -> Message:
        """A message from its template (with `params`), from its wire form, or kept as it is."""
        if isinstance(value, Message) and not params:
            return value
        if is_wire(value):
            return cls(value["template"], **params_from_wire(value.get("params") or {}))
        return cls(value.template if isinstance(value, Message) else str(value), **(params or {}))


def _message(template: str, params: dict) -> Message:
    return Message(template, **params)


def is_wire(value) -> bool:
    return isinstance(value, dict) and set(value) <= {"template", "params"} and isinstance(value.get("template"), str)


def wire_params(params: dict) -> dict:
    """Values as JSON: a Message as its wire form (always a dict, so it is translated in turn)."""
    out = {}
    for k, v in params.items():
        if isinstance(v, Message):
            out[k] = {"template": v.template, "params": wire_params(v.params)}
        elif isinstance(v, (str, int, float)) or v is None:
            out[k] = v
        else:
            out[k] = str(v)
    return out


def params_from_wire(params: dict) -> dict:
    return {k: Message.of(v) if is_wire(v) else v for k, v in params.items()}


def field_messages(tree):
    """Field messages with Message leaves, whatever form they came in (text, Message, wire form)."""
    if isinstance(tree, str) or is_wire(tree):
        return Message.of(tree)
    if isinstance(tree, dict):
        return {k: field_messages(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [field_messages(v) for v in tree]
    return Message(str(tree))


def wire_fields(tree):
    if isinstance(tree, Message):
        return tree.wire()
    if isinstance(tree, dict):
        return {k: wire_fields(v) for k, v in tree.items()}
    return [wire_fields(v) for v in tree]


def fill(template: str, values: dict) -> str:
    """The template with each {name} it has a value for replaced by the value (nothing else:
    a brace that is no placeholder stays as written)."""
    if not values:
        return template
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def used(template: str, values: dict) -> dict:
    """The values a template names (a validator offers more values than its message says)."""
    names = set(PLACEHOLDER.findall(template))
    return {k: v for k, v in values.items() if k in names}

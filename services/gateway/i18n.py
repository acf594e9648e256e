"""Languages: Chinese first (zh-CN, the language every message is written in), English switchable.

Every message in the code and the screens is written in Chinese and is its own key in the
catalogue `locale/en/LC_MESSAGES/messages.po` (Babel's PO format; `make i18n` extracts new
messages into it and `make i18n ARGS=--check` fails on an untranslated one). A message built with
values is a template and its values (`common.messages.Message`; an error carries them over RPC):
the template is looked up as it is and the values are put into its translation, a value that is a
message itself translated in turn.
"""

from __future__ import annotations

import functools
import json
import os
import re

from babel.messages.pofile import read_po

from common.messages import Message, fill

LANGS = ("zh-CN", "en")
DEFAULT = "zh-CN"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")


def pick(request) -> str:
    """The reader's language: ?lang=, then the `lang` cookie, then Accept-Language."""
    for value in (request.args.get("lang"), request.cookies.get("lang")):
        if value in LANGS:
            return value
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default=DEFAULT)
    return "en" if best == "en" else DEFAULT


class Catalogue:
    def __init__(self, path: str):
        self.exact: dict[str, str] = {}
        if os.path.exists(path):
            with open(path, "rb") as f:
                catalog = read_po(f)
            for message in catalog:
                if message.id and message.string and not message.fuzzy:
                    self.exact[message.id] = message.string
        self._finished = _FinishedText(self.exact)

    def get(self, text: str) -> str:
        """A fixed message (a label, a title) in this language; unknown text as it is."""
        return self.exact.get(text, text)

    def say(self, message) -> str:
        """A message in this language: its template's translation with its values put in."""
        if not isinstance(message, str):
            return message
        if not isinstance(message, Message):
            message = Message(message)
        if not message.params:
            found = self.exact.get(message.template)
            return found if found is not None else self._finished.get(message.template)
        values = {k: self.say(v) if isinstance(v, Message) else v for k, v in message.params.items()}
        return fill(self.exact.get(message.template, message.template), values)


class _FinishedText:
    """Texts that arrive already written out, without their template: reasons kept in records
    and events (why an order could not be staffed, why an offer ended) and notifications stored
    by earlier versions. Such a text is matched against the catalogue's templates; what arrives
    with its template never comes here."""

    def __init__(self, exact: dict[str, str]):
        self.exact = exact
        self.patterns: list[tuple[re.Pattern, str, list[str]]] = []
        for msgid, msgstr in exact.items():
            names = re.findall(r"\{[^{}]+\}", msgid)
            if names:
                parts = re.split(r"\{[^{}]+\}", msgid)
                body = "".join(re.escape(p) + (f"(?P<g{i}>.+?)" if i < len(names) else "") for i, p in enumerate(parts))
                self.patterns.append((re.compile("^" + body + "$", re.S), msgstr, names))
        self.patterns.sort(key=lambda p: -len(p[0].pattern))  # most specific first

    def get(self, text: str, depth: int = 0) -> str:
        if text in self.exact:
            return self.exact[text]
        if depth > 2:
            return text
        for pattern, msgstr, names in self.patterns:
            m = pattern.match(text)
            if m:
                out = msgstr
                for i, name in enumerate(names):
                    out = out.replace(name, self.get(m.group(f"g{i}"), depth + 1))
                return out
        return text


@functools.cache
def catalogue(lang: str) -> Catalogue | None:
    if lang == DEFAULT:
        return None
    return Catalogue(os.path.join(LOCALE_DIR, lang.replace("-", "_"), "LC_MESSAGES", "messages.po"))


def gettext(lang: str, text: str, **values) -> str:
    """A template written in a page (`_("共 {n} 个", n=3)`) in the reader's language."""
    cat = catalogue(lang)
    return fill(cat.get(text) if cat else text, values)


def error_payload(error, lang: str) -> dict:
    """A ServiceError's answer {"code", "message", "fields"} in the reader's language."""
    cat = catalogue(lang)
    if cat is None:
        return error.to_dict()
    out = {"code": error.code, "message": cat.say(error.template)}
    if error.fields:
        out["fields"] = _say_tree(error.fields, cat)
    return out


def _say_tree(value, cat: Catalogue):
    if isinstance(value, str):
        return cat.say(value)
    if isinstance(value, list):
        return [_say_tree(v, cat) for v in value]
    if isinstance(value, dict):
        return {k: _say_tree(v, cat) for k, v in value.items()}
    return value


def translate_json_error(raw: bytes, lang: str) -> bytes | None:
    """An error answer made without an error (a fixed message: an unknown address, a wrong
    method) in the reader's language."""
    cat = catalogue(lang)
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    if cat is None or not isinstance(payload, dict):
        return None
    if isinstance(payload.get("message"), str):
        payload["message"] = cat.say(payload["message"])
    if isinstance(payload.get("fields"), dict):
        payload["fields"] = _say_tree(payload["fields"], cat)
    return json.dumps(payload, ensure_ascii=False).encode()


def js_messages(lang: str, messages: list[str]) -> dict[str, str]:
    """The messages a page's script needs, in the reader's language (sent with the page)."""
    cat = catalogue(lang)
    return {m: cat.get(m) for m in messages} if cat else {}


__all__ = ["DEFAULT", "LANGS", "Catalogue", "catalogue", "error_payload", "gettext", "pick"]

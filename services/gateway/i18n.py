"""Languages: Chinese first (zh-CN, the language every message is written in), English switchable.

Every message in the code and the screens is written in Chinese and is its own key in the
catalogue `locale/en/LC_MESSAGES/messages.po` (Babel's PO format; `make i18n` extracts new
messages into it and `make i18n ARGS=--check` fails on an untranslated one). Messages built with
values, such as "一个系列最多 {n} 次。", are kept with their placeholders and matched as patterns,
so an error made deep in a service still reaches an English reader in English.
"""

from __future__ import annotations

import functools
import json
import os
import re

from babel.messages.pofile import read_po

LANGS = ("zh-CN", "en")
DEFAULT = "zh-CN"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")


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
        self.patterns: list[tuple[re.Pattern, str, list[str]]] = []
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            catalog = read_po(f)
        for message in catalog:
            if not message.id or not message.string or message.fuzzy:
                continue
            self.exact[message.id] = message.string
            if _PLACEHOLDER.search(message.id):
                self._add_pattern(message.id, message.string)
        self.patterns.sort(key=lambda p: -len(p[0].pattern))  # most specific first

    def _add_pattern(self, msgid: str, msgstr: str) -> None:
        names: list[str] = []
        parts: list[str] = []
        last = 0
        for m in _PLACEHOLDER.finditer(msgid):
            parts.append(re.escape(msgid[last : m.start()]))
            parts.append(f"(?P<g{len(names)}>.+?)")
            names.append(m.group(0))
            last = m.end()
        parts.append(re.escape(msgid[last:]))
        self.patterns.append((re.compile("^" + "".join(parts) + "$", re.S), msgstr, names))

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
                    # a value may be a message too (a status label, a reason): translated in turn
                    out = out.replace(name, self.get(m.group(f"g{i}"), depth + 1))
                return out
        return text


@functools.cache
def catalogue(lang: str) -> Catalogue | None:
    if lang == DEFAULT:
        return None
    return Catalogue(os.path.join(LOCALE_DIR, lang.replace("-", "_"), "LC_MESSAGES", "messages.po"))


def gettext(lang: str, text: str, **values) -> str:
    cat = catalogue(lang)
    out = cat.get(text) if cat else text
    for k, v in values.items():
        out = out.replace("{" + k + "}", str(v))
    return out


def translate_error(payload: dict, lang: str) -> dict:
    """An error answer {"code", "message", "fields"} in the reader's language."""
    cat = catalogue(lang)
    if cat is None or not isinstance(payload, dict):
        return payload
    out = dict(payload)
    if isinstance(out.get("message"), str):
        out["message"] = cat.get(out["message"])
    if isinstance(out.get("fields"), dict):
        out["fields"] = _translate_tree(out["fields"], cat)
    return out


def _translate_tree(value, cat: Catalogue):
    if isinstance(value, str):
        return cat.get(value)
    if isinstance(value, list):
        return [_translate_tree(v, cat) for v in value]
    if isinstance(value, dict):
        return {k: _translate_tree(v, cat) for k, v in value.items()}
    return value


def translate_json_error(raw: bytes, lang: str) -> bytes | None:
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return json.dumps(translate_error(payload, lang), ensure_ascii=False).encode()


def js_messages(lang: str, messages: list[str]) -> dict[str, str]:
    """The messages a page's script needs, in the reader's language (sent with the page)."""
    cat = catalogue(lang)
    return {m: cat.get(m) for m in messages} if cat else {}

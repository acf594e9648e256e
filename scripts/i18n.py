"""Keep the English catalogue in step with the Chinese messages written in the code.

python scripts/i18n.py           extract every message and update
                                 services/gateway/locale/en/LC_MESSAGES/messages.po: new messages are
                                 added untranslated, translations are kept, messages gone from the code
                                 are dropped
python scripts/i18n.py --check   change nothing; exit 1 listing every message without an English
                                 translation and every translation whose {placeholders} differ from its
                                 message's

Babel's extractors read the messages, as babel.cfg says: in Python the templates passed to an
error, to Message or to N_; in the page templates _("…"); in the pages' scripts t("…"). The
catalogue has no line numbers (`--no-location`), so moving code does not change it.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import os
import re
import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # babel.cfg names this module's extraction method as scripts.i18n
    sys.path.insert(0, ROOT)
MAPPING = os.path.join(ROOT, "babel.cfg")
PO_FILE = os.path.join(ROOT, "services", "gateway", "locale", "en", "LC_MESSAGES", "messages.po")

CHINESE = re.compile("[\u4e00-\u9fff\u3001-\u303f！（），：；？]")
PLACEHOLDER = re.compile(r"\{[^{}]+\}")

HEADER = """\
# English for 送文化下基层. Every message is written in Chinese in the code and is its own msgid.
# `python scripts/i18n.py` adds new messages and drops gone ones; `--check` lists what is missing.
# A msgstr keeps exactly the {placeholders} of its msgid."""

Messages = dict[str, list[tuple[str, int]]]


def mapping(path: str = MAPPING):
    with open(path, encoding="utf-8") as f:
        return parse_mapping_cfg(f, path)


def extract(root: str = ROOT) -> Messages:
    """Every message with the places it is written, as {message: [(path, line), …]}."""
    method_map, options_map = mapping(os.path.join(root, "babel.cfg"))
    found: Messages = {}
    try:
        for path, lineno, message, _comments, _context in extract_from_dir(root, method_map, options_map):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append((path.replace(os.sep, "/"), lineno))
    except SyntaxError as err:  # a Python file Babel's reader gave up on, or a page template
        raise SystemExit(f"{err.filename}:{err.lineno}: cannot read: {err.msg}") from err
    return found


# ----------------------------------------------------- every Chinese string of a file (the test that all are marked)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes: a module's, class's or function's first statement string."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                out.add(id(first.value))
    return out


def _fstring(node: ast.JoinedStr, source: str) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(value.value)
        elif isinstance(value, ast.FormattedValue):
            parts.append("{" + (ast.get_source_segment(source, value.value) or "") + "}")
    return "".join(parts)


def python_messages(source: str) -> list[tuple[str, int]]:
    """(message, line) for every Chinese string constant and f-string in one Python file."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values if isinstance(part, ast.Constant))
            for part in node.values:
                if isinstance(part, ast.FormattedValue) and part.format_spec is not None:
                    skip.update(id(inner) for inner in ast.walk(part.format_spec))
            text = _fstring(node, source)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if CHINESE.search(text):
            out.append((text, node.lineno))
    return out


# ----------------------------------------------------- the catalogue


def load(path: str | None = None) -> Catalog | None:
    path = path or PO_FILE
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return read_po(f)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def problems(found: Messages, catalog: Catalog | None) -> list[str]:
    """What keeps the catalogue from being complete, one line each."""
    out = []
    for msgid in sorted(found):
        message = catalog.get(msgid) if catalog is not None else None
        where = "{}:{}".format(*found[msgid][0])
        if message is None or not message.string or message.fuzzy:
            out.append(f"untranslated ({where}): {msgid}")
        elif placeholders(message.string) != placeholders(msgid):
            out.append(f"placeholders differ ({where}): {msgid} -> {message.string}")
    return out


def updated(found: Messages, old: Catalog | None) -> Catalog:
    """A catalogue with exactly the messages found, keeping the translations already made."""
    now = dt.datetime.now(dt.timezone.utc)
    catalog = Catalog(
        locale="en",
        header_comment=HEADER,
        project="送文化下基层",
        version="1",
        creation_date=old.creation_date if old is not None else now,
        revision_date=old.revision_date if old is not None else now,
        language_team="English",
        fuzzy=False,
    )
    for msgid in found:
        previous = old.get(msgid) if old is not None else None
        catalog.add(
            msgid,
            string=previous.string if previous is not None else "",
            flags=previous.flags if previous is not None else (),
        )
    return catalog


def render(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=0, no_location=True, sort_output=True, ignore_obsolete=True)
    return out.getvalue()


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print(__doc__)
        return 2
    found = extract()
    old = load()
    if argv == ["--check"]:
        issues = problems(found, old)
        for line in issues:
            print(line)
        print(f"{len(found)} messages, {len(issues)} problem(s)")
        return 1 if issues else 0
    catalog = updated(found, old)
    content = render(catalog)
    previous = b""
    if os.path.exists(PO_FILE):
        with open(PO_FILE, "rb") as f:
            previous = f.read()
    if content != previous:
        os.makedirs(os.path.dirname(PO_FILE), exist_ok=True)
        with open(PO_FILE, "wb") as f:
            f.write(content)
    dropped = len([m for m in old if m.id and m.id not in found]) if old is not None else 0
    untranslated = len([m for m in catalog if m.id and not m.string])
    print(f"{os.path.relpath(PO_FILE, ROOT)}: {len(found)} messages, {untranslated} untranslated, {dropped} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

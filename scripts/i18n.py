"""Keep the English catalogue in step with the Chinese messages written in the code.

python scripts/i18n.py           extract every message and update
                                 services/gateway/locale/en/LC_MESSAGES/messages.po: new messages are
                                 added untranslated, translations are kept, messages gone from the code
                                 are dropped
python scripts/i18n.py --check   change nothing; exit 1 listing every message without an English
                                 translation and every translation whose {placeholders} differ from its
                                 message's

Messages come from three places:
  - Python in services/, common/ and contracts/: every string constant with a Chinese character or
    Chinese punctuation, except docstrings; an f-string is one message whose values are written
    as {the expression's source}, e.g. "一个系列最多 {MAX_OCCURRENCES} 次。"
  - the page templates services/gateway/templates/*.html: _("…") calls
  - the page scripts services/gateway/static/*.js: t("…") calls
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import os
import re
import sys

import jinja2
import jinja2.ext
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_DIRS = ("services", "common", "contracts")
TEMPLATES = os.path.join("services", "gateway", "templates")
STATIC = os.path.join("services", "gateway", "static")
PO_FILE = os.path.join(ROOT, "services", "gateway", "locale", "en", "LC_MESSAGES", "messages.po")

CHINESE = re.compile("[\u4e00-\u9fff\u3001-\u303f！（），：；？]")
PLACEHOLDER = re.compile(r"\{[^{}]+\}")
TEMPLATE_CALL = re.compile(r"""(?<![\w.])_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
SCRIPT_CALL = re.compile(r"""\bt\(\s*"((?:[^"\\]|\\.)+)"|\bt\(\s*'((?:[^'\\]|\\.)+)'""")

HEADER = """\
# English for 送文化下基层. Every message is written in Chinese in the code and is its own msgid.
# `python scripts/i18n.py` adds new messages and drops gone ones; `--check` lists what is missing.
# A msgstr keeps exactly the {placeholders} of its msgid."""

Messages = dict[str, list[tuple[str, int]]]


def _add(found: Messages, msgid: str, path: str, lineno: int) -> None:
    found.setdefault(msgid, []).append((path.replace(os.sep, "/"), lineno))


def _files(root: str, folder: str, suffix: str) -> list[str]:
    out = []
    for here, dirs, names in os.walk(os.path.join(root, folder)):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        out += [os.path.join(here, n) for n in sorted(names) if n.endswith(suffix)]
    return out


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


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def template_messages(source: str) -> list[tuple[str, int]]:
    """(message, line) for every _("…") call in one template; a regex reads a template Jinja cannot parse."""
    try:
        tree = jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError:
        return [
            (_unescape(m.group(1) if m.group(1) is not None else m.group(2)), source.count("\n", 0, m.start()) + 1)
            for m in TEMPLATE_CALL.finditer(source)
        ]
    return [
        (strings[0], lineno)
        for lineno, _name, strings in jinja2.ext.extract_from_ast(tree, ("_",), babel_style=False)
        if strings and strings[0]
    ]


def script_messages(source: str) -> list[tuple[str, int]]:
    """(message, line) for every t("…") call in one script, as the pages look them up."""
    return [(m.group(1) or m.group(2), source.count("\n", 0, m.start()) + 1) for m in SCRIPT_CALL.finditer(source)]


def extract(root: str = ROOT) -> Messages:
    """Every message with the places it is written, as {message: [(path, line), …]}."""
    sources = [(path, python_messages) for folder in PYTHON_DIRS for path in _files(root, folder, ".py")]
    sources += [(path, template_messages) for path in _files(root, TEMPLATES, ".html")]
    # the pages' own scripts; third-party code under static/vendor/ is not ours to translate
    own = os.path.join(root, STATIC)
    sources += [(path, script_messages) for path in _files(root, STATIC, ".js") if os.path.dirname(path) == own]
    found: Messages = {}
    for path, read in sources:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        try:
            messages = read(source)
        except SyntaxError as err:
            raise SystemExit(f"{os.path.relpath(path, root)}:{err.lineno}: cannot read: {err.msg}") from err
        for text, lineno in messages:
            _add(found, text, os.path.relpath(path, root), lineno)
    return found


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
    for msgid, locations in found.items():
        previous = old.get(msgid) if old is not None else None
        catalog.add(
            msgid,
            string=previous.string if previous is not None else "",
            locations=sorted(set(locations)),
            flags=previous.flags if previous is not None else (),
        )
    return catalog


def render(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=0, sort_output=True, ignore_obsolete=True)
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

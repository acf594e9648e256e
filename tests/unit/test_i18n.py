"""The English catalogue: every Chinese message has a translation with the same placeholders;
messages are found by Babel's extractors; errors carry a template and values, over RPC too, and
the gateway says them in English by looking the template up."""

import ast
import datetime as dt
import json
import os
import shutil

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from nameko.exceptions import deserialize, serialize

from common.errors import Conflict, Invalid, Message, ServiceError, load
from contracts import payloads
from scripts import i18n as extraction
from services.gateway import i18n
from services.notifications import domain as notices
from services.orders import domain as orders

PO = extraction.PO_FILE
ROOT = extraction.ROOT
CN = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 1, 9, 49, 41, tzinfo=CN)


def english() -> i18n.Catalogue:
    return i18n.Catalogue(PO)


def over_rpc(error: ServiceError) -> ServiceError:
    """What the gateway receives: nameko's serialisation of the error, through JSON."""
    return deserialize(json.loads(json.dumps(serialize(error))))


# ------------------------------------------------------------------ the catalogue is complete


def test_every_message_in_the_code_has_an_english_translation(capsys):
    assert os.path.exists(PO)
    assert extraction.problems(extraction.extract(), extraction.load()) == []
    assert extraction.main(["--check"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


def test_the_check_fails_when_a_message_has_no_translation(monkeypatch, capsys):
    real = extraction.load()
    incomplete = Catalog(locale="en")
    for message in real:
        if message.id and message.id != "找不到这个订单。":
            incomplete.add(message.id, message.string)
    monkeypatch.setattr(extraction, "load", lambda path=None: incomplete)
    assert extraction.main(["--check"]) == 1
    first, last = capsys.readouterr().out.splitlines()
    assert first.startswith("untranslated (services/orders/repository.py:") and first.endswith(": 找不到这个订单。")
    assert last.endswith("1 problem(s)")


def test_the_check_reports_a_missing_translation_and_different_placeholders():
    found = {
        "请先登录。": [("services/accounts/service.py", 120)],
        "一个系列最多 {n} 次。": [("services/orders/domain.py", 156)],
        "找不到这个订单。": [("services/orders/repository.py", 53)],
    }
    catalog = Catalog(locale="en")
    catalog.add("请先登录。", "Please log in first.")
    catalog.add("一个系列最多 {n} 次。", "A series can have at most {count} occurrences.")
    issues = extraction.problems(found, catalog)
    assert len(issues) == 2
    assert any(line.startswith("untranslated") and "找不到这个订单。" in line for line in issues)
    assert any(line.startswith("placeholders differ") and "{n}" in line for line in issues)
    assert len(extraction.problems(found, None)) == 3


def test_every_translation_keeps_the_placeholders_of_its_message():
    with open(PO, "rb") as f:
        catalog = read_po(f)
    messages = [m for m in catalog if m.id]
    assert messages
    for message in messages:
        assert message.string, message.id
        assert not message.fuzzy, message.id
        assert not message.locations, message.id  # moving code does not change the catalogue
        assert extraction.placeholders(message.string) == extraction.placeholders(message.id), message.id


def test_writing_the_catalogue_again_changes_nothing():
    with open(PO, "rb") as f:
        assert extraction.render(extraction.updated(extraction.extract(), extraction.load())) == f.read()


# ------------------------------------------------------------------ what Babel finds


def test_babel_finds_templates_passed_to_errors_messages_n_and_the_pages(tmp_path):
    shutil.copy(os.path.join(ROOT, "babel.cfg"), tmp_path / "babel.cfg")
    (tmp_path / "services" / "x").mkdir(parents=True)
    (tmp_path / "services" / "x" / "handlers.py").write_text(
        '''"""说明：不是消息。"""
LABELS = {"a": N_("已提交")}


def f(n, skill):
    if n:
        raise Invalid("一个系列最多 {n} 次。", params={"n": n})
    raise domain.illegal("订单当前状态为「{current}」。", fields={"x": [Message("应为 {min} 到 {max} 之间的数。", min=1, max=2)]})
    log = "没有标记的话"
    raise Conflict(f"这个节目不需要「{skill}」。")
''',
        encoding="utf-8",
    )
    pages = tmp_path / "services" / "gateway"
    (pages / "templates").mkdir(parents=True)
    (pages / "static" / "vendor").mkdir(parents=True)
    (pages / "templates" / "a.html").write_text(
        "{% if x %}<h1>{{ _(\"共 {n} 个\", n=3) }}</h1>{% endif %}<p>{{ _('退出') }}</p>{{ name }}", encoding="utf-8"
    )
    (pages / "static" / "a.js").write_text(
        'App.toast(t("已保存。"));\nel("b", {}, t(\'{n} 分钟\', {n: 3}));', encoding="utf-8"
    )
    (pages / "static" / "vendor" / "lib.js").write_text('t("第三方");', encoding="utf-8")
    found = extraction.extract(str(tmp_path))
    assert sorted(found) == sorted(
        [
            "已提交",
            "一个系列最多 {n} 次。",
            "订单当前状态为「{current}」。",
            "应为 {min} 到 {max} 之间的数。",
            "共 {n} 个",
            "退出",
            "已保存。",
            "{n} 分钟",
        ]
    )
    assert "这个节目不需要「{skill}」。" not in found  # an f-string is no template


def test_a_page_template_babel_cannot_read_stops_the_extraction(tmp_path):
    shutil.copy(os.path.join(ROOT, "babel.cfg"), tmp_path / "babel.cfg")
    (tmp_path / "services" / "gateway" / "templates").mkdir(parents=True)
    (tmp_path / "services" / "gateway" / "templates" / "a.html").write_text('{% if %}{{ _("退出") }}', encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - Jinja's own syntax error, not a silent empty list
        extraction.extract(str(tmp_path))


def test_the_reader_of_every_chinese_string_skips_docstrings_and_keeps_f_string_expressions():
    source = '''"""模块说明。"""


def f(offer, labels):
    """函数说明。"""
    name = "english only"
    raise ValueError(f"{offer['skill']} 已没有可邀请的志愿者（{labels.get('x', '已处理')}）")
'''
    messages = [text for text, _line in extraction.python_messages(source)]
    assert sorted(messages) == sorted(
        ["{offer['skill']} 已没有可邀请的志愿者（{labels.get('x', '已处理')}）", "已处理"]
    )


# Chinese text never shown in another language (PDFs, the spreadsheet, the calendar feed, the
# e-mail wrapper, the event descriptions of the AsyncAPI document)
CHINESE_ONLY_FILES = {
    "contracts/asyncapi.py",
    "contracts/events.py",
    "services/gateway/calendar.py",
    "services/gateway/pdf.py",
    "services/gateway/reports.py",
    "services/notifications/channels.py",
    # the spreadsheets' own text: column headers, the 说明 sheet, example rows, file names
    "services/dispatch/import_columns.py",
    "services/gateway/sheets.py",
}
CHINESE_ONLY = {
    ("services/gateway/service.py", "海报_{title}_{day}.pdf"),  # the poster's file name
    ("common/config.py", "送文化下基层 <noreply@localhost>"),  # the e-mail sender's name
    # list separators between values that are messages themselves
    ("services/dispatch/planner.py", "，"),
    ("services/dispatch/planner.py", "；"),
    ("services/dispatch/handlers/planning.py", "、"),
    ("services/dispatch/handlers/alliance.py", "、"),
    ("services/gateway/pages.py", "扫码评议"),  # the title inside a QR code's SVG
    # what an erasure writes into the data in place of a person (stored, the same in every language)
    ("common/personal.py", "（已删除）"),
    ("common/personal.py", "（已注销）"),
    ("services/accounts/domain.py", "已注销用户-{erasure_id[:8]}"),
    # how a spreadsheet's cell is read and written: separators, a need's "声乐×2", a member's
    # "姓名（手机号）" (the file's own format, the same in every language)
    ("services/dispatch/import_cells.py", "、"),
    ("services/gateway/sheets.py", "、"),
    ("services/dispatch/import_cells.py", "[、,，;；\\n\\r]+"),
    (
        "services/dispatch/import_cells.py",
        "^(?P<skill>.+?)\\s*(?:[×xX*:：]\\s*(?P<n>\\d+)\\s*人?|(?P<m>\\d+)\\s*人?)?$",
    ),
    ("services/dispatch/import_cells.py", "^(?P<label>.*?)\\s*[（(]\\s*(?P<inner>[^()（）]+?)\\s*[)）]$"),
    ("services/dispatch/import_cells.py", "{record.get('name')}（{record.get('phone')}）"),
}


def _python_files():
    for folder in ("services", "common", "contracts"):
        for here, dirs, names in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(here, name), ROOT).replace(os.sep, "/")


def _in_errors(source: str) -> set[str]:
    """The Chinese strings written inside the errors made in one file."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _name(node) in ERRORS:
            out.update(
                n.value
                for n in ast.walk(node)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and extraction.CHINESE.search(n.value)
            )
    return out


def test_every_chinese_string_in_the_python_code_is_marked_for_the_catalogue():
    found = extraction.extract()
    unmarked = []
    for path in _python_files():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            source = f.read()
        shown = _in_errors(source) if path in CHINESE_ONLY_FILES else None  # there only what errors say
        for text, line in extraction.python_messages(source):
            if shown is not None and text not in shown:
                continue
            if text not in found and (path, text) not in CHINESE_ONLY:
                unmarked.append(f"{path}:{line}: {text}")
    assert unmarked == []


# ------------------------------------------------------------------ every error passes a template

ERRORS = {
    "ServiceError",
    "Invalid",
    "NotFound",
    "Forbidden",
    "Conflict",
    "Unavailable",
    "Unauthorized",
    "BadJson",
    "TooLarge",
    "TooManyRequests",
    "SheetError",
    "Throttled",
    "illegal",
}
# Sites that still build their message from values, in files other work is changing now; they
# pass templates once that work has landed, and this list is empty again. (path, message as written)
ALLOWED = {
    # a fixed message from a table (marked N_ there)
    ("services/dispatch/repository.py", "message"),
    # a domain error's message, itself made from a literal template where the rule refuses
    ("services/dispatch/handlers/alliance.py", "err.message"),
    ("services/dispatch/handlers/day.py", "err.message"),
}


def _name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _forwards(call: ast.Call, function) -> bool:
    """`illegal(message, …)` hands its own template on to Conflict."""
    first = call.args[0] if call.args else None
    return (
        function is not None
        and function.name in ERRORS
        and isinstance(first, ast.Name)
        and function.args.args
        and first.id == function.args.args[0].arg
    )


def raise_sites():
    """(path, line, the message argument as written, literal?) for every error made in the code."""
    for path in _python_files():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source)
        functions = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    functions.setdefault(id(inner), node) if inner is not node else None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if _name(node) not in ERRORS:
                continue
            message = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "message"), None)
            if message is None or _forwards(node, functions.get(id(node))):
                continue
            literal = isinstance(message, ast.Constant) and isinstance(message.value, str)
            built = any(isinstance(n, ast.JoinedStr) for n in ast.walk(node))  # no f-string in fields either
            yield path, node.lineno, ast.get_source_segment(source, message), literal and not built


def test_every_error_is_made_from_a_literal_template():
    sites = list(raise_sites())
    assert len(sites) > 100
    built = {(path, text) for path, _line, text, literal in sites if not literal}
    assert built - ALLOWED == set(), "pass a literal template and params={…}, not a finished text"
    assert ALLOWED - built == set(), "converted: take it off ALLOWED"


# ------------------------------------------------------------------ errors carry template and values


def test_an_error_reads_in_chinese_and_keeps_its_template_and_values_over_rpc():
    error = Conflict("一个系列最多 {n} 次。", params={"n": 52})
    assert error.message == "一个系列最多 52 次。"
    assert error.to_dict() == {"code": "CONFLICT", "message": "一个系列最多 52 次。"}
    received = over_rpc(error)
    assert type(received) is Conflict and received.message == "一个系列最多 52 次。" and received.code == "CONFLICT"
    assert received.template.template == "一个系列最多 {n} 次。"
    assert i18n.error_payload(received, "en") == {
        "code": "CONFLICT",
        "message": "A series can have at most 52 occurrences.",
    }
    assert i18n.error_payload(received, "zh-CN") == {"code": "CONFLICT", "message": "一个系列最多 52 次。"}


def test_a_value_that_is_a_message_is_translated_in_turn():
    order = {"status": "scheduled", "history": []}
    with pytest.raises(Conflict) as err:
        orders.move(order, "accepted", NOW)
    assert err.value.message == "订单当前状态为「已排期」，不能变为「已受理」。"
    assert err.value.fields == {"status": ["scheduled"]}
    english_ = i18n.error_payload(over_rpc(err.value), "en")
    assert english_["message"] == 'The order is "Scheduled" and cannot become "Accepted".'
    assert english_["fields"] == {"status": ["scheduled"]}


def test_time_rule_messages_are_said_in_english_with_their_dates():
    windows = [{"start": NOW + dt.timedelta(hours=1), "end": NOW + dt.timedelta(hours=30)}]
    with pytest.raises(Invalid) as err:
        orders.check_windows(windows, NOW.astimezone(dt.UTC))
    assert err.value.fields == {
        "windows.0.start": ["最早可约 12 月 3 日 09:50 之后（需提前 48 小时）。"],
        "windows.0.end": ["一个时间段不能超过 24 小时。"],
    }
    english_ = i18n.error_payload(over_rpc(err.value), "en")
    assert english_["message"] == "Some of what you submitted is invalid; please check the marked fields."
    assert english_["fields"] == {
        "windows.0.start": ["The earliest you can book is after 12/3 09:50 (48 hours' notice needed)."],
        "windows.0.end": ["A time window cannot be longer than 24 hours."],
    }


def test_a_series_beyond_the_horizon_names_the_occurrence_and_the_day():
    first = {"start": dt.datetime(2027, 11, 23, 9, tzinfo=CN), "end": dt.datetime(2027, 11, 23, 11, tzinfo=CN)}
    windows = orders.occurrences(first, "FREQ=WEEKLY;COUNT=3")
    with pytest.raises(Invalid) as err:
        orders.check_windows(windows, NOW.astimezone(dt.UTC), series=True)
    assert err.value.fields["rrule"][0] == "第 3 次（2027 年 12 月 7 日）超出了预约范围。"
    said = i18n.error_payload(over_rpc(err.value), "en")["fields"]["rrule"]
    assert said == [
        "Occurrence 3 (2027-12-7) is beyond the booking range.",
        "You can book at most one year ahead (before 2027-12-1).",
    ]


def test_field_messages_of_the_contracts_keep_their_values():
    bad = {"site_address": "x" * 5000, "audience_size": 0, "kind": "nope"}
    with pytest.raises(Invalid) as err:
        load(payloads.PlaceOrder, {**bad, "windows": []})
    fields = err.value.fields
    assert fields["site_address"] == ["服务地点最多 200 字，现在是 5000 字。"]
    assert fields["audience_size"] == ["应为 1 到 100000 之间的整数。"]
    said = i18n.error_payload(over_rpc(err.value), "en")["fields"]
    assert said["site_address"] == ["Venue can be at most 200 characters long; it is 5000 now."]
    assert said["audience_size"] == ["Must be a whole number from 1 to 100000."]
    assert said["windows"] == ["Give 1 to 10 possible time slots."]


def test_a_message_not_in_the_catalogue_stays_as_written():
    error = over_rpc(Invalid("一句目录里没有的话", fields={"note": ["另一句目录里没有的话"]}))
    assert i18n.error_payload(error, "en") == {
        "code": "INVALID",
        "message": "一句目录里没有的话",
        "fields": {"note": ["另一句目录里没有的话"]},
    }


def test_an_answer_made_without_an_error_is_translated_by_its_fixed_message():
    raw = json.dumps({"code": "NOT_FOUND", "message": "找不到这个地址。"}, ensure_ascii=False).encode()
    assert json.loads(i18n.translate_json_error(raw, "en")) == {
        "code": "NOT_FOUND",
        "message": "Nothing found at this address.",
    }
    assert i18n.translate_json_error(b"not json", "en") is None


def test_messages_of_sites_not_converted_yet_are_still_said_in_english():
    # e.g. services/dispatch/handlers.py, on ALLOWED above; goes with that list
    cat = english()
    assert (
        cat.say(Message("这位志愿者没有登记「声乐」这项技能。"))
        == 'This volunteer has not registered the skill "声乐".'
    )


def test_a_notification_is_said_in_english_from_its_template():
    draft = notices.drafts(
        "order_unfulfillable",
        {"order_id": "o1", "palace_id": "p1", "enterprise_id": "e1", "reason": "没有人有空"},
        {"program_title": "合唱", "site_address": "一号车间", "start": dt.datetime(2026, 12, 5, 5, tzinfo=dt.UTC)},
        {},
        [],
    )[0]
    assert draft.body == "「合唱」暂时找不到合适的人员：没有人有空。文化宫调度员会与您联系。"
    cat = english()
    body = Message.of(json.loads(json.dumps(draft.body.wire())))
    assert cat.say(draft.title) == cat.get("订单暂时无法安排") != "订单暂时无法安排"
    assert "合唱" in cat.say(body) and "没有人有空" in cat.say(body) and "暂时" not in cat.say(body)

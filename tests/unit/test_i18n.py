"""The English catalogue: every Chinese message has a translation with the same placeholders, and
the gateway finds it both for fixed messages and for messages built with values."""

import os

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from scripts import i18n as extraction
from services.gateway import i18n

PO = extraction.PO_FILE


def english() -> i18n.Catalogue:
    return i18n.Catalogue(PO)


def test_every_message_in_the_code_has_an_english_translation(capsys):
    assert os.path.exists(PO)
    assert extraction.problems(extraction.extract(), extraction.load()) == []
    assert extraction.main(["--check"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


def test_the_check_fails_when_a_message_has_no_translation(monkeypatch, capsys):
    real = extraction.load()
    incomplete = Catalog(locale="en")
    for message in real:
        if message.id and message.id != "请先登录。":
            incomplete.add(message.id, message.string)
    monkeypatch.setattr(extraction, "load", lambda path=None: incomplete)
    assert extraction.main(["--check"]) == 1
    first, last = capsys.readouterr().out.splitlines()
    assert first.startswith("untranslated (services/accounts/") and first.endswith(": 请先登录。")
    assert last.endswith("1 problem(s)")


def test_the_check_reports_a_missing_translation_and_different_placeholders():
    found = {
        "请先登录。": [("services/accounts/service.py", 120)],
        "一个系列最多 {MAX_OCCURRENCES} 次。": [("services/orders/domain.py", 156)],
        "找不到这个订单。": [("services/orders/repository.py", 53)],
    }
    catalog = Catalog(locale="en")
    catalog.add("请先登录。", "Please log in first.")
    catalog.add("一个系列最多 {MAX_OCCURRENCES} 次。", "A series can have at most {n} occurrences.")
    issues = extraction.problems(found, catalog)
    assert len(issues) == 2
    assert any(line.startswith("untranslated") and "找不到这个订单。" in line for line in issues)
    assert any(line.startswith("placeholders differ") and "{MAX_OCCURRENCES}" in line for line in issues)
    assert len(extraction.problems(found, None)) == 3


def test_python_messages_skip_docstrings_and_keep_f_string_expressions():
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


def test_template_and_script_messages():
    template = "<h1>{{ _(\"共 {n} 个\", n=3) }}</h1><p>{{ _('退出') }}</p>{{ name }}"
    assert [text for text, _line in extraction.template_messages(template)] == ["共 {n} 个", "退出"]
    broken = '{% if %}{{ _("退出") }}'
    assert [text for text, _line in extraction.template_messages(broken)] == ["退出"]
    script = 'App.toast(t("已保存。"));\nel("b", {}, t(\'{n} 分钟\', {n: 3}));'
    assert extraction.script_messages(script) == [("已保存。", 1), ("{n} 分钟", 2)]


def test_the_catalogue_translates_exact_and_pattern_messages():
    cat = english()
    assert cat.get("请先登录。") == "Please log in first."
    assert cat.get("一个系列最多 52 次。") == "A series can have at most 52 occurrences."
    assert cat.get("长度应在 2 到 64 个字符之间。") == "Must be between 2 and 64 characters long."
    assert cat.get("这位志愿者没有登记「声乐」这项技能。") == 'This volunteer has not registered the skill "声乐".'


def test_translate_error_translates_message_and_nested_fields_and_keeps_unknown_text():
    payload = {
        "code": "VALIDATION",
        "message": "提交的内容有误，请检查标出的字段。",
        "fields": {
            "windows": {"0": {"end": ["结束时间应晚于开始时间。"]}},
            "needs": ["最多 20 项。"],
            "note": ["一句目录里没有的话"],
        },
    }
    out = i18n.translate_error(payload, "en")
    assert out["code"] == "VALIDATION"
    assert out["message"] == "Some of what you submitted is invalid; please check the marked fields."
    assert out["fields"] == {
        "windows": {"0": {"end": ["The end time must be after the start time."]}},
        "needs": ["At most 20 items."],
        "note": ["一句目录里没有的话"],
    }
    assert i18n.translate_error(payload, "zh-CN") == payload
    assert i18n.translate_error({"message": "一句目录里没有的话"}, "en") == {"message": "一句目录里没有的话"}


def test_every_translation_keeps_the_placeholders_of_its_message():
    with open(PO, "rb") as f:
        catalog = read_po(f)
    messages = [m for m in catalog if m.id]
    assert messages
    for message in messages:
        assert message.string, message.id
        assert not message.fuzzy, message.id
        assert extraction.placeholders(message.string) == extraction.placeholders(message.id), message.id

"""Every setting is named once, in common.config.SETTINGS: the code reads only keys it names,
without defaults of its own, and config.yml and the README's tables say what it says."""

import os
import re

import pytest

from common import config
from common.config import DEFAULTS, SETTINGS, TABLE, setting

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READS = re.compile(r"\bsetting\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*[\"']([A-Za-z_]+)[\"']\s*(,?)")


def sources():
    for folder in ("services", "common", "scripts", "bench"):
        for here, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(here, name)
                    with open(path, encoding="utf-8") as f:
                        yield os.path.relpath(path, ROOT), f.read()


def test_each_setting_is_named_once_with_a_default_of_its_type_and_a_meaning():
    assert len(TABLE) == len(SETTINGS)
    for entry in SETTINGS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", entry.key)
        assert entry.type(entry.default) == entry.default, entry.key
        assert entry.meaning and "\n" not in entry.meaning, entry.key
        assert entry.section in {"system", "notifications", "run"}, entry.key


def test_the_code_reads_only_settings_of_the_table_and_gives_no_default_of_its_own():
    read = set()
    for path, text in sources():
        for key, more in READS.findall(text):
            assert key in TABLE, f"{path}: {key} is not in common.config.SETTINGS"
            assert not more, f"{path}: setting(…, {key!r}, …) gives a default of its own"
            read.add(key)
    assert len(read) > 30  # the pattern still finds the reads


def test_a_setting_is_read_from_config_then_the_environment_then_the_table(monkeypatch):
    monkeypatch.delenv("OFFER_HOURS", raising=False)
    monkeypatch.delenv("SMTP_SSL", raising=False)
    assert setting({}, "OFFER_HOURS") == 24.0 and isinstance(setting(None, "OFFER_HOURS"), float)
    assert setting({"OFFER_HOURS": ""}, "OFFER_HOURS") == 24.0  # empty counts as unset
    monkeypatch.setenv("OFFER_HOURS", "6")
    assert setting({}, "OFFER_HOURS") == 6.0
    assert setting({"OFFER_HOURS": 3}, "OFFER_HOURS") == 3.0
    assert setting({"SMTP_PORT": "465"}, "SMTP_PORT") == 465
    assert setting({}, "SMTP_SSL") is False
    assert setting({"SMTP_SSL": "yes"}, "SMTP_SSL") is True
    assert setting({"SMTP_SSL": 0}, "SMTP_SSL") is False
    assert setting({"METRICS_PORT": None}, "METRICS_PORT") == 0
    with pytest.raises(KeyError, match="NO_SUCH_SETTING"):
        setting({"NO_SUCH_SETTING": "1"}, "NO_SUCH_SETTING")


def test_a_service_runs_with_the_tables_defaults(monkeypatch):
    for key in ("AMQP_URI", "MONGO_URI", "DB_PREFIX", "WEB_SERVER_ADDRESS", "PORT", "MAX_WORKERS"):
        monkeypatch.delenv(key, raising=False)
    made = config.nameko_config()
    assert made["AMQP_URI"] == DEFAULTS["AMQP_URI"] and made["MONGO_URI"] == DEFAULTS["MONGO_URI"]
    assert made["WEB_SERVER_ADDRESS"] == "127.0.0.1:8000" and made["max_workers"] == 10
    assert config.nameko_config(PORT="9000")["WEB_SERVER_ADDRESS"] == "127.0.0.1:9000"


def test_config_yml_gives_each_setting_the_default_of_the_table():
    with open(os.path.join(ROOT, "config.yml"), encoding="utf-8") as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("#"))
    found = re.findall(r"\$\{([A-Z_0-9]+)(?::([^}]*))?\}", text)
    assert len(found) > 20
    for key, default in found:
        assert key in TABLE, f"config.yml reads {key}, which is not in common.config.SETTINGS"
        wanted = config.shown(TABLE[key])
        if key == "WEB_SERVER_ADDRESS":  # empty in the table: 127.0.0.1 on PORT
            wanted = f"127.0.0.1:{DEFAULTS['PORT']}"
        assert default == wanted, f"config.yml: {key} defaults to {default!r}, the table to {wanted!r}"


def test_the_readme_tables_are_the_tables_written_from_settings():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert config.with_readme_tables(text) == text, "run python -m common.config to write the README's tables"
    for entry in SETTINGS:
        assert f"| `{entry.key}` |" in text, entry.key

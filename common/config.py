"""Configuration: one table of every setting, read through one helper.

``SETTINGS`` names each setting once: its key, its default, its type and what it means. nameko
2.14 hands config to extensions as ``container.config``; ``setting(config, key)`` reads the key
from there first (``config.yml`` fills it from the environment), then from the environment,
then takes the table's default, and returns it as the table's type. An empty value counts as
unset. A key missing from the table is an error.

``config.yml`` and the settings tables of the README are checked against this table
(``tests/unit/test_settings.py``); ``python -m common.config`` writes the README's tables (``--check``: only compares).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nameko.extensions import DependencyProvider


def flag(value: Any) -> bool:
    """A yes/no setting: ``1``, ``true``, ``yes`` or ``on`` is yes."""
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    type: Any  # str, int, float or flag: turns a value from config or the environment into the setting
    meaning: str  # one line, as the README's table says it
    section: str = "system"  # which table of the README lists it: system, notifications, run


S, N, R = "system", "notifications", "run"

SETTINGS: tuple[Setting, ...] = (
    # -- where the services meet
    Setting(
        "AMQP_URI",
        "amqp://guest:guest@127.0.0.1:5672/",
        str,
        "RabbitMQ; the nodes of a cluster separated by `;` (`amqp://…@rabbit-0:5672/;amqp://…@rabbit-1:5672/`): "
        "a process connects to the first that answers and moves to another when its node goes",
        S,
    ),
    Setting(
        "MONGO_URI",
        "mongodb://127.0.0.1:27017/?directConnection=true",
        str,
        "MongoDB (replica set in production); `make run` starts the embedded server on `MONGO_PORT` when unset",
        S,
    ),
    Setting("MONGO_TIMEOUT_MS", 10_000, int, "how long a service waits for MongoDB to answer (server selection)", S),
    Setting("DB_PREFIX", "", str, "put before every database name (the tests give each their own)", S),
    Setting("PORT", 8000, int, "gateway port", S),
    Setting("WEB_SERVER_ADDRESS", "", str, "where the gateway listens (empty: `127.0.0.1:PORT`)", S),
    Setting("MAX_WORKERS", 10, int, "workers per service process (nameko's `max_workers`)", S),
    Setting("LOG_LEVEL", "INFO", str, "log level of every service", S),
    Setting("LOG_FORMAT", "plain", str, "`plain` or `json` log lines", S),
    Setting("METRICS_PORT", 0, int, "port of a service process's Prometheus metrics (0: none)", S),
    Setting("METRICS_TOKEN", "", str, "bearer token the gateway's `/metrics` asks for (empty: none)", S),
    # -- the flow's rules
    Setting("OFFER_HOURS", 24.0, float, "offer deadline in hours (a palace's `offer_hours` overrides it)", S),
    Setting(
        "BATCH_SEARCH_SECONDS",
        8.0,
        float,
        "how long a palace's batch re-plan goes on improving its plan by the exact search after planning every order "
        "once (0: not at all); the batch's plan is ready within about this long",
        S,
    ),
    Setting("SURVEY_HOURS", 72.0, float, "survey window in hours", S),
    Setting("SURVEY_CLOSE_GRACE", 5.0, float, "seconds between a survey's close and its summary", S),
    Setting("FEED_SECRET", "songwenhua-local-feed-secret", str, "keys the volunteers' calendar feed addresses", S),
    Setting(
        "DAY_CLOCK",
        "real",
        str,
        "what the day's rules go by (check-in opens an hour before the start, a delivery is recorded only once its "
        "slot has started): `real`, the clock; `recorded`, a call's recorded time (`at`) where it gives one, so that "
        "`make demo`, the tests, the benchmarks and the fault suite play a delivery's day straight after scheduling "
        "(`make run` sets `recorded`); the screens record no time and go by the clock either way. Leave it `real` in "
        "production (docker-compose and deploy/ do)",
        S,
    ),
    # -- accounts and the gateway
    Setting("SESSION_HOURS", 12.0, float, "how long a sign-in lasts, in hours", S),
    Setting(
        "SESSION_CACHE_SECONDS",
        60.0,
        float,
        "how long a gateway process keeps a session it has seen (0: asks accounts on every request); "
        "a sign-out is told to every process at once",
        S,
    ),
    Setting("SESSION_CACHE_SIZE", 10_000, int, "sessions a gateway process keeps at most", S),
    Setting(
        "ERASURE_GRACE_DAYS",
        7.0,
        float,
        "days between a request to close an account and its erasure (cancellable until then); then every service "
        "removes or anonymises the person's data",
        S,
    ),
    Setting("RESET_HOURS", 24.0, float, "how long a password reset link a dispatcher made works (once), in hours", S),
    Setting(
        "INVITE_DAYS",
        14.0,
        float,
        "how long the claim code a new volunteer is sent (on import, on creation, or sent again from the volunteer "
        "list) works, once, in days",
        S,
    ),
    Setting(
        "INVITE_SECRET",
        "songwenhua-local-invite-secret",
        str,
        "keys the volunteers' claim codes (accounts and notifications derive a code from its invitation's id, so "
        "no event carries one): set your own in production",
        S,
    ),
    Setting(
        "SIGN_IN_FAILURES",
        5,
        int,
        "failed sign-ins to one account within `SIGN_IN_WINDOW_MINUTES` that lock it for `SIGN_IN_LOCK_MINUTES` "
        "(from the third on, each next try waits longer); a success starts the count again",
        S,
    ),
    Setting(
        "SIGN_IN_FAILURES_PER_CLIENT",
        20,
        int,
        "failed sign-ins from one client address within the window that lock that address (a factory's workers "
        "often share one)",
        S,
    ),
    Setting("SIGN_IN_WINDOW_MINUTES", 15.0, float, "the window failed sign-ins are counted in, in minutes", S),
    Setting("SIGN_IN_LOCK_MINUTES", 15.0, float, "how long a locked account or client address waits, in minutes", S),
    Setting(
        "TRUSTED_PROXY",
        False,
        flag,
        "`1`: the gateway is behind a proxy of its own, so a client's address is the last one of `X-Forwarded-For`; "
        "otherwise that header is ignored",
        S,
    ),
    Setting("SURVEY_CACHE_SECONDS", 1.0, float, "how long a gateway process keeps a survey the audience opened", S),
    Setting("FEEDBACK_LIMIT_PER_SURVEY", "3000/minute", str, "survey answers taken per survey", S),
    Setting("FEEDBACK_LIMIT_PER_CLIENT", "30/minute", str, "survey answers taken per phone", S),
    Setting(
        "RECIPIENTS_CACHE_SECONDS",
        30.0,
        float,
        "how long notifications keeps whom a volunteer, enterprise or palace reaches; new or approved accounts "
        "are told to it at once",
        S,
    ),
    Setting("RECIPIENTS_CACHE_SIZE", 20_000, int, "recipients notifications keeps at most", S),
    # -- how long personal data is kept (common/retention.py; 0: kept)
    Setting(
        "RETAIN_NOTIFICATIONS_DAYS",
        180,
        int,
        "days an inbox notification is kept (a half year: long enough to look back on a season's deliveries)",
        S,
    ),
    Setting(
        "RETAIN_DELIVERIES_DAYS",
        30,
        int,
        "days an email or SMS delivery record (it holds the address or phone) is kept: long enough to answer "
        "'was I told?'",
        S,
    ),
    Setting(
        "RETAIN_COMMENTS_DAYS",
        365,
        int,
        "days the words of a survey answer are kept, in feedback and in reporting's comments (the scores and "
        "counts stay): a year, for the palace's annual report",
        S,
    ),
    Setting(
        "RETAIN_ARCHIVE_DAYS",
        365,
        int,
        "days reporting's event archive keeps the personal fields of an event (names, phones, card numbers, a "
        "comment's words); then they are cleared in place and every statistic stays as it was",
        S,
    ),
    # -- notifications' channels
    Setting("SMTP_HOST", "", str, "mail server; no host, no email", N),
    Setting("SMTP_PORT", 25, int, "mail server's port", N),
    Setting("SMTP_FROM", "送文化下基层 <noreply@localhost>", str, "sender", N),
    Setting("SMTP_USER", "", str, "sign-in at the mail server, when it wants one", N),
    Setting("SMTP_PASSWORD", "", str, "password of that sign-in", N),
    Setting("SMTP_STARTTLS", False, flag, "`1` upgrades the connection with STARTTLS", N),
    Setting("SMTP_SSL", False, flag, "`1` speaks TLS from the start (port 465, as many mail providers ask)", N),
    Setting("SMTP_TIMEOUT", 10.0, float, "seconds a try at the mail server may take", N),
    Setting("WEBHOOK_URL", "", str, "the SMS/WeChat gateway's address; none, no webhook", N),
    Setting(
        "WEBHOOK_SECRET",
        "",
        str,
        'signs each call: `X-Songwenhua-Signature: sha256=HMAC-SHA256(secret, X-Songwenhua-Timestamp + "." + body)`',
        N,
    ),
    Setting("WEBHOOK_TIMEOUT", 5.0, float, "seconds a webhook call may take", N),
    Setting("PUBLIC_URL", "http://127.0.0.1:8000", str, "where the links in emails and webhook calls point", N),
    Setting("NOTIFY_MAX_ATTEMPTS", 6, int, "tries per delivery", N),
    Setting("NOTIFY_RETRY_SECONDS", 30.0, float, "first back-off between tries, in seconds", N),
    # -- make run and make demo
    Setting("PROCESSES", 1, int, "processes per service (competing consumers)", R),
    Setting(
        "PROCESS_INDEX",
        "",
        str,
        "which of a service's `PROCESSES` this process is (0, 1, …; `make run`, the benchmarks and the fault suites "
        "set it; on Kubernetes a StatefulSet pod's ordinal): dispatch takes the palaces' shards, notifications the "
        "orders' shards and feedback the surveys' answer shards `k % PROCESSES == PROCESS_INDEX` first and stands by "
        "for the others; unset, a process takes "
        "whichever shards are free",
        R,
    ),
    Setting(
        "SERVICE_NICE",
        10,
        int,
        "how much lower the processor priority of the service processes `make run` and the benchmarks start is "
        "than that of the database and the broker (`nice`): on one machine every service process waits on those two, "
        "and the more service processes there are, the more they crowded them out; 0 keeps them equal",
        R,
    ),
    Setting("MONGO_PORT", 27017, int, "port of the embedded MongoDB `make run` starts", R),
    Setting("NO_DEMO_DATA", "", str, "`1` starts with empty databases", R),
    Setting("DEMO_PASSWORD", "songwenhua-demo", str, "password of every demo account", R),
)

TABLE: dict[str, Setting] = {s.key: s for s in SETTINGS}
DEFAULTS: dict[str, Any] = {s.key: s.default for s in SETTINGS}


def setting(config: dict | None, key: str):
    """``key`` from the service's config, else the environment, else the table's default; as the
    table's type. A key the table does not name is an error."""
    try:
        entry = TABLE[key]
    except KeyError:
        raise KeyError(f"{key} is not a setting: name it in common.config.SETTINGS") from None
    if config and config.get(key) not in (None, ""):
        return entry.type(config[key])
    value = os.environ.get(key)
    if value not in (None, ""):
        return entry.type(value)
    return entry.default


def nameko_config(**overrides) -> dict:
    """The config dict every service process runs with."""
    config = {
        "AMQP_URI": setting(overrides, "AMQP_URI"),
        "MONGO_URI": setting(overrides, "MONGO_URI"),
        "DB_PREFIX": setting(overrides, "DB_PREFIX"),
        "WEB_SERVER_ADDRESS": setting(overrides, "WEB_SERVER_ADDRESS") or f"127.0.0.1:{setting(overrides, 'PORT')}",
        "max_workers": setting(overrides, "MAX_WORKERS"),
        "serializer": "json",
    }
    config.update({k: v for k, v in overrides.items() if k not in config})
    return config


class Config(DependencyProvider):
    """Hands the worker its container's config (nameko 2.14: ``container.config``)."""

    def get_dependency(self, worker_ctx):
        return self.container.config


# ------------------------------------------------------------- the README's tables

README_TABLES = {"system": ("run", "system"), "notifications": ("notifications",)}


def shown(entry: Setting) -> str:
    """A setting's default as config.yml writes it (``${KEY:default}``)."""
    if entry.type is flag:
        return "1" if entry.default else "0"
    if isinstance(entry.default, float):
        return f"{entry.default:g}"
    return str(entry.default)


def readme_table(name: str) -> str:
    """The README's table ``name`` (``README_TABLES``): its settings in the order of SETTINGS."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for entry in SETTINGS:
        if entry.section in README_TABLES[name]:
            default = shown(entry)
            if default and entry.type is str:
                default = f"`{default}`"
            rows.append(f"| `{entry.key}` | {default} | {entry.meaning} |")
    return "\n".join(rows) + "\n"


def with_readme_tables(text: str) -> str:
    """``text`` (the README) with each table between ``<!-- settings:NAME -->`` and
    ``<!-- /settings:NAME -->`` written from SETTINGS."""
    for name in README_TABLES:
        start, end = f"<!-- settings:{name} -->\n", f"<!-- /settings:{name} -->"
        before, found, rest = text.partition(start)
        if not found or end not in rest:
            raise ValueError(f"the README has no {start.strip()} … {end} block")
        text = before + start + readme_table(name) + end + rest.partition(end)[2]
    return text


if __name__ == "__main__":  # python -m common.config [--check]: write (or check) the README's tables
    import sys

    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    with open(readme, encoding="utf-8") as f:
        current = f.read()
    wanted = with_readme_tables(current)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if wanted == current else "README.md: the settings tables differ from common.config.SETTINGS")
    if wanted != current:
        with open(readme, "w", encoding="utf-8") as f:
            f.write(wanted)

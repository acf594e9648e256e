"""How long each kind of personal data is kept, in one table, and the sweeps that go by it.

Every kind that holds personal data and a time is named once in ``POLICY``: the service that owns
it, its collection, what it covers and what happens to it when its time is up, in Chinese for the
admin's page (数据保存期限). A kind is one of:

``delete``  the rows older than the setting's days are deleted, by an indexed time field;
``clear``   the rows stay (what is counted from them) and their personal text is cleared;
``redact``  the event archive: the personal fields of events older than the setting are set to
            None in place (``common.personal.redact``) and the event is marked ``redacted_at``,
            so statistics rebuilt from the archive stay the same;
``ttl``     a TTL index of the database removes the rows at their end (sessions, links, …);
            listed so the page shows the whole policy.

``RETAIN_<KIND>_DAYS`` (common/config.py) sets a sweep's days; 0 keeps that kind. Each owning
service sweeps hourly in bounded batches, one process at a time (a lease), and records in its
own ``retention`` collection when it ran and how many it removed per kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, UpdateOne

from common.config import setting
from common.messages import N_
from common.personal import PERSONAL_KEYS, REDACTED, redact

SWEEP_SECONDS = 3600
BATCH = 500  # rows per read and write
ROUNDS = 20  # batches per kind per sweep: a sweep never holds the database for long


@dataclass(frozen=True)
class Kind:
    key: str
    service: str
    collection: str
    what: str  # what it covers (Chinese)
    how: str  # delete, clear, redact or ttl
    field: str  # the time it goes by
    setting: str | None = None  # RETAIN_…_DAYS for a sweep
    rule: str | None = None  # a TTL kind: when the database removes it (Chinese)


POLICY: tuple[Kind, ...] = (
    Kind(
        "sessions", "accounts", "sessions", N_("登录会话（账号、角色、登录令牌的摘要）"), "ttl", "expires_at",
        rule=N_("到期即删除；退出登录时立即删除"),
    ),
    Kind(
        "password_resets", "accounts", "password_resets", N_("重置密码链接（谁为谁生成、何时到期）"), "ttl",
        "expires_at", rule=N_("到期即删除"),
    ),
    Kind(
        "sign_in_throttles", "accounts", "sign_in_throttles", N_("登录失败记录（账号或来源地址、次数）"), "ttl",
        "expires_at", rule=N_("锁定期结束即删除"),
    ),
    Kind(
        "invitations", "accounts", "invitations", N_("志愿者认领邀请（手机号后四位、是否已用）"), "ttl",
        "expires_at", rule=N_("过期 90 天后删除（志愿者名单据此显示“邀请已过期”）"),
    ),
    Kind(
        "notifications", "notifications", "notifications", N_("站内消息（收件人、标题和内容）"), "delete",
        "created_at", "RETAIN_NOTIFICATIONS_DAYS",
    ),
    Kind(
        "deliveries", "notifications", "deliveries", N_("短信、邮件发送记录（含手机号、邮箱地址）"), "delete",
        "created_at", "RETAIN_DELIVERIES_DAYS",
    ),
    Kind(
        "reminders", "notifications", "reminders", N_("待发的服务提醒"), "ttl", "start",
        rule=N_("服务开始 30 天后删除"),
    ),
    Kind(
        "survey_comments", "feedback", "responses", N_("观众评议的文字意见（评分和份数保留）"), "clear", "at",
        "RETAIN_COMMENTS_DAYS",
    ),
    Kind(
        "report_comments", "reporting", "comments", N_("统计中的观众意见摘录"), "delete", "at", "RETAIN_COMMENTS_DAYS"
    ),
    Kind(
        "archive", "reporting", "events", N_("统计存档中事件的个人信息（操作人账号和地址、姓名、电话、理由和意见原文）"),
        "redact", "occurred_at", "RETAIN_ARCHIVE_DAYS",
    ),
    Kind(
        "import_previews", "dispatch", "imports", N_("名单导入的预览（上传表格中的姓名、电话）"), "ttl",
        "created_at", rule=N_("上传后 30 分钟删除"),
    ),
)  # fmt: skip

SERVICES = tuple(dict.fromkeys(k.service for k in POLICY))
SWEPT_SERVICES = tuple(dict.fromkeys(k.service for k in POLICY if k.how != "ttl"))
SERVICE_NAMES = {
    "accounts": N_("账号"),
    "notifications": N_("消息"),
    "feedback": N_("观众评议"),
    "reporting": N_("统计"),
    "dispatch": N_("派单"),
}
# what the archive's redaction clears: who someone is and how to reach them (an actor's username and
# address, who granted hours), and the free texts that may name someone (a comment, a reason, a note,
# a custom request). No projection reads any of them (services/reporting/domain.py ``project``); the
# volunteer ids the statistics count by stay.
ARCHIVE_KEYS = PERSONAL_KEYS | {"comment", "username", "granted_by", "reason", "note", "custom_request"}
NULLED = frozenset({"comment"})  # the projection makes a comment of any text left there


def kinds_of(service: str) -> list[Kind]:
    return [k for k in POLICY if k.service == service]


def days(config: dict | None, kind: Kind) -> int | None:
    """The days ``kind`` is kept (0: kept until deleted otherwise); None for a TTL kind."""
    return int(setting(config, kind.setting)) if kind.setting else None


def cutoff(now: dt.datetime, kept_days: int | None) -> dt.datetime | None:
    """What is older than this goes; None when nothing is swept (0 days or a TTL kind)."""
    if not kept_days or kept_days <= 0:
        return None
    return now - dt.timedelta(days=kept_days)


def cutoffs(config: dict | None, service: str, now: dt.datetime) -> dict[str, dt.datetime | None]:
    """Each swept kind of ``service`` and the time before which it goes."""
    return {k.key: cutoff(now, days(config, k)) for k in kinds_of(service) if k.how != "ttl"}


def redact_event(doc: dict, at: dt.datetime) -> tuple[dict, int]:
    """The update that clears an archived event's personal fields and marks it redacted, and how
    many fields it clears. A cleared text reads ``（已删除）`` (a rebuild loads each event with its
    contract, where a username or a reason is required), a comment None (so no comment is made
    of it again), anything else None."""
    original = doc.get("payload") or {}
    payload, cleared = redact(original, ARCHIVE_KEYS)
    return {"$set": {"payload": _marked(original, payload), "redacted_at": at}}, cleared


def _marked(before: Any, after: Any, key: str | None = None) -> Any:
    if isinstance(before, dict) and isinstance(after, dict):
        return {k: _marked(before.get(k), v, k) for k, v in after.items()}
    if isinstance(before, list) and isinstance(after, list):
        return [_marked(b, a) for b, a in zip(before, after, strict=True)]
    if after is None and isinstance(before, str) and before and key in ARCHIVE_KEYS and key not in NULLED:
        return REDACTED
    return after


# ------------------------------------------------------------------ the database side


def plain_index(collection, field: str) -> None:
    """An ascending index on ``field`` that is not a TTL index (earlier versions kept some kinds
    by a TTL index of fixed days: the sweep and its setting decide now)."""
    name = f"{field}_1"
    info = collection.index_information().get(name)
    if info is not None and "expireAfterSeconds" in info:
        try:
            collection.drop_index(name)
        except Exception:  # noqa: BLE001 - another process dropped it first
            pass
    collection.create_index([(field, ASCENDING)])


def ensure_indexes(db) -> None:
    """The service's record of its sweeps is keyed by kind: no index of its own."""


def delete_older(collection, field: str, before: dt.datetime | None, query: dict | None = None) -> int:
    """Delete the rows whose ``field`` is before ``before``, oldest first, ``BATCH`` at a time
    and at most ``ROUNDS`` batches; how many went."""
    if before is None:
        return 0
    removed = 0
    wanted = {**(query or {}), field: {"$lt": before}}
    for _ in range(ROUNDS):
        ids = [d["_id"] for d in collection.find(wanted, {"_id": 1}).sort(field, ASCENDING).limit(BATCH)]
        if not ids:
            break
        removed += collection.delete_many({"_id": {"$in": ids}}).deleted_count
        if len(ids) < BATCH:
            break
    return removed


def rewrite_older(collection, field: str, before: dt.datetime | None, mark: str, change, at: dt.datetime) -> int:
    """Rewrite the rows not marked ``mark`` whose ``field`` is before ``before``, oldest first,
    ``BATCH`` at a time: ``change(doc)`` gives each one's update (its ``$set`` gets ``mark``) and
    whether something personal was cleared. Every row looked at is marked, so none is looked at
    again; how many had something cleared."""
    if before is None:
        return 0
    changed = 0
    wanted = {mark: None, field: {"$lt": before}}
    for _ in range(ROUNDS):
        docs = list(collection.find(wanted).sort(field, ASCENDING).limit(BATCH))
        if not docs:
            break
        ops = []
        for doc in docs:
            update, cleared = change(doc)
            update.setdefault("$set", {})[mark] = at
            ops.append(UpdateOne({"_id": doc["_id"], mark: None}, update))
            changed += bool(cleared)
        collection.bulk_write(ops, ordered=False)
        if len(docs) < BATCH:
            break
    return changed


def record(db, removed: dict[str, int], at: dt.datetime) -> None:
    """When the sweep ran and how many each kind lost (``retention``, one document per kind)."""
    for key, n in removed.items():
        db.retention.update_one({"_id": key}, {"$set": {"swept_at": at, "removed": n}}, upsert=True)


def oldest(collection, field: str, query: dict | None = None) -> Any:
    """The oldest ``field`` among the rows ``query`` matches (an index leads with it), or None."""
    doc = collection.find_one({**(query or {}), field: {"$ne": None}}, {field: 1}, sort=[(field, ASCENDING)])
    return doc.get(field) if doc else None


def status(db, service: str, config: dict | None, oldest_of: dict[str, Any]) -> list[dict]:
    """What the admin's page shows of ``service``'s kinds: days, the last sweep, how many it
    removed, and the oldest still kept (``oldest_of``: kind → time, from the service's queries)."""
    swept = {d["_id"]: d for d in db.retention.find({"_id": {"$in": [k.key for k in kinds_of(service)]}})}
    out = []
    for kind in kinds_of(service):
        last = swept.get(kind.key) or {}
        out.append(
            {
                "kind": kind.key,
                "days": days(config, kind),
                "swept_at": _iso(last.get("swept_at")),
                "removed": last.get("removed"),
                "oldest": _iso(oldest_of.get(kind.key)),
            }
        )
    return out


def _iso(value) -> str | None:
    """A time as ISO 8601 text (UTC where the database gave it without a zone)."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------ what a service calls


def sweep(store, service: str, sweep_fn, at: dt.datetime | None = None) -> dict[str, int]:
    """Run ``service``'s sweep (``sweep_fn(db, cutoffs, at)``, in its repository) by the policy
    and record it; how many each kind lost."""
    at = at or dt.datetime.now(dt.UTC)
    removed = sweep_fn(store.db, cutoffs(store.config, service, at), at)
    record(store.db, removed, at)
    return removed


def report(store, service: str, oldest_fn) -> list[dict]:
    """``service``'s kinds as the admin's page shows them (``oldest_fn(db)``: kind → oldest time)."""
    return status(store.db, service, store.config, oldest_fn(store.db))

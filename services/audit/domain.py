"""What the audit log keeps: one entry per decision a person made (or a safeguard took), and per
access to other people's personal data. Pure functions, no I/O.

An entry says who (the account, its role, its palace, the address the request came from), when,
what kind of thing, on what (the subject: an order, a volunteer, an account, a loan…), for which
palaces (a loan concerns two), and what changed (the event's own fields). Entries are made from
the events the services publish: an event a person caused through the API carries its ``actor``
(see ``common.store.Acting``), written in the same transaction as the change; the decisions
listed in ``ALWAYS`` are kept even when no person is named (a script, a safeguard).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from common.messages import N_

# event types and access kinds, as the log names them to people
KINDS = {
    "order_placed": N_("下单"),
    "order_amended": N_("修改订单"),
    "order_cancelled": N_("取消订单"),
    "order_accepted": N_("受理订单"),
    "order_rejected": N_("拒绝订单"),
    "order_closed": N_("订单结束"),
    "offer_made": N_("发出邀约"),
    "offer_accepted": N_("接受邀约"),
    "offer_declined": N_("婉拒邀约"),
    "offer_expired": N_("邀约超时"),
    "order_scheduled": N_("排定人员"),
    "order_unfulfillable": N_("无法安排"),
    "delivery_completed": N_("服务完成"),
    "assignment_handed_over": N_("换班"),
    "volunteer_no_show": N_("登记缺席"),
    "no_show_cleared": N_("撤销缺席"),
    "hours_granted": N_("补记时长"),
    "survey_opened": N_("评议开放"),
    "survey_closed": N_("评议结束"),
    "alliance_created": N_("结成联盟"),
    "troupe_sharing_changed": N_("艺术团共享设置"),
    "troupe_loan_requested": N_("申请借调艺术团"),
    "troupe_loan_approved": N_("批准借调"),
    "troupe_loan_refused": N_("拒绝借调"),
    "troupe_loan_ended": N_("借调结束"),
    "registration_decided": N_("审核注册"),
    "password_changed": N_("修改密码"),
    "password_reset_requested": N_("生成重置密码链接"),
    "sessions_ended": N_("退出所有设备"),
    "sign_in_locked": N_("登录被暂时锁定"),
    "records_imported": N_("导入名单"),
    "privacy_notice_published": N_("发布隐私政策"),
    "erasure_requested": N_("申请注销账号"),
    "erasure_cancelled": N_("撤销注销申请"),
    "person_erased": N_("账号注销完成"),
    "personal_data_viewed": N_("查看个人信息"),
    "list_exported": N_("导出名单"),
    "audit_exported": N_("导出操作记录"),
}

# decisions and safeguards kept whoever (or whatever) made them
ALWAYS = {
    "order_accepted",
    "order_rejected",
    "volunteer_no_show",
    "no_show_cleared",
    "hours_granted",
    "troupe_loan_approved",
    "troupe_loan_refused",
    "registration_decided",
    "password_changed",
    "password_reset_requested",
    "sessions_ended",
    "sign_in_locked",
    "records_imported",
    "privacy_notice_published",
    "erasure_requested",
    "erasure_cancelled",
    "person_erased",
}

# what people do; an event of another kind written in a person's transaction is the system's
# consequence of it (the crew complete, the order scheduled) and is not theirs
BY_PEOPLE = ALWAYS | {
    "order_placed",
    "order_amended",
    "order_cancelled",
    "offer_made",  # only a dispatcher's own choice (kind "override"), see ``kept``
    "offer_accepted",
    "offer_declined",
    "assignment_handed_over",
    "delivery_completed",
    "survey_closed",
    "alliance_created",
    "troupe_sharing_changed",
    "troupe_loan_requested",
}

ACCESS_KINDS = ("personal_data_viewed", "list_exported", "audit_exported")

# what an entry is about: the first of these fields an event has
SUBJECTS = (
    ("loan_id", "loan"),
    ("no_show_id", "no_show"),
    ("order_id", "order"),
    ("volunteer_id", "volunteer"),
    ("troupe_id", "troupe"),
    ("alliance_id", "alliance"),
    ("username", "account"),
    ("survey_id", "survey"),
    ("import_kind", "import"),
)

# fields that name who, where the event says so itself (events older than ``actor``)
AUTHOR_FIELDS = ("decided_by", "granted_by", "requested_by", "by")

ENVELOPE = ("event_id", "occurred_at", "version", "actor")
# what an entry never keeps: the texts an erasure looks for (the entry says an erasure happened)
NOT_KEPT = ("texts",)

SYSTEM = "system"


def kept(event_type: str, payload: dict) -> bool:
    """Whether the log keeps an event: a person did it, or it is a decision kept always."""
    if event_type in ALWAYS:
        return True
    if not payload.get("actor") or event_type not in BY_PEOPLE:
        return False
    return event_type != "offer_made" or payload.get("kind") == "override"


def author(payload: dict) -> dict:
    """Who: the event's actor, else the account its own fields name, else the system."""
    actor = payload.get("actor")
    if actor:
        return {k: actor.get(k) for k in ("username", "role", "palace_id", "address")}
    for name in AUTHOR_FIELDS:
        if isinstance(payload.get(name), str) and payload[name]:
            return {"username": payload[name], "role": None, "palace_id": None, "address": None}
    if payload.get("client"):  # a lock by address: where the attempts came from
        return {"username": SYSTEM, "role": None, "palace_id": None, "address": payload["client"]}
    return {"username": SYSTEM, "role": None, "palace_id": None, "address": None}


def subject(payload: dict) -> dict:
    for field, kind in SUBJECTS:
        value = payload.get(field)
        if isinstance(value, str) and value:
            return {"type": kind, "id": value}
    return {"type": None, "id": None}


def palaces(payload: dict, who: dict) -> list[str]:
    """The palaces whose dispatchers see the entry: the one it is of, the lender of a loan, the
    members of an alliance, and the actor's own."""
    found = []
    for field in ("palace_id", "owner_palace_id"):
        if isinstance(payload.get(field), str):
            found.append(payload[field])
    found += [p for p in payload.get("palace_ids") or () if isinstance(p, str)]
    if who.get("palace_id"):
        found.append(who["palace_id"])
    return sorted(set(found))


def entry_of(source: str, event_type: str, payload: dict, at: dt.datetime) -> dict:
    """The entry of a published event (keyed by the event's id: taking it in twice keeps one)."""
    who = author(payload)
    if event_type == "person_erased":  # the entry names the erased person by their pseudonym only
        payload = {**payload, "username": payload.get("pseudonym")}
    return {
        "_id": payload["event_id"],
        "at": at,
        "kind": event_type,
        "source": source,
        "actor": who,
        "palace_ids": palaces(payload, who),
        "subject": subject(payload),
        "details": {k: v for k, v in payload.items() if k not in ENVELOPE and k not in NOT_KEPT},
    }


def access_entry(access: dict, at: dt.datetime, window_minutes: int) -> dict:
    """The entry of an access to personal data. Looking at the same thing again within the same
    window (a list polled, a page reloaded) is the same entry; an export is always a new one."""
    who = access["actor"]
    what = access.get("subject") or {}
    if access["kind"] == "personal_data_viewed":
        window = int(at.timestamp() // (window_minutes * 60))
        parts = (who.get("username"), what.get("type"), what.get("id"), access.get("what"), str(window))
        key = "view:" + hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]
    else:
        key = access["access_id"]
    return {
        "_id": key,
        "at": at,
        "kind": access["kind"],
        "source": "gateway",
        "actor": {k: who.get(k) for k in ("username", "role", "palace_id", "address")},
        "palace_ids": sorted(
            {p for p in access.get("palace_ids") or () if p} | ({who["palace_id"]} if who.get("palace_id") else set())
        ),
        "subject": {"type": what.get("type"), "id": what.get("id")},
        "details": {"what": access.get("what"), "rows": access.get("rows"), **(access.get("details") or {})},
    }

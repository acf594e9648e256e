"""Who is told what, when, and on which channel. No I/O.

An event becomes drafts: a notification of one kind addressed to a scope (a volunteer, an
enterprise union, a palace's dispatchers). The handler turns each draft into one notification
per account of that scope. A person mutes a kind per channel; the inbox is always written (a
kind muted there arrives already read), so nothing said to a person is ever lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from common import invitations
from common.clock import CN
from common.messages import N_, Message
from contracts.events import NOTIFICATION_CHANNELS, NOTIFICATION_KINDS

INBOX = "inbox"
EXTERNAL = tuple(c for c in NOTIFICATION_CHANNELS if c != INBOX)

# kind -> (label, the roles it is for)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "offer": (N_("新的邀约"), ("volunteer",)),
    "reminder": (N_("服务提醒"), ("volunteer", "enterprise")),
    "assignment": (N_("任务变动和服务时长"), ("volunteer",)),
    "order_status": (N_("订单进展"), ("enterprise",)),
    "survey": (N_("观众评议"), ("enterprise",)),
    "orders": (N_("新订单和取消"), ("dispatcher", "admin")),
    "declined": (N_("志愿者婉拒"), ("dispatcher", "admin")),
    "expiring": (N_("邀约即将到期和已过期"), ("dispatcher", "admin")),
    "no_show": (N_("志愿者缺席"), ("dispatcher", "admin")),
    "unfulfillable": (N_("无法安排的订单"), ("dispatcher", "admin")),
    # told when a registration is approved (before the person could ever mute it) and when staff
    # made a password reset link for the account (not to be kept quiet), so it is
    # not among the kinds their settings list
    "account": (N_("注册审核"), ()),
}
assert set(KINDS) == set(NOTIFICATION_KINDS)
# whose scope reaches an account of each role, and the id of it on the event (admins: none)
RESET_SCOPE = {
    "volunteer": ("volunteer", "volunteer_id"),
    "enterprise": ("enterprise", "enterprise_id"),
    "dispatcher": ("palace", "palace_id"),
}
CHANNEL_LABELS = {"inbox": N_("站内消息"), "email": N_("电子邮件"), "webhook": N_("短信/微信")}

# reminders before a delivery, and the least time left for each to be worth sending
LEADS = {"48h": dt.timedelta(hours=48), "2h": dt.timedelta(hours=2)}
WORTH = {"48h": dt.timedelta(hours=36), "2h": dt.timedelta(minutes=90)}
# dispatchers hear of an offer still unanswered this long before its deadline
EXPIRING_LEAD = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Draft:
    kind: str
    scope: str  # "volunteer" | "enterprise" | "palace"
    scope_id: str
    title: Message  # reads as the Chinese; its template and values say it in another language
    body: Message
    link: str | None = None
    order_id: str | None = None
    palace_id: str | None = None


@dataclass
class Preferences:
    email: str | None = None
    webhook: bool = False
    phone: str | None = None
    mutes: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: dict | None) -> Preferences:
        doc = doc or {}
        return cls(
            email=doc.get("email"),
            webhook=bool(doc.get("webhook")),
            phone=doc.get("phone"),
            mutes={m["kind"]: set(m["channels"]) for m in doc.get("mutes") or []},
        )


def first_preferences(event: dict) -> dict:
    """A newly approved person is reached where the registration said: the e-mail given there,
    and the phone (SMS/WeChat gateway) given there."""
    phone = event.get("phone")
    return {"email": event.get("email"), "webhook": bool(phone), "phone": phone, "mutes": []}


def kinds_for(role: str) -> list[str]:
    return [k for k, (_, roles) in KINDS.items() if role in roles]


def routing(prefs: Preferences, kind: str, available: dict[str, bool]) -> tuple[list[str], bool]:
    """The channels a notification of ``kind`` goes out on for this person, and whether the inbox
    keeps it quietly (already read). ``available``: the external channels configured here."""
    muted = prefs.mutes.get(kind, set())
    reach = {"email": bool(prefs.email), "webhook": prefs.webhook}
    channels = [INBOX] + [c for c in EXTERNAL if available.get(c) and reach.get(c) and c not in muted]
    return channels, INBOX in muted


def address(prefs: Preferences, channel: str, username: str) -> str:
    return prefs.email if channel == "email" else (prefs.phone or username)


def retry_delay(attempts: int, base_seconds: float) -> dt.timedelta:
    """Back-off after the n-th failed attempt: base, 2 base, 4 base, … at most a day."""
    return dt.timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 86_400))


# ------------------------------------------------------------------ reminders


def reminder_times(start: dt.datetime, now: dt.datetime) -> dict[str, dt.datetime]:
    """When to remind of a delivery at ``start``: 48 h and 2 h before, each only while it still
    tells the person something (a crew completed a day ahead gets the 2-hour one only)."""
    return {lead: start - before for lead, before in LEADS.items() if start - now > WORTH[lead]}


def expiring_time(deadline: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    due = deadline - EXPIRING_LEAD
    return due if due > now else None


# ------------------------------------------------------------------ wording


def when(t: dt.datetime | None) -> Message:
    if t is None:
        return Message("时间待定")
    local = t.astimezone(CN)
    return Message("{month}月{day}日 {hm}", month=local.month, day=local.day, hm=local.strftime("%H:%M"))


def what(order: dict | None, event: dict | None = None) -> str:
    for source in (event or {}, order or {}):
        for key in ("program_title", "custom_request"):
            if source.get(key):
                return str(source[key])[:40]
    return Message("文化服务")


def _site(order: dict | None) -> str:
    return (order or {}).get("site_address") or Message("服务地点")


def _said(text: str | None) -> Message | str:
    """A reason given by a service (a message of its own) or by a person (kept as written)."""
    return Message(text) if text else ""


def drafts(event_type: str, event: dict, order: dict | None, names: dict[str, str], crew: list[str]) -> list[Draft]:
    """The notifications an event calls for. ``order``: what is known of its order (title, site,
    enterprise, start); ``names``: volunteers' names; ``crew``: the volunteers holding or offered
    a place on the order (told when it is cancelled)."""
    o = order or {}
    palace = event.get("palace_id") or o.get("palace_id")
    order_id = event.get("order_id")
    enterprise = event.get("enterprise_id") or o.get("enterprise_id")
    title = what(o, event)
    site = _site(o)
    start = event.get("start") or o.get("start")
    at = when(start)
    vid = event.get("volunteer_id")
    volunteer = names.get(vid or "", Message("志愿者 {vid}", vid=vid)) if vid else ""
    skill = event.get("skill") or ""
    out: list[Draft] = []

    def to(kind, scope, scope_id, head, text, link=None):
        if scope_id:
            out.append(Draft(kind, scope, scope_id, Message(head), text, link, order_id, palace))

    ent_link, disp_link, vol_link = "/app/enterprise#orders", "/app/dispatcher", "/app/volunteer"
    if event_type == "order_placed":
        district = event.get("district") or ""
        text = Message("「{title}」，{district} {site}，请及时受理。", title=title, district=district, site=site)
        to("orders", "palace", palace, N_("新订单待受理"), text, disp_link)
    elif event_type == "order_accepted":
        to(
            "order_status",
            "enterprise",
            enterprise,
            N_("订单已受理"),
            Message("您的订单「{title}」已受理，正在安排人员。", title=title),
            ent_link,
        )
    elif event_type == "order_rejected":
        reason = _said(event.get("reason"))
        text = Message("您的订单「{title}」未被受理：{reason}", title=title, reason=reason)
        to("order_status", "enterprise", enterprise, N_("订单未被受理"), text, ent_link)
    elif event_type == "order_cancelled":
        to(
            "order_status",
            "enterprise",
            enterprise,
            N_("订单已取消"),
            Message("您的订单「{title}」已取消。", title=title),
            ent_link,
        )
        if event.get("previous_status") not in ("submitted", None):
            text = Message("「{title}」（{site}）已被企业取消。", title=title, site=site)
            to("orders", "palace", palace, N_("订单已取消"), text, disp_link)
        for member in crew:
            to(
                "assignment",
                "volunteer",
                member,
                N_("服务已取消"),
                Message("{at} 在{site}的「{title}」已取消，无需前往。", at=at, site=site, title=title),
                vol_link,
            )
    elif event_type == "order_closed":
        score = event.get("satisfaction")
        result = (
            Message("满意度 {score} 分", score=f"{score:.1f}")
            if isinstance(score, (int, float))
            else Message("没有收到评议")
        )
        text = Message("「{title}」评议结束，{result}。", title=title, result=result)
        to("order_status", "enterprise", enterprise, N_("服务已完结"), text, ent_link)
    elif event_type == "offer_made":
        deadline = when(event.get("deadline"))
        head = {"swap": N_("同事请您接替一项任务"), "cover": N_("紧急顶替邀约")}.get(
            event.get("kind"), N_("新的服务邀约")
        )
        text = Message(
            "{at}，{site}，「{title}」（{skill}）。请在 {deadline} 前答复。",
            at=at,
            site=site,
            title=title,
            skill=skill,
            deadline=deadline,
        )
        to("offer", "volunteer", vid, head, text, vol_link + "#offers")
    elif event_type == "offer_declined":
        reason = _said(event.get("reason")) or Message("未说明理由")
        text = Message(
            "{volunteer}婉拒了「{title}」（{skill}）的邀约：{reason}。已转给下一位人选。",
            volunteer=volunteer,
            title=title,
            skill=skill,
            reason=reason,
        )
        to("declined", "palace", palace, N_("志愿者婉拒了邀约"), text, disp_link)
    elif event_type == "offer_expired":
        text = Message(
            "{volunteer}没有在期限内答复「{title}」（{skill}）的邀约，已转给下一位人选。",
            volunteer=volunteer,
            title=title,
            skill=skill,
        )
        to("expiring", "palace", palace, N_("邀约已过期"), text, disp_link)
        text = Message("「{title}」（{at}）的邀约已过答复期限。", title=title, at=at)
        to("offer", "volunteer", vid, N_("邀约已过期"), text, vol_link + "#offers")
    elif event_type == "order_scheduled":
        text = Message("「{title}」定于 {at} 到{site}服务。", title=title, at=at, site=site)
        to("order_status", "enterprise", enterprise, N_("服务时间已排定"), text, ent_link)
        for member in event.get("crew") or []:
            text = Message("「{title}」人员已齐：{at}，{site}。", title=title, at=at, site=site)
            to("assignment", "volunteer", member["volunteer_id"], N_("演出人员已齐"), text, vol_link + "#schedule")
    elif event_type == "order_unfulfillable":
        reason = _said(event.get("reason"))
        text = Message(
            "「{title}」暂时找不到合适的人员：{reason}。文化宫调度员会与您联系。", title=title, reason=reason
        )
        to("order_status", "enterprise", enterprise, N_("订单暂时无法安排"), text, ent_link)
        text = Message("「{title}」无法安排人员：{reason}", title=title, reason=reason)
        to("unfulfillable", "palace", palace, N_("订单无法安排人员"), text, disp_link)
    elif event_type == "assignment_handed_over":
        colleague = names.get(event["to_volunteer_id"], Message("同事"))
        text = Message("您在「{title}」（{at}）的任务已由{colleague}接替。", title=title, at=at, colleague=colleague)
        to("assignment", "volunteer", event["from_volunteer_id"], N_("任务已转交"), text, vol_link + "#schedule")
    elif event_type == "volunteer_no_show":
        reason = _said(event.get("reason"))
        cover = (
            Message("已发出顶替邀约。") if event.get("cover_offer_id") else Message("没有找到顶替人选，请手动安排。")
        )
        to(
            "no_show",
            "palace",
            palace,
            N_("志愿者缺席"),
            Message(
                "{volunteer}没有到「{title}」（{site}）：{reason}。{cover}",
                volunteer=volunteer,
                title=title,
                site=site,
                reason=reason,
                cover=cover,
            ),
            disp_link,
        )
        text = Message(
            "您在「{title}」（{at}）被登记为缺席：{reason}。如有误请联系调度员。", title=title, at=at, reason=reason
        )
        to("assignment", "volunteer", vid, N_("已登记缺席"), text, vol_link + "#schedule")
    elif event_type == "delivery_completed":
        people = event.get("people_served", 0)
        text = Message("「{title}」已完成，服务 {people} 人次。", title=title, people=people)
        to("order_status", "enterprise", enterprise, N_("服务已完成"), text, ent_link)
        for v in event.get("volunteers") or []:
            hours = round(float(v.get("hours") or 0) + float(v.get("granted_hours") or 0), 1)
            text = Message("「{title}」已完成，记入服务时长 {hours} 小时。", title=title, hours=hours)
            to("assignment", "volunteer", v["volunteer_id"], N_("服务时长已记录"), text, vol_link + "#hours")
    elif event_type == "registration_decided" and event.get("decision") == "approved":
        scope = event["role"]
        scope_id = event.get("volunteer_id") if scope == "volunteer" else event.get("enterprise_id")
        text = Message("您的注册已通过审核，请用用户名 {username} 登录。", username=event["username"])
        to("account", scope, scope_id, N_("注册已通过审核"), text, "/login")
    elif event_type == "password_reset_requested":
        # the link itself stays with the staff member who made it (no secret travels in events)
        scope, key = RESET_SCOPE.get(event["role"], (None, None))
        text = Message(
            "{by} 为您的账号 {username} 生成了重置密码的链接，{expires} 前可用一次，请向其当面索取。"
            "如果不是您要求的，请联系文化宫。",
            by=event["by"],
            username=event["username"],
            expires=when(event.get("expires_at")),
        )
        to("account", scope, event.get(key) if key else None, N_("密码重置"), text, "/login")
    elif event_type == "erasure_requested":
        # the person is told, on every channel they have, so a request they did not make is noticed
        scope, key = RESET_SCOPE.get(event["role"], (None, None))
        said = dict(username=event["username"], by=event["by"], due=when(event.get("due_at")))
        if event["by"] == event["username"]:
            text = Message(
                "您已申请注销账号 {username}，将于 {due} 执行：届时账号将被删除，您的个人信息将被删除或匿名化。"
                "在此之前可以在账号设置中撤销。",
                **said,
            )
        else:
            text = Message(
                "文化宫的 {by} 为您登记了注销账号 {username} 的申请，将于 {due} 执行：届时账号将被删除，"
                "您的个人信息将被删除或匿名化。在此之前可以在账号设置中撤销；如果不是您要求的，请尽快联系文化宫。",
                **said,
            )
        to("account", scope, event.get(key) if key else None, N_("注销账号申请"), text, "/login")
    elif event_type == "survey_opened":
        closes = when(event.get("closes_at"))
        text = Message("请让职工扫码评议「{title}」，{closes} 截止。", title=title, closes=closes)
        to("survey", "enterprise", enterprise, N_("观众评议已开放"), text, ent_link)
    return out


# where a claim code goes in an invitation's text: written in only at the moment of sending, from
# the invitation's id (common/invitations.py), so neither the stored delivery nor any event has it
CODE = "{code}"
CLAIM_LINK = "/claim?code=" + CODE


def invitation_texts(event: dict, invited: dict) -> tuple[Message, Message]:
    """The title and text that invite one volunteer to claim their account (the code left to
    be written in as it is sent)."""
    text = Message(
        "{name}您好：{palace}邀请您使用“送文化下基层”。您的邀请码是 {code}，{expires} 前有效，只能用一次。"
        "打开下面的链接，输入邀请码和手机号后四位，设置用户名和密码即可登录。",
        name=invited.get("name") or "",
        palace=event.get("palace_name") or Message("工人文化宫"),
        expires=when(event.get("expires_at")),
    )
    return Message("认领您的志愿者账号"), text


def with_code(delivery: dict, code: str) -> dict:
    """A delivery as it is sent: the claim code written into its text (as read, ``ABCD-EFGH``)
    and its link."""
    return {
        **delivery,
        "body": delivery["body"].replace(CODE, invitations.shown(code)),
        "link": (delivery.get("link") or "").replace(CODE, code) or None,
    }


def reminder_drafts(reminder: dict, order: dict | None, names: dict[str, str]) -> list[Draft]:
    """What a due reminder says, and to whom."""
    o = order or {}
    title, site, at = what(o), _site(o), when(reminder.get("start"))
    order_id, palace = reminder.get("order_id"), reminder.get("palace_id") or o.get("palace_id")
    lead = reminder["lead"]
    if lead == "expiring":
        vid = reminder.get("volunteer_id")
        volunteer = names.get(vid or "", Message("志愿者 {vid}", vid=vid))
        deadline = when(reminder.get("deadline"))
        skill = reminder.get("skill") or ""
        text = Message(
            "{volunteer}还没有答复「{title}」（{skill}）的邀约，{deadline} 到期。",
            volunteer=volunteer,
            title=title,
            skill=skill,
            deadline=deadline,
        )
        return [Draft("expiring", "palace", palace, Message("邀约即将到期"), text, "/app/dispatcher", order_id, palace)]
    if reminder.get("volunteer_id"):
        if lead == "48h":
            head = Message("服务提醒：两天后")
            text = Message("{at}，{site}，「{title}」。请提前安排好时间。", at=at, site=site, title=title)
        else:
            head = Message("服务提醒：两小时后开始")
            text = Message("{at}，{site}，「{title}」。到场后请用签到码签到。", at=at, site=site, title=title)
        link = "/app/volunteer#schedule"
        return [Draft("reminder", "volunteer", reminder["volunteer_id"], head, text, link, order_id, palace)]
    enterprise = reminder.get("enterprise_id") or o.get("enterprise_id")
    if not enterprise:
        return []
    text = Message("{at}，「{title}」将到{site}服务，请准备好场地并通知职工。", at=at, title=title, site=site)
    return [
        Draft(
            "reminder", "enterprise", enterprise, Message("服务提醒"), text, "/app/enterprise#orders", order_id, palace
        )
    ]


def is_stale(reminder: dict, now: dt.datetime) -> bool:
    """A reminder found due only after what it is about has begun (or its offer's deadline
    passed) is dropped rather than sent late."""
    limit = reminder.get("deadline") if reminder["lead"] == "expiring" else reminder.get("start")
    return limit is not None and now >= limit

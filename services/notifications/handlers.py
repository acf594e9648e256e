"""Notification use cases: take in an event, send due reminders, deliver to external channels,
answer the inbox and the preferences."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from common import invitations as codes
from common.config import setting
from common.errors import NotFound, load
from common.messages import Message
from contracts import payloads
from contracts.base import new_id, schema_of
from services.notifications import domain, repository

log = logging.getLogger(__name__)

# scopes → accounts: {"volunteer": {ids}, "enterprise": {ids}, "palace": {ids}} → [principal, …]
Directory = Callable[[dict[str, set[str]]], list[dict]]
DELIVERY_LEASE = dt.timedelta(seconds=60)
DELIVERIES_PER_TICK = 50
REMINDERS_PER_TICK = 50


@dataclass(frozen=True)
class Settings:
    available: dict[str, bool]
    max_attempts: int = 6
    retry_seconds: float = 30.0
    invite_secret: str = ""

    @classmethod
    def of(cls, config: dict, channels: dict) -> Settings:
        return cls(
            available={name: ch.available() for name, ch in channels.items()},
            max_attempts=max(1, setting(config, "NOTIFY_MAX_ATTEMPTS")),
            retry_seconds=setting(config, "NOTIFY_RETRY_SECONDS"),
            invite_secret=setting(config, "INVITE_SECRET"),
        )


# ------------------------------------------------------------------ events in


SNAPSHOTS = ("order_placed", "order_amended", "order_accepted")
ORDER_FIELDS = ("palace_id", "enterprise_id", "program_title", "custom_request", "site_address", "district")


def take_in(
    event_type: str,
    event: dict,
    uow,
    directory: Directory,
    settings: Settings,
    now: dt.datetime,
    find_order: Callable[[str], dict | None] | None = None,
) -> int:
    """Remember what the event tells, move the reminders it changes, and notify whom it concerns.
    Runs in the consumer's transaction (with its inbox entry): a redelivery changes nothing.
    ``find_order`` asks the orders service about an order no snapshot event has told of yet
    (events of different kinds travel on different queues, and orders older than this service)."""
    db, s = uow.db, uow.session
    if event_type == "invitations_issued":
        return invite(event, uow, settings, now)
    if event_type == "invitation_claimed":  # reached where the invitation reached them, as a registration is
        repository.first_preferences(db, event["username"], domain.first_preferences(event), s)
        return 0
    if event_type in ACCOUNT_EVENTS:
        return _to_the_account(event_type, event, uow, directory, settings, now)
    order = _remember(db, event_type, event, s)
    order_id = event.get("order_id")
    if order_id and find_order and event_type not in SNAPSHOTS and not (order or {}).get("enterprise_id"):
        found = find_order(order_id)
        if found:
            order = repository.remember_order(db, order_id, {k: found.get(k) for k in ORDER_FIELDS}, s)
    crew = _reschedule(db, event_type, event, order, s, now)
    names_wanted = {v for v in (event.get("volunteer_id"), event.get("to_volunteer_id")) if v}
    first = domain.drafts(event_type, event, order, {}, crew)
    if not first:
        return 0
    users = directory(_scopes(first, names_wanted))
    names = {u["volunteer_id"]: u.get("display_name") or u["username"] for u in users if u.get("volunteer_id")}
    drafts = domain.drafts(event_type, event, order, names, crew)
    return notify(uow, drafts, users, settings, event["event_id"], now)


# events about one account, told to that account alone (not to everyone of its scope)
ACCOUNT_EVENTS = ("registration_decided", "password_reset_requested")


def _to_the_account(
    event_type: str, event: dict, uow, directory: Directory, settings: Settings, now: dt.datetime
) -> int:
    drafts = domain.drafts(event_type, event, None, {}, [])
    if not drafts:
        return 0
    if event_type == "registration_decided":
        repository.first_preferences(uow.db, event["username"], domain.first_preferences(event), uow.session)
    users = [u for u in directory(_scopes(drafts, set())) if u["username"] == event["username"]]
    return notify(uow, drafts, users, settings, event["event_id"], now)


def invite(event: dict, uow, settings: Settings, now: dt.datetime) -> int:
    """Volunteers invited to claim their accounts have none yet, so no inbox: each is sent the
    invitation on the phone the palace has for them (the SMS/WeChat webhook), when it is
    configured. The delivery keeps the invitation's id; its code is written in as it is sent."""
    if not settings.available.get("webhook"):
        log.warning(
            "%d invitations of %s not sent: no SMS/WeChat webhook", len(event["invitations"]), event["palace_id"]
        )
        return 0
    # a code sent again replaces one still waiting to go out (its SMS gateway away): the old code no longer works
    repository.replace_invitations(uow.db, [i["volunteer_id"] for i in event["invitations"]], uow.session)
    docs = []
    for invited in event["invitations"]:
        title, body = domain.invitation_texts(event, invited)
        notification_id = f"invitation-{invited['invitation_id']}"
        docs.append(
            {
                "_id": f"{notification_id}|webhook",
                "notification_id": notification_id,
                "invitation_id": invited["invitation_id"],
                "invited": invited["volunteer_id"],
                "username": "",
                "channel": "webhook",
                "address": invited["phone"],
                "kind": "account",
                "title": str(title),
                "body": str(body),
                "link": domain.CLAIM_LINK,
                "status": "pending",
                "attempts": 0,
                "next_at": now,
                "last_error": None,
                "created_at": now,
            }
        )
    repository.add_deliveries(uow.db, docs, uow.session)
    return len(docs)


def _remember(db, event_type: str, event: dict, s) -> dict | None:
    order_id = event.get("order_id")
    if event_type in SNAPSHOTS:
        return repository.remember_order(db, order_id, {k: event.get(k) for k in ORDER_FIELDS}, s)
    if event_type == "order_scheduled":
        return repository.remember_order(
            db, order_id, {"palace_id": event["palace_id"], "start": event["start"], "end": event["end"]}, s
        )
    if event_type in ("order_cancelled", "order_rejected", "order_closed", "delivery_completed"):
        status = {"order_cancelled": "cancelled", "order_rejected": "rejected", "order_closed": "closed"}
        fields = {"palace_id": event["palace_id"], "enterprise_id": event.get("enterprise_id")}
        fields["status"] = status.get(event_type, "delivered")
        return repository.remember_order(db, order_id, fields, s)
    if event_type == "offer_made":
        repository.remember_offer(
            db,
            event["offer_id"],
            {
                **{k: event.get(k) for k in ("order_id", "palace_id", "volunteer_id", "skill", "start", "end")},
                "deadline": event["deadline"],
                "replaces_offer_id": event.get("replaces_offer_id"),
                "status": "pending",
            },
            s,
        )
    elif event_type == "assignment_handed_over":
        repository.remember_offer(db, event["from_offer_id"], {"status": "handed_over"}, s)
    elif event_type == "volunteer_no_show":
        for held in repository.offers_of(db, order_id, s):
            if held.get("volunteer_id") == event["volunteer_id"] and held.get("status") == "accepted":
                repository.remember_offer(db, held["_id"], {"status": "no_show"}, s)
    elif event_type in ("offer_accepted", "offer_declined", "offer_expired"):
        status = event_type.removeprefix("offer_")
        repository.remember_offer(
            db,
            event["offer_id"],
            {
                "order_id": order_id,
                "palace_id": event["palace_id"],
                "volunteer_id": event["volunteer_id"],
                "status": status,
            },
            s,
        )
    order = repository.order(db, order_id, s)
    if order is None and event.get("start") and order_id:  # an offer before its order: its time is the order's
        order = {"_id": order_id, "palace_id": event.get("palace_id"), "start": event["start"]}
    return order


def _reminder(lead: str, order_id: str, palace_id: str, start: dt.datetime, due: dt.datetime, **who) -> tuple:
    subject = f"volunteer:{who['volunteer_id']}" if who.get("volunteer_id") else "enterprise"
    key = f"{order_id}|{subject}|{lead}"
    doc = {"lead": lead, "order_id": order_id, "palace_id": palace_id, "start": start, "due": due, **who}
    return key, doc


def _schedule_for(db, order_id, palace_id, start, now, s, **who) -> None:
    for lead, due in domain.reminder_times(start, now).items():
        if "enterprise_id" in who and lead != "48h":
            continue  # the enterprise union is reminded two days ahead, to prepare the site
        key, doc = _reminder(lead, order_id, palace_id, start, due, **who)
        repository.schedule(db, key, doc, s)


def _reschedule(db, event_type: str, event: dict, order: dict | None, s, now: dt.datetime) -> list[str]:
    """Move the reminders the event changes; returns the order's crew (accepted or offered)
    before the change, for an order that is cancelled."""
    order_id = event.get("order_id")
    crew: list[str] = []
    if event_type == "offer_made":
        due = domain.expiring_time(event["deadline"], now)
        if due is not None:
            repository.schedule(
                db,
                f"offer|{event['offer_id']}",
                {
                    "lead": "expiring",
                    "order_id": order_id,
                    "offer_id": event["offer_id"],
                    "palace_id": event["palace_id"],
                    "volunteer_id": event["volunteer_id"],
                    "skill": event["skill"],
                    "start": event["start"],
                    "deadline": event["deadline"],
                    "due": due,
                },
                s,
            )
    elif event_type in ("offer_accepted", "offer_declined", "offer_expired"):
        repository.cancel_reminders(db, [f"offer|{event['offer_id']}"], s)
        offer = repository.offer(db, event["offer_id"], s) or {}
        if event_type == "offer_accepted" and offer.get("start"):
            start = (order or {}).get("start") or offer["start"]
            _schedule_for(db, order_id, event["palace_id"], start, now, s, volunteer_id=event["volunteer_id"])
            replaced = repository.offer(db, offer.get("replaces_offer_id"), s)
            if replaced and replaced.get("volunteer_id") != event["volunteer_id"]:
                repository.remember_offer(db, replaced["_id"], {"status": "replaced"}, s)
                _cancel_volunteer(db, order_id, replaced["volunteer_id"], s)
    elif event_type == "order_scheduled":
        members = {m["volunteer_id"] for m in event["crew"]}
        for vid in sorted(members):
            _schedule_for(db, order_id, event["palace_id"], event["start"], now, s, volunteer_id=vid)
        _schedule_for(db, order_id, event["palace_id"], event["start"], now, s, enterprise_id=None)
        # someone replaced since loses their reminders; the offers' expiry warnings stay with the offers
        stale = [
            r["_id"]
            for r in repository.pending_reminders(db, order_id, s)
            if r.get("volunteer_id") and r["volunteer_id"] not in members and r["lead"] != "expiring"
        ]
        repository.cancel_reminders(db, stale, s)
    elif event_type == "assignment_handed_over":
        _cancel_volunteer(db, order_id, event["from_volunteer_id"], s)
        start = (order or {}).get("start") or (repository.offer(db, event["to_offer_id"], s) or {}).get("start")
        if start:
            _schedule_for(db, order_id, event["palace_id"], start, now, s, volunteer_id=event["to_volunteer_id"])
    elif event_type == "volunteer_no_show":
        _cancel_volunteer(db, order_id, event["volunteer_id"], s)
    elif event_type in ("order_cancelled", "order_rejected", "delivery_completed", "order_unfulfillable"):
        if event_type == "order_cancelled":  # those offered a place or holding one, and those to be reminded
            offered = {
                o["volunteer_id"]
                for o in repository.offers_of(db, order_id, s)
                if o.get("status") in ("pending", "accepted")
            }
            reminded = {
                r["volunteer_id"]
                for r in repository.pending_reminders(db, order_id, s)
                if r.get("volunteer_id") and r["lead"] != "expiring"
            }
            crew = sorted(offered | reminded)
        if event_type != "order_unfulfillable":
            repository.cancel_reminders(db, [r["_id"] for r in repository.pending_reminders(db, order_id, s)], s)
    return crew


def _cancel_volunteer(db, order_id: str, volunteer_id: str, s) -> None:
    keys = [r["_id"] for r in repository.pending_reminders(db, order_id, s) if r.get("volunteer_id") == volunteer_id]
    repository.cancel_reminders(db, [k for k in keys if not k.startswith("offer|")], s)


def _scopes(drafts: list[domain.Draft], volunteers: set[str] = frozenset()) -> dict[str, set[str]]:
    scopes: dict[str, set[str]] = {"volunteer": set(volunteers), "enterprise": set(), "palace": set()}
    for d in drafts:
        scopes[d.scope].add(d.scope_id)
    return scopes


def members(users: list[dict], scope: str, scope_id: str) -> list[dict]:
    if scope == "volunteer":
        return [u for u in users if u["role"] == "volunteer" and u.get("volunteer_id") == scope_id]
    if scope == "enterprise":
        return [u for u in users if u["role"] == "enterprise" and u.get("enterprise_id") == scope_id]
    return [u for u in users if u["role"] == "dispatcher" and u.get("palace_id") == scope_id]


def notify(uow, drafts: list[domain.Draft], users: list[dict], settings: Settings, cause: str, now) -> int:
    """One notification per draft and account, each an event; a delivery row per external
    channel the person is reached on and has not muted the kind on."""
    db, s = uow.db, uow.session
    prefs = repository.preferences(db, sorted({u["username"] for u in users}), s)
    made = 0
    for i, draft in enumerate(drafts):
        for user in members(users, draft.scope, draft.scope_id):
            username = user["username"]
            pref = domain.Preferences.of(prefs.get(username))
            channels, quiet = domain.routing(pref, draft.kind, settings.available)
            doc = {
                "_id": new_id(),
                "key": f"{cause}|{i}|{username}",
                "username": username,
                "role": user["role"],
                "kind": draft.kind,
                "title": str(draft.title),
                "body": str(draft.body),
                # the same with their templates and values, to be said in the reader's language
                "texts": {"title": Message.of(draft.title).wire(), "body": Message.of(draft.body).wire()},
                "link": draft.link,
                "order_id": draft.order_id,
                "palace_id": draft.palace_id,
                "cause": cause,
                "read": quiet,
                "muted": quiet,
                "channels": channels,
                "created_at": now,
            }
            repository.add_notification(db, doc, s)
            repository.add_deliveries(
                db,
                [
                    {
                        "_id": f"{doc['_id']}|{channel}",
                        "notification_id": doc["_id"],
                        "username": username,
                        "channel": channel,
                        "address": domain.address(pref, channel, username),
                        "kind": draft.kind,
                        "title": str(draft.title),
                        "body": str(draft.body),
                        "link": draft.link,
                        "status": "pending",
                        "attempts": 0,
                        "next_at": now,
                        "last_error": None,
                        "created_at": now,
                    }
                    for channel in channels
                    if channel != domain.INBOX
                ],
                s,
            )
            uow.emit(
                "notification_created",
                notification_id=doc["_id"],
                username=username,
                role=user["role"],
                kind=draft.kind,
                title=str(draft.title),
                body=str(draft.body),
                link=draft.link,
                order_id=draft.order_id,
                palace_id=draft.palace_id,
                cause=cause,
                channels=channels,
                muted=quiet,
                occurred_at=now,
            )
            made += 1
    return made


# ------------------------------------------------------------------ reminders due


def send_due_reminders(store, directory: Directory, settings: Settings, now: Callable[[], dt.datetime]) -> int:
    """Say every reminder that is due, each in its own transaction (claimed there: several
    processes never say one twice, and one that fails is due again)."""
    sent = 0
    if not repository.reminder_due(store.db, now()):
        return sent
    for _ in range(REMINDERS_PER_TICK):

        def work(uow):
            moment = now()
            reminder = repository.claim_due_reminder(uow.db, moment, uow.session)
            if reminder is None:
                return None
            if domain.is_stale(reminder, moment):
                repository.mark_reminder(uow.db, reminder["_id"], "stale", uow.session)
                return 0
            order = repository.order(uow.db, reminder.get("order_id"), uow.session)
            first = domain.reminder_drafts(reminder, order, {})
            wanted = {reminder["volunteer_id"]} if reminder.get("volunteer_id") else set()
            users = directory(_scopes(first, wanted)) if first else []
            names = {u["volunteer_id"]: u.get("display_name") or u["username"] for u in users if u.get("volunteer_id")}
            drafts = domain.reminder_drafts(reminder, order, names)
            # said once per claim (a reminder moved away and back is due again at the same time)
            cause = f"reminder|{reminder['_id']}|{reminder['due'].isoformat()}|{moment.isoformat()}"
            return notify(uow, drafts, users, settings, cause, moment)

        made = store.transaction(work)
        if made is None:
            return sent
        sent += made
    return sent


# ------------------------------------------------------------------ external channels


def deliver_due(db, channels: dict, settings: Settings, holder: str, now: Callable[[], dt.datetime]) -> int:
    """Send what is due on the external channels, one claimed delivery at a time; a failure is
    tried again with back-off, and after the last attempt kept as failed with its reason."""
    done = 0
    if not repository.delivery_due(db, now()):
        return done
    for _ in range(DELIVERIES_PER_TICK):
        doc = repository.claim_delivery(db, now(), DELIVERY_LEASE, holder)
        if doc is None:
            return done
        sender = channels.get(doc["channel"])
        try:
            if sender is None or not sender.available():
                raise RuntimeError(f"channel {doc['channel']} is not configured")
            if doc.get("invitation_id"):
                doc = domain.with_code(doc, codes.code_for(settings.invite_secret, doc["invitation_id"]))
            sender.send(doc)
        except Exception as err:  # noqa: BLE001 - any failure is kept with the delivery and retried
            reason = f"{type(err).__name__}: {err}"
            last = doc["attempts"] >= settings.max_attempts
            next_at = None if last else now() + domain.retry_delay(doc["attempts"], settings.retry_seconds)
            repository.delivery_failed(db, doc, reason, next_at)
            log.warning(
                "%s delivery %s attempt %d failed%s: %s",
                doc["channel"],
                doc["_id"],
                doc["attempts"],
                " (giving up)" if last else "",
                reason,
            )
        else:
            repository.delivery_done(db, doc, now())
        done += 1
    return done


# ------------------------------------------------------------------ the inbox and preferences


WINDOWS_DAYS = (1, 7, 30, 180, None)
UNREAD_CAP = 1000


def _id_at(moment: dt.datetime) -> str:
    """The smallest id made at ``moment`` (ids begin with their time in microseconds)."""
    return f"{max(int(moment.timestamp() * 1_000_000), 0):013x}"


def _time_of(notification_id: str | None, default: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(notification_id[:13], 16) / 1_000_000, dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def view(doc: dict) -> dict:
    """A notification as its contract says, and `texts`: its title and body as templates and values
    (for the gateway, which says them in the reader's language and leaves `texts` out)."""
    out = schema_of(payloads.Notification).dump(
        {
            **doc,
            "notification_id": doc["_id"],
            "kind_label": domain.KINDS[doc["kind"]][0],
            "muted": bool(doc.get("muted")),
        }
    )
    if doc.get("texts"):
        out["texts"] = doc["texts"]
    return out


def inbox(db, username: str, before: str | None, limit: int, now: dt.datetime) -> dict:
    limit = min(max(int(limit), 1), 100)
    anchor = _time_of(before, now) if before else now  # windows reach back from where the page starts
    lower = [_id_at(anchor - dt.timedelta(days=d)) if d else None for d in WINDOWS_DAYS]
    docs = repository.inbox(db, username, before, limit + 1, lower)
    more = len(docs) > limit
    docs = docs[:limit]
    return {
        "items": [view(d) for d in docs],
        "unread": repository.unread(db, username, UNREAD_CAP),
        "next_before": docs[-1]["_id"] if more and docs else None,
    }


def mark_read(db, username: str, notification_id: str, now: dt.datetime) -> dict:
    doc = repository.mark_read(db, username, notification_id, now)
    if doc is None:
        raise NotFound("找不到这条通知。", "NOTIFICATION_NOT_FOUND")
    return view(doc)


def read_all(db, username: str, now: dt.datetime) -> dict:
    return {
        "updated": repository.mark_all_read(db, username, now),
        "unread": repository.unread(db, username, UNREAD_CAP),
    }


def settings_view(doc: dict | None, role: str, settings: Settings) -> dict:
    prefs = domain.Preferences.of(doc)
    kinds = domain.kinds_for(role)
    return schema_of(payloads.NotificationSettings).dump(
        {
            "email": prefs.email,
            "webhook": prefs.webhook,
            "phone": prefs.phone,
            "mutes": [{"kind": k, "channels": sorted(c)} for k, c in prefs.mutes.items() if k in kinds],
            "kinds": [{"kind": k, "label": domain.KINDS[k][0]} for k in kinds],
            "channels": [
                {
                    "channel": c,
                    "label": domain.CHANNEL_LABELS[c],
                    "available": c == domain.INBOX or settings.available.get(c, False),
                }
                for c in domain.CHANNEL_LABELS
            ],
        }
    )


def preferences(db, principal: dict, settings: Settings) -> dict:
    found = repository.preferences(db, [principal["username"]]).get(principal["username"])
    return settings_view(found, principal["role"], settings)


def set_preferences(db, principal: dict, payload: dict, settings: Settings, now: dt.datetime) -> dict:
    data = load(payloads.NotificationPreferences, payload)
    mutes: dict[str, set[str]] = {}
    for mute in data["mutes"]:
        mutes.setdefault(mute["kind"], set()).update(mute["channels"])
    doc = repository.save_preferences(
        db,
        principal["username"],
        {
            "role": principal["role"],
            "email": data["email"],
            "webhook": data["webhook"],
            "phone": data["phone"],
            "mutes": [{"kind": k, "channels": sorted(c)} for k, c in sorted(mutes.items())],
            "updated_at": now,
        },
    )
    return settings_view(doc, principal["role"], settings)

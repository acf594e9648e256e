"""Each signed-in person's notifications: the inbox behind the bell, marking read, and which
kinds to keep quiet on which channel. Everyone sees and changes only their own."""

from __future__ import annotations

import re

from common.errors import N_, Invalid, Message
from contracts import payloads as p
from services.gateway import auth, i18n
from services.gateway.http import body, call, query
from services.gateway.routes import route

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_LIMIT = 500


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise Invalid("查询参数有误。", fields={"limit": [Message("应为 1 到 {max} 之间的整数。", max=MAX_LIMIT)]})
    return int(value)


def _translated(request, notification: dict) -> dict:
    """A notification in the reader's language, from the templates and values of its title and
    body (one written before they were kept has its Chinese text only)."""
    texts = notification.pop("texts", None) or {}
    cat = i18n.catalogue(i18n.pick(request))
    if cat is None:
        return notification
    said = {k: cat.say(Message.of(texts[k]) if k in texts else notification[k]) for k in ("title", "body")}
    return {**notification, **said, "kind_label": cat.get(notification["kind_label"])}


class Inbox:
    """Notification entrypoints mixed into the gateway service."""

    @route(
        "GET /api/notifications",
        tag=N_("消息"),
        summary=N_("我的消息：新的在前，附未读数；before 翻页"),
        response=p.NotificationPage,
        query=("before", "limit"),
        roles=auth.ALL,
    )
    def list_notifications(self, request):
        """My notifications, newest first, with the unread count; ?before=<id> for the next page."""
        who = self._who(request)
        q = query(request, ("before", "limit"))
        before = q.get("before")
        if before is not None and not _ID.match(before):
            raise Invalid("查询参数有误。", fields={"before": [N_("编号格式不对。")]})
        page = call(self.notifications.inbox, who["username"], before, min(_limit(q.get("limit")), 100))
        page["items"] = [_translated(request, n) for n in page["items"]]
        return page

    @route(
        "POST /api/notifications/<notification_id>/read",
        tag=N_("消息"),
        summary=N_("标记一条消息为已读"),
        response=p.Notification,
        roles=auth.ALL,
    )
    def read_notification(self, request, notification_id):
        who = self._who(request)
        return _translated(request, call(self.notifications.mark_read, who["username"], notification_id))

    @route(
        "POST /api/notifications/read-all",
        tag=N_("消息"),
        summary=N_("全部标记为已读"),
        response=p.ReadAll,
        roles=auth.ALL,
    )
    def read_all_notifications(self, request):
        who = self._who(request)
        return call(self.notifications.read_all, who["username"])

    @route(
        "GET /api/notifications/preferences",
        tag=N_("消息"),
        summary=N_("我的消息设置：邮箱、短信/微信、按类别免打扰"),
        response=p.NotificationSettings,
        roles=auth.ALL,
    )
    def notification_preferences(self, request):
        """Where I am reached (email, the SMS/WeChat gateway) and the kinds I keep quiet."""
        who = self._who(request)
        return self._settings_in(request, call(self.notifications.preferences, who))

    @route(
        "PUT /api/notifications/preferences",
        tag=N_("消息"),
        summary=N_("修改消息设置（站内消息始终保留，免打扰的类别到达即为已读）"),
        body=p.NotificationPreferences,
        response=p.NotificationSettings,
        roles=auth.ALL,
    )
    def set_notification_preferences(self, request):
        who = self._who(request)
        return self._settings_in(request, call(self.notifications.set_preferences, who, body(request)))

    def _settings_in(self, request, settings: dict) -> dict:
        cat = i18n.catalogue(i18n.pick(request))
        if cat is None:
            return settings
        for group in ("kinds", "channels"):
            settings[group] = [{**item, "label": cat.get(item["label"])} for item in settings[group]]
        return settings

"""Who did what: the audit log as admins (every palace) and dispatchers (their own) read and export
it, and the record of each access to other people's personal data, kept before the data is
handed out."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import OrderedDict

from common.clock import CN
from common.config import setting
from common.errors import N_, Invalid, Message
from contracts import payloads as p
from contracts.base import now
from services.gateway import auth, i18n, sheets
from services.gateway.http import call, query
from services.gateway.reports import file_response
from services.gateway.routes import XLSX, route

FILTERS = ("palace_id", "username", "kind", "subject_id", "since", "until")
MAX_EXPORT = 10_000
ROLE_NAMES = {
    "admin": N_("管理员"),
    "dispatcher": N_("调度员"),
    "enterprise": N_("企业工会"),
    "volunteer": N_("志愿者"),
}
SUBJECT_NAMES = {
    "order": N_("订单"),
    "volunteer": N_("志愿者"),
    "troupe": N_("艺术团"),
    "loan": N_("借调"),
    "no_show": N_("缺席记录"),
    "alliance": N_("联盟"),
    "account": N_("账号"),
    "survey": N_("评议"),
    "import": N_("导入"),
    "volunteers": N_("志愿者名单"),
    "troupes": N_("艺术团名单"),
    "programs": N_("节目名单"),
    "enterprises": N_("企业工会名单"),
    "registrations": N_("注册申请"),
    "audit": N_("操作记录"),
}
VIEWS_REMEMBERED = 5_000


def _day(value: str | None, field: str, end: bool = False) -> str | None:
    """A day a person picks (2026-12-01, China time) as the instant it starts; ``end``: the
    instant the day after starts (the day itself included)."""
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("查询参数有误。", fields={field: [N_("日期格式不对，例如 2026-12-01。")]}) from None
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), CN)
    return start.isoformat()


class Audit:
    """Audit entrypoints mixed into the gateway service."""

    def _accessed(
        self, request, who: dict, kind: str, what: str, subject: dict, palace_ids=(), rows=None, details=None
    ):
        """Keep an entry of an access to personal data before handing the data out: no entry, no
        data (the audit service away is a 503). Looking at the same list again within the hour
        is one entry, and is not asked again of the audit service from this process."""
        key = None
        if kind == "personal_data_viewed":
            key = (who["username"], what, subject.get("id"), int(now().timestamp() // 3600))
            if key in self._views:
                return
        call(
            self.audit.record_access,
            {
                "kind": kind,
                "actor": {
                    "username": who["username"],
                    "role": who["role"],
                    "palace_id": who.get("palace_id"),
                    "address": auth.client_address(request, setting(self.config, "TRUSTED_PROXY")),
                },
                "what": what,
                "subject": subject,
                "palace_ids": [x for x in palace_ids if x],
                "rows": rows,
                "details": details or {},
            },
        )
        if key is not None:
            self._views[key] = True
            while len(self._views) > VIEWS_REMEMBERED:
                self._views.popitem(last=False)

    _views: OrderedDict = OrderedDict()

    def _audit_filters(self, request) -> tuple[dict, dict]:
        who = self._who(request)
        q = query(request, (*FILTERS, "before", "limit"))
        palace = auth.palace_scope(who, q.get("palace_id"))
        since, until = _day(q.get("since"), "since"), _day(q.get("until"), "until", end=True)
        if since and until and until <= since:
            raise Invalid("查询参数有误。", fields={"until": [N_("结束日期应不早于开始日期。")]})
        filters = {
            "palace_id": palace,
            "username": q.get("username"),
            "kinds": q.get("kind"),
            "subject_id": q.get("subject_id"),
            "since": since,
            "until": until,
            "before": q.get("before"),
        }
        return who, {k: v for k, v in filters.items() if v}

    def _said_entry(self, request, entry: dict) -> dict:
        cat = i18n.catalogue(i18n.pick(request))
        if cat is not None:
            entry = {**entry, "kind_name": cat.get(entry["kind_name"])}
        return entry

    @route(
        "GET /api/audit",
        tag=N_("操作记录"),
        summary=N_("操作记录：谁在何时从哪里做了什么；可按人、类型、时间筛选，before 翻页"),
        response=p.AuditPage,
        query=(*FILTERS, "before", "limit"),
        roles=auth.STAFF,
    )
    def audit_entries(self, request):
        """Newest first; a dispatcher sees their own palace's, an admin any palace's (or all)."""
        _, filters = self._audit_filters(request)
        limit = query(request, (*FILTERS, "before", "limit")).get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            raise Invalid("查询参数有误。", fields={"limit": [Message("应为 1 到 {max} 之间的整数。", max=200)]})
        page = call(self.audit.entries, filters, int(limit))
        page["entries"] = [self._said_entry(request, e) for e in page["entries"]]
        return page

    @route(
        "GET /api/audit/kinds",
        tag=N_("操作记录"),
        summary=N_("操作记录的类型（筛选用）"),
        response=[p.AuditKind],
        roles=auth.STAFF,
    )
    def audit_kinds(self, request):
        self._who(request)
        cat = i18n.catalogue(i18n.pick(request))
        return [{**k, "name": cat.get(k["name"]) if cat else k["name"]} for k in call(self.audit.kinds)]

    @route(
        "GET /api/audit/export",
        tag=N_("操作记录"),
        summary=N_("导出筛选出的操作记录（Excel，最多 1 万条）"),
        response=XLSX,
        query=FILTERS,
        roles=auth.STAFF,
    )
    def audit_export(self, request):
        who, filters = self._audit_filters(request)
        entries, cursor = [], None
        while len(entries) < MAX_EXPORT:
            page = call(self.audit.entries, {**filters, **({"before": cursor} if cursor else {})}, 500)
            entries += page["entries"]
            cursor = page["next"]
            if not cursor or not page["entries"]:
                break
        entries = entries[:MAX_EXPORT]
        self._accessed(
            request,
            who,
            "audit_exported",
            "audit",
            {"type": "audit", "id": filters.get("palace_id")},
            [filters.get("palace_id")],
            rows=len(entries),
            details={"filters": {k: v for k, v in filters.items() if k != "before"}},
        )
        name = i18n.gettext(i18n.pick(request), N_("操作记录")) + ".xlsx"
        return file_response(self._audit_book(request, entries), XLSX, name)

    def _audit_book(self, request, entries: list[dict]) -> bytes:
        from openpyxl import Workbook
        from openpyxl.styles import Font

        cat = i18n.catalogue(i18n.pick(request))

        def say(text: str) -> str:
            return cat.get(text) if cat else text

        book = Workbook()
        ws = book.active
        ws.title = say(N_("操作记录"))
        headers = [
            N_("时间"),
            N_("操作"),
            N_("账号"),
            N_("角色"),
            N_("所属文化宫"),
            N_("来源地址"),
            N_("对象"),
            N_("对象编号"),
            N_("内容"),
        ]
        ws.append([say(h) for h in headers])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for e in entries:
            actor, subject = e["actor"], e["subject"]
            at = dt.datetime.fromisoformat(e["at"]).astimezone(CN).strftime("%Y-%m-%d %H:%M:%S")
            row = [
                at,
                e["kind_name"],
                actor.get("username") or "",
                say(ROLE_NAMES[actor["role"]]) if actor.get("role") in ROLE_NAMES else "",
                actor.get("palace_id") or "",
                actor.get("address") or "",
                say(SUBJECT_NAMES[subject["type"]]) if subject.get("type") in SUBJECT_NAMES else "",
                subject.get("id") or "",
                json.dumps(e["details"], ensure_ascii=False, sort_keys=True)[:2000],
            ]
            ws.append([sheets.escape(str(v)) for v in row])
        for letter, width in zip("ABCDEFGHI", (20, 16, 16, 10, 14, 16, 12, 34, 80), strict=True):
            ws.column_dimensions[letter].width = width
        ws.freeze_panes = "A2"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

"""A copy of my data: everything the system holds about the signed-in person, gathered from each
service's own data over RPC (no service reads another's database), as one archive of JSON, a
readable Excel workbook and a note of what is in it."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import eventlet

from common.clock import CN
from common.errors import N_
from services.gateway import auth, i18n, sheets
from services.gateway.http import call
from services.gateway.reports import file_response
from services.gateway.routes import ZIP, route

# (service, section) → the sheet's name, in the order the workbook has them
SECTIONS = {
    ("accounts", "account"): N_("账号"),
    ("accounts", "sessions"): N_("登录会话"),
    ("accounts", "password_resets"): N_("重置密码链接"),
    ("accounts", "invitations"): N_("认领邀请"),
    ("dispatch", "volunteer"): N_("志愿者档案"),
    ("dispatch", "offers"): N_("邀约"),
    ("dispatch", "bookings"): N_("占用的时间"),
    ("dispatch", "deliveries"): N_("服务记录"),
    ("dispatch", "no_shows"): N_("缺席记录"),
    ("orders", "enterprise"): N_("企业工会"),
    ("orders", "orders"): N_("订单"),
    ("notifications", "notifications"): N_("消息"),
    ("notifications", "deliveries"): N_("消息发送记录"),
    ("notifications", "preferences"): N_("消息设置"),
    ("reporting", "events"): N_("统计存档中的事件"),
    ("reporting", "volunteer_months"): N_("每月服务时长"),
    ("audit", "by_me"): N_("我的操作记录"),
    ("audit", "about_me"): N_("与我有关的操作记录"),
}
SOURCES = ("accounts", "dispatch", "orders", "notifications", "reporting", "audit")
NOTE = N_(
    "这是系统中关于您的全部数据，由各服务从自己的数据中取出：账号（accounts）、派单（dispatch）、"
    "订单（orders，企业工会账号）、消息（notifications）、统计（reporting）和操作记录（audit）。"
    "观众评议（feedback）是匿名的，不与任何人关联，因此其中没有您的数据。"
    "密码和登录凭据只以不可还原的方式保存，不在其中。"
    "data.json 是完整的数据，Excel 表格是同样的数据，每一类一张表。"
)
MAX_CELL = 32_000


def _flat(record: dict, prefix: str = "") -> dict:
    """A record as one row: nested objects as a.b columns, lists as JSON text."""
    out: dict = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False)
        else:
            out[name] = value
    return out


def workbook(data: dict, say) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = True
    for (source, section), title in SECTIONS.items():
        rows = [_flat(r) for r in (data.get(source) or {}).get(section) or []]
        if not rows:
            continue
        ws = book.active if first else book.create_sheet()
        first = False
        ws.title = say(title)[:31]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        ws.append(columns)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            values = []
            for column in columns:
                value = row.get(column)
                text = "" if value is None else value if isinstance(value, (int, float, bool)) else str(value)
                values.append(sheets.escape(text[:MAX_CELL]) if isinstance(text, str) else text)
            ws.append(values)
        ws.freeze_panes = "A2"
    if first:
        book.active.title = say(N_("账号"))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class MyData:
    """The copy-of-my-data entrypoint mixed into the gateway service."""

    @route(
        "GET /api/me/data",
        tag=N_("账号"),
        summary=N_("下载我的全部数据（JSON 和 Excel，打包为 zip）"),
        response=ZIP,
        roles=auth.ALL,
    )
    def my_data(self, request):
        who = self._who(request)
        person = {k: who.get(k) for k in ("username", "role", "palace_id", "enterprise_id", "volunteer_id")}
        pool = eventlet.GreenPool()
        answers = pool.imap(lambda name: call(getattr(self, name).personal_data, person, timeout=60), SOURCES)
        data = {"person": person, **dict(zip(SOURCES, answers, strict=True))}
        data["feedback"] = {}
        lang = i18n.pick(request)
        cat = i18n.catalogue(lang)

        def say(text: str) -> str:
            return cat.get(text) if cat else text

        made = dt.datetime.now(CN)
        data["made_at"] = made.isoformat()
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
            z.writestr(say(N_("我的数据")) + ".xlsx", workbook(data, say))
            z.writestr(say(N_("说明")) + ".txt", say(NOTE) + "\n")
        title = say(N_("我的数据"))
        name = f"{title}-{who['username']}-{made:%Y%m%d}.zip"
        return file_response(archive.getvalue(), ZIP, name)

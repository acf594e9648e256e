"""The statistics palaces report upward, read from the reporting service's projections: the
dashboard's numbers, an Excel workbook of every table (openpyxl), a printable monthly report and a
volunteer's service-hours certificate (PDF, reportlab)."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import quote

from werkzeug.wrappers import Response

from common.clock import CN
from common.errors import N_, Invalid, Message
from contracts import payloads as p
from services.gateway import auth
from services.gateway.http import body, call, query
from services.gateway.routes import PDF, route

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIGURES = [
    ("deliveries", "服务场次"),
    ("people_served", "服务人次"),
    ("orders_placed", "下单数"),
    ("orders_rejected", "拒绝"),
    ("orders_cancelled", "取消"),
    ("orders_unfulfillable", "无法安排"),
    ("hours_to_schedule", "下单到排定（小时）"),
    ("service_hours", "志愿服务时长（小时）"),
    ("responses", "评议份数"),
    ("satisfaction", "总体满意度"),
    ("content", "节目内容"),
    ("performers", "演员/老师表现"),
    ("organisation", "组织安排"),
    ("decline_rate", "婉拒率"),
    ("no_shows", "缺席次数"),
]


def file_response(data: bytes, content_type: str, filename: str) -> Response:
    return Response(
        data,
        content_type=content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Content-Length": str(len(data)),
            "Cache-Control": "private, no-store",
        },
    )


class Reports:
    """Report entrypoints mixed into the gateway service."""

    def _report_scope(self, request) -> tuple[dict, dict, str]:
        who = self._who(request)
        q = query(request, ("palace_id", "start", "end", "month", "months", "limit"))
        palace = auth.palace_scope(who, q.get("palace_id")) or "*"
        return who, q, palace

    def _names(self, palace: str) -> dict[str, dict[str, str]]:
        scope = None if palace == "*" else palace
        return {
            "enterprise": {e["enterprise_id"]: e["name"] for e in call(self.orders.list_enterprises, scope)},
            "troupe": {t["troupe_id"]: t["name"] for t in call(self.dispatch.list_troupes, scope)},
            "volunteer": {v["volunteer_id"]: v["name"] for v in call(self.dispatch.list_volunteers, scope)},
            "palace": {p["palace_id"]: p["name"] for p in call(self.dispatch.list_palaces)},
        }

    def _dashboard(self, palace: str, start, end) -> dict:
        report = call(self.reporting.dashboard, palace, start, end)
        names = self._names(palace)
        for dim in ("enterprise", "troupe"):
            for row in report[f"by_{dim}"]:
                row["label"] = names[dim].get(row["key"], row["label"])
        report["palace_name"] = names["palace"].get(palace, "全部文化宫")
        return report

    def _volunteers(self, palace: str, start, end, limit: int) -> dict:
        board = call(self.reporting.volunteers, palace, start, end, limit)
        names = self._names(palace)["volunteer"]
        for row in board["items"]:
            row["name"] = names.get(row["volunteer_id"], row["volunteer_id"])
        return board

    def _coverage(self, palace: str, months: int) -> dict:
        cover = call(self.reporting.coverage, palace, months)
        names = self._names(palace)["enterprise"]
        for row in cover["enterprise"]:
            row["label"] = names.get(row["key"], row["key"])
        for row in cover["district"]:
            row["label"] = row["key"]
        return cover

    @staticmethod
    def _int(q: dict, name: str, default: int, lo: int, hi: int) -> int:
        try:
            value = int(q.get(name, default))
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise Invalid(
                "查询参数有误。", fields={name: [Message("应为 {min} 到 {max} 之间的整数。", min=lo, max=hi)]}
            )
        return value

    @route(
        "GET /api/reports/dashboard",
        tag=N_("统计"),
        summary=N_("统计看板：按月、区域、节目（点单率）、艺术团、企业，想看的节目"),
        response=p.Dashboard,
        query=("palace_id", "start", "end"),
        roles=auth.STAFF,
    )
    def report_dashboard(self, request):
        """Deliveries, people served, orders, satisfaction and the rest, by month and by district,
        program (with 点单率), troupe, enterprise, and the programs the audience wants next."""
        _, q, palace = self._report_scope(request)
        return self._dashboard(palace, q.get("start"), q.get("end"))

    @route(
        "GET /api/reports/volunteers",
        tag=N_("统计"),
        summary=N_("志愿者服务时长排行、婉拒率、缺席率"),
        response=p.Leaderboard,
        query=("palace_id", "start", "end", "limit"),
        roles=auth.STAFF,
    )
    def report_volunteers(self, request):
        """Volunteers' hours leaderboard with deliveries, decline and no-show rates."""
        _, q, palace = self._report_scope(request)
        return self._volunteers(palace, q.get("start"), q.get("end"), self._int(q, "limit", 50, 1, 500))

    @route(
        "GET /api/reports/coverage",
        tag=N_("统计"),
        summary=N_("N 个月未送达的企业和区域"),
        response=p.Coverage,
        query=("palace_id", "months"),
        roles=auth.STAFF,
    )
    def report_coverage(self, request):
        """Enterprises and districts not reached for N months (?months=3)."""
        _, q, palace = self._report_scope(request)
        return self._coverage(palace, self._int(q, "months", 3, 1, 36))

    @route(
        "GET /api/reports/comments",
        tag=N_("统计"),
        summary=N_("观众最新意见"),
        response=[p.AudienceComment],
        query=("palace_id", "limit"),
        roles=auth.STAFF,
    )
    def report_comments(self, request):
        """The audience's latest comments."""
        _, q, palace = self._report_scope(request)
        return call(self.reporting.comments, palace, self._int(q, "limit", 50, 1, 500))

    @route(
        "POST /api/reports/rebuild",
        tag=N_("统计"),
        summary=N_("从事件档案重建统计数据（管理员）"),
        response=p.Rebuilt,
        roles=auth.ADMIN,
    )
    def report_rebuild(self, request):
        """Throw the projections away and rebuild them from the event archive (admin)."""
        who = self._who(request)
        body(request, required=False)
        return call(self.reporting.rebuild, who["username"], timeout=600)

    # ------------------------------------------------------------ files

    @route(
        "GET /api/reports/export.xlsx",
        tag=N_("统计"),
        summary=N_("导出全部统计表（Excel）"),
        response=XLSX,
        query=("palace_id", "start", "end", "months"),
        roles=auth.STAFF,
    )
    def report_export(self, request):
        """Every table of the dashboard as an Excel workbook."""
        _, q, palace = self._report_scope(request)
        report = self._dashboard(palace, q.get("start"), q.get("end"))
        board = self._volunteers(palace, report["start"], report["end"], 500)
        cover = self._coverage(palace, self._int(q, "months", 3, 1, 36))
        comments = call(self.reporting.comments, palace, 500)
        data = workbook(report, board, cover, comments)
        name = f"送文化下基层统计_{report['palace_name']}_{report['start']}_{report['end']}.xlsx"
        return file_response(data, XLSX, name)

    @route(
        "GET /api/reports/monthly.pdf",
        tag=N_("统计"),
        summary=N_("月度服务报告（PDF，可打印）"),
        response=PDF,
        query=("palace_id", "month"),
        roles=auth.STAFF,
    )
    def report_monthly(self, request):
        """The printable monthly report (?month=YYYY-MM, default this month)."""
        _, q, palace = self._report_scope(request)
        month = q.get("month") or dt.datetime.now(CN).strftime("%Y-%m")
        report = self._dashboard(palace, month, month)
        board = self._volunteers(palace, month, month, 10)
        cover = self._coverage(palace, 3)
        comments = call(self.reporting.comments, palace, 8)
        from services.gateway.pdf import monthly_report

        data = monthly_report(report, board, cover, comments)
        return file_response(data, "application/pdf", f"送文化下基层月报_{report['palace_name']}_{month}.pdf")

    @route(
        "GET /api/volunteers/<volunteer_id>/certificate.pdf",
        tag=N_("志愿者"),
        summary=N_("志愿服务时长证明（PDF）"),
        response=PDF,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def volunteer_certificate(self, request, volunteer_id):
        """志愿服务时长证明: the volunteer's hours by month, for the volunteer or their palace."""
        _, volunteer = self._volunteer(request, volunteer_id)
        record = call(self.reporting.volunteer_record, volunteer_id)
        palace = {p["palace_id"]: p["name"] for p in call(self.dispatch.list_palaces)}.get(volunteer["palace_id"], "")
        from services.gateway.pdf import certificate

        data = certificate(volunteer, palace, record, dt.datetime.now(CN).date())
        return file_response(data, "application/pdf", f"志愿服务时长证明_{volunteer['name']}.pdf")


def workbook(report: dict, board: dict, cover: dict, comments: list[dict]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    bold = Font(bold=True)

    def sheet(title: str, header: list[str], rows: list[list], first: bool = False):
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        ws.append(header)
        for cell in ws[1]:
            cell.font = bold
        for row in rows:
            ws.append(row)
        for i, name in enumerate(header, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(str(name)) * 2 + 4))
        ws.freeze_panes = "A2"

    figs = [label for _, label in FIGURES]
    sheet(
        "按月",
        ["月份", *figs],
        [[m["month"], *[m.get(k) for k, _ in FIGURES]] for m in report["months"]]
        + [["合计", *[report["totals"].get(k) for k, _ in FIGURES]]],
        first=True,
    )
    for dim, title in (("district", "按区域"), ("program", "按节目"), ("troupe", "按艺术团"), ("enterprise", "按企业")):
        extra = ["点单率"] if dim == "program" else []
        sheet(
            title,
            ["名称", *figs, *extra],
            [
                [r["label"], *[r.get(k) for k, _ in FIGURES], *([r["order_share"]] if extra else [])]
                for r in report[f"by_{dim}"]
            ],
        )
    sheet("想看的节目", ["节目", "提及次数"], [[r["label"], r["wanted"]] for r in report["by_wanted"]])
    sheet(
        "志愿者",
        ["志愿者", "编号", "服务时长（小时）", "其中补记", "服务次数", "邀约", "婉拒率", "缺席次数", "缺席率"],
        [
            [
                r["name"],
                r["volunteer_id"],
                r["hours"],
                r["granted_hours"],
                r["deliveries"],
                r["offers"],
                r["decline_rate"],
                r["no_shows"],
                r["no_show_rate"],
            ]
            for r in board["items"]
        ],
    )
    sheet(
        f"{cover['months']}个月未送达",
        ["类别", "名称", "最近一次服务", "累计场次"],
        [["企业", r["label"], r["last_served"][:10], r["deliveries"]] for r in cover["enterprise"]]
        + [["区域", r["label"], r["last_served"][:10], r["deliveries"]] for r in cover["district"]],
    )
    sheet(
        "观众意见",
        ["时间", "节目", "区域", "总体评分", "意见"],
        [
            [c["at"][:16].replace("T", " "), c.get("program_title"), c.get("district"), c["overall"], c["comment"]]
            for c in comments
        ],
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

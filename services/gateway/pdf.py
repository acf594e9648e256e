"""Printable PDFs (reportlab): the monthly report a palace sends upward and a volunteer's
service-hours certificate (志愿服务时长证明). Chinese text uses the Adobe-GB1 CID font STSong-Light,
which PDF readers supply, so nothing needs to be embedded and no font file is shipped."""

from __future__ import annotations

import datetime as dt
import io

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from common.clock import CN

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
RED = colors.HexColor("#b3261e")
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=26, alignment=TA_CENTER, textColor=RED)
HEAD = ParagraphStyle("head", fontName=FONT, fontSize=12.5, leading=20, spaceBefore=8, spaceAfter=4)
TEXT = ParagraphStyle("text", fontName=FONT, fontSize=10.5, leading=17)
SMALL = ParagraphStyle("small", fontName=FONT, fontSize=9, leading=14, textColor=colors.HexColor("#555555"))
BIG = ParagraphStyle("big", fontName=FONT, fontSize=13, leading=26, firstLineIndent=26)


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return "—"
    if percent:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def _table(header: list[str], rows: list[list], widths: list[float] | None = None) -> Table:
    data = [header, *rows] if rows else [header, ["（无）", *[""] * (len(header) - 1)]]
    table = Table(
        [[Paragraph(str(c), TEXT if i else SMALL) for c in row] for i, row in enumerate(data)],
        colWidths=widths,
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3ede4")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#cccccc")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _document(story: list, title: str) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="工人文化宫",
        subject=title,
    )

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 8.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, f"{title}　第 {doc.page} 页")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def monthly_report(report: dict, board: dict, cover: dict, comments: list[dict]) -> bytes:
    month = report["start"]
    t = report["totals"]
    title = f"{report['palace_name']} {month[:4]}年{int(month[5:])}月 送文化下基层服务月报"
    story = [Paragraph(title, TITLE), Spacer(1, 4 * mm)]
    story.append(
        Paragraph(
            f"本月送文化服务 <b>{_fmt(t['deliveries'])}</b> 场，服务职工 <b>{_fmt(t['people_served'])}</b> 人次；"
            f"收到订单 {_fmt(t['orders_placed'])} 个，拒绝 {_fmt(t['orders_rejected'])} 个，取消 "
            f"{_fmt(t['orders_cancelled'])} 个，无法安排 {_fmt(t['orders_unfulfillable'])} 个；"
            f"志愿服务 {_fmt(t['service_hours'])} 小时；观众评议 {_fmt(t['responses'])} 份，"
            f"总体满意度 {_fmt(t['satisfaction'])} 分（满分 5 分）。",
            TEXT,
        )
    )
    story.append(Paragraph("一、主要指标", HEAD))
    from services.gateway.reports import FIGURES

    pairs = [[label, _fmt(t.get(key), percent=key.endswith("_rate"))] for key, label in FIGURES]
    half = (len(pairs) + 1) // 2
    rows = [[*pairs[i], *(pairs[i + half] if i + half < len(pairs) else ["", ""])] for i in range(half)]
    story.append(_table(["指标", "数值", "指标", "数值"], rows, [48 * mm, 30 * mm, 48 * mm, 30 * mm]))

    story.append(Paragraph("二、按区域", HEAD))
    story.append(
        _table(
            ["区域", "服务场次", "服务人次", "满意度", "下单数"],
            [
                [
                    r["label"],
                    _fmt(r["deliveries"]),
                    _fmt(r["people_served"]),
                    _fmt(r["satisfaction"]),
                    _fmt(r["orders_placed"]),
                ]
                for r in report["by_district"]
            ],
        )
    )
    story.append(Paragraph("三、按节目（点单率 = 该节目订单占全部订单的比例）", HEAD))
    story.append(
        _table(
            ["节目", "服务场次", "服务人次", "满意度", "点单率"],
            [
                [
                    r["label"],
                    _fmt(r["deliveries"]),
                    _fmt(r["people_served"]),
                    _fmt(r["satisfaction"]),
                    _fmt(r["order_share"], percent=True),
                ]
                for r in report["by_program"]
            ],
        )
    )
    story.append(Paragraph("四、志愿者服务时长（前十名）", HEAD))
    story.append(
        _table(
            ["志愿者", "服务时长（小时）", "服务次数", "婉拒率", "缺席次数"],
            [
                [
                    r["name"],
                    _fmt(r["hours"]),
                    _fmt(r["deliveries"]),
                    _fmt(r["decline_rate"], percent=True),
                    _fmt(r["no_shows"]),
                ]
                for r in board["items"]
            ],
        )
    )
    story.append(Paragraph(f"五、{cover['months']} 个月以上未送达的企业和区域", HEAD))
    story.append(
        _table(
            ["类别", "名称", "最近一次服务"],
            [["企业", r["label"], r["last_served"][:10]] for r in cover["enterprise"][:30]]
            + [["区域", r["label"], r["last_served"][:10]] for r in cover["district"][:30]],
        )
    )
    wanted = "、".join(f"{r['label']}（{r['wanted']}）" for r in report["by_wanted"][:10]) or "（无）"
    story.append(Paragraph("六、观众希望下次看到的节目", HEAD))
    story.append(Paragraph(wanted, TEXT))
    story.append(Paragraph("七、观众意见摘录", HEAD))
    for c in comments:
        story.append(Paragraph(f"{c.get('program_title') or ''}（{c['overall']} 分）：{c['comment']}", TEXT))
    if not comments:
        story.append(Paragraph("（无）", TEXT))
    return _document(story, title)


def certificate(volunteer: dict, palace: str, record: dict, today: dt.date) -> bytes:
    title = "志愿服务时长证明"
    months = record["months"]
    card = f"（工会会员互助服务卡号 {volunteer['union_card']}）" if volunteer.get("union_card") else ""
    if months:
        first, last = months[0]["month"], months[-1]["month"]
        span = f"自 {first[:4]} 年 {int(first[5:])} 月至 {last[:4]} 年 {int(last[5:])} 月"
    else:
        span = "截至目前"
    story = [
        Spacer(1, 12 * mm),
        Paragraph(title, ParagraphStyle("cert", parent=TITLE, fontSize=26, leading=36)),
        Spacer(1, 12 * mm),
        Paragraph(
            f"兹证明 <b>{volunteer['name']}</b>{card}{span}参加{palace}组织的“送文化下基层”志愿服务"
            f" <b>{record['deliveries']}</b> 次，累计志愿服务时长 <b>{_fmt(record['hours'])}</b> 小时。",
            BIG,
        ),
        Paragraph("特此证明。", BIG),
        Spacer(1, 8 * mm),
        _table(
            ["月份", "服务次数", "服务时长（小时）"],
            [[m["month"], _fmt(m["deliveries"]), _fmt(m["hours"])] for m in months],
            [50 * mm, 40 * mm, 50 * mm],
        ),
        Spacer(1, 16 * mm),
        Paragraph(f"{palace}（盖章）", ParagraphStyle("sign", parent=BIG, alignment=2, firstLineIndent=0)),
        Paragraph(
            f"{today.year} 年 {today.month} 月 {today.day} 日",
            ParagraphStyle("date", parent=BIG, alignment=2, firstLineIndent=0),
        ),
        Spacer(1, 10 * mm),
        Paragraph("时长按文化宫的计时规则由签到、签退记录计算，含调度员补记的时长。", SMALL),
    ]
    return _document(story, f"{title}（{volunteer['name']}）")


WEEKDAYS = "一二三四五六日"


def china_time(start: dt.datetime, end: dt.datetime | None = None) -> str:
    """“2026 年 12 月 8 日（星期二）14:00—16:00”, in China time."""
    start = start.astimezone(CN)
    text = f"{start.year} 年 {start.month} 月 {start.day} 日（星期{WEEKDAYS[start.weekday()]}）{start:%H:%M}"
    if end is not None:
        end = end.astimezone(CN)
        text += f"—{end:%H:%M}" if end.date() == start.date() else f" 至 {end.month} 月 {end.day} 日 {end:%H:%M}"
    return text


def _qr(canvas, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """The code as vector squares (a run of dark modules in a row is one rectangle, so no seams
    show between them), white quiet zone included, with (x, y) its lower left corner."""
    module = size / len(matrix)
    canvas.saveState()
    canvas.setFillColor(colors.white)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    for r, row in enumerate(matrix):
        top = y + size - (r + 1) * module
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            run = c
            while run < len(row) and row[run]:
                run += 1
            canvas.rect(x + c * module, top, (run - c) * module, module, stroke=0, fill=1)
            c = run
    canvas.restoreState()


def _centred(canvas, text: str, y: float, size: float, color=colors.black, width: float = A4[0] - 36 * mm) -> float:
    """A centred paragraph whose top is at y (long titles wrap); returns its bottom."""
    style = ParagraphStyle("p", fontName=FONT, fontSize=size, leading=size * 1.3, alignment=TA_CENTER, textColor=color)
    para = Paragraph(text, style)
    _, height = para.wrap(width, A4[1])
    para.drawOn(canvas, (A4[0] - width) / 2, y - height)
    return y - height


def poster(event: dict, survey_link: str, survey_qr, checkin_link: str, checkin_qr, code: str) -> bytes:
    """The A4 poster an enterprise union pins up before a delivery: what, when and where, with the
    audience's survey QR code; on the second page, for the crew only, the check-in QR code and
    the sign-in code. ``event`` holds title, palace, start, end, site and district."""
    from xml.sax.saxutils import escape

    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    palace, title = event["palace"], f"{event['title']}（{event['palace']}）"
    event = {k: escape(v) for k, v in event.items()}  # the paragraphs read markup: "&" must stay text
    survey_link, checkin_link = escape(survey_link), escape(checkin_link)
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"送文化下基层海报：{title}")
    canvas.setAuthor(palace)
    canvas.setSubject("送文化下基层")
    width, height = A4
    qr_size = 80 * mm

    # page 1: for everyone
    canvas.setFillColor(RED)
    canvas.rect(0, height - 30 * mm, width, 30 * mm, stroke=0, fill=1)
    _centred(canvas, f"{event['palace']}　送文化下基层", height - 10 * mm, 16, colors.white)
    y = _centred(canvas, event["title"], height - 44 * mm, 34, RED)
    y -= 8 * mm
    for label, value in (("时间", event["when"]), ("地点", event["site"]), ("区域", event["district"])):
        y = _centred(canvas, f"<b>{label}：</b>{value}", y, 17) - 3 * mm
    y -= 6 * mm
    _qr(canvas, survey_qr, (width - qr_size) / 2, y - qr_size, qr_size)
    y -= qr_size + 4 * mm
    y = _centred(canvas, "服务结束后，请用手机扫码评议（匿名，约一分钟）", y, 16) - 2 * mm
    y = _centred(canvas, "扫不了码？在手机浏览器里输入：", y, 10.5, colors.HexColor("#555555"))
    _centred(canvas, survey_link, y - 1 * mm, 11)
    canvas.setFont(FONT, 9)
    canvas.setFillColor(colors.HexColor("#777777"))
    canvas.drawCentredString(width / 2, 12 * mm, "欢迎广大职工参加")
    canvas.showPage()

    # page 2: for the crew (kept at the entrance, not pinned up)
    canvas.setFillColor(colors.HexColor("#333333"))
    canvas.rect(0, height - 30 * mm, width, 30 * mm, stroke=0, fill=1)
    _centred(canvas, "志愿者签到（请勿张贴，服务当天交给到场的志愿者）", height - 11 * mm, 14, colors.white)
    y = _centred(canvas, event["title"], height - 44 * mm, 24)
    y = _centred(canvas, event["when"], y - 4 * mm, 14) - 8 * mm
    y = _centred(canvas, "签到码", y, 16) - 2 * mm
    y = _centred(canvas, f"<b>{' '.join(code)}</b>", y, 44) - 6 * mm
    _qr(canvas, checkin_qr, (width - qr_size) / 2, y - qr_size, qr_size)
    y -= qr_size + 4 * mm
    y = _centred(canvas, "志愿者用手机扫码签到，签到码已自动填好；也可以在“我的日程”里输入签到码。", y, 13) - 3 * mm
    _centred(canvas, checkin_link, y, 9, colors.HexColor("#555555"))
    canvas.showPage()
    canvas.save()
    return out.getvalue()

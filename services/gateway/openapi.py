"""The OpenAPI 3 document of the HTTP API, generated from the contracts' marshmallow schemas."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from contracts import payloads as p


def _name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__


# (method, path, tag, summary, request body schema, success status, response schema, many, query params)
ROUTES = [
    ("GET", "/healthz", "运维", "健康检查：消息队列、数据库和每个服务都正常时返回 200", None, 200, p.Health, False, ()),
    ("GET", "/metrics", "运维", "Prometheus 监控指标（设置 METRICS_TOKEN 后需带令牌）", None, 200, None, False, ()),
    ("POST", "/api/login", "账号", "登录：用户名和密码换取有时效的令牌", p.Login, 200, p.Session, False, ()),
    ("POST", "/api/logout", "账号", "退出登录", None, 200, p.Health, False, ()),
    ("GET", "/api/me", "账号", "当前登录的账号和角色", None, 200, p.Principal, False, ()),
    (
        "POST",
        "/api/register",
        "账号",
        "企业工会或志愿者自行注册，待调度员审核",
        p.Registration,
        201,
        p.RegistrationOut,
        False,
        (),
    ),
    (
        "GET",
        "/api/registrations",
        "账号",
        "注册申请列表（默认待审核）",
        None,
        200,
        p.RegistrationOut,
        True,
        ("palace_id", "status"),
    ),
    (
        "POST",
        "/api/registrations/{username}/approve",
        "账号",
        "通过注册：建立企业或志愿者档案并开通账号",
        None,
        200,
        p.RegistrationOut,
        False,
        (),
    ),
    (
        "POST",
        "/api/registrations/{username}/reject",
        "账号",
        "拒绝注册（须说明理由）",
        p.RejectRegistration,
        200,
        p.RegistrationOut,
        False,
        (),
    ),
    ("GET", "/api/palaces", "目录", "文化宫列表", None, 200, p.Palace, True, ()),
    (
        "PUT",
        "/api/palaces/{palace_id}",
        "调度",
        "文化宫设置：答复期限、排班规则、权重、区域坐标",
        p.Palace,
        200,
        p.Palace,
        False,
        (),
    ),
    (
        "POST",
        "/api/palaces/{palace_id}/replan",
        "调度",
        "批量重新排班（一个时段内所有未排定订单）",
        p.Replan,
        200,
        p.ReplanOut,
        False,
        (),
    ),
    (
        "GET",
        "/api/palaces/{palace_id}/board",
        "调度",
        "调度看板：各状态订单数、待答复和即将到期的邀约",
        None,
        200,
        p.Board,
        False,
        (),
    ),
    (
        "GET",
        "/api/palaces/{palace_id}/deliveries",
        "调度",
        "服务日历：一个时段内已排定和已完成的服务",
        None,
        200,
        p.DeliveryOut,
        True,
        ("start", "end"),
    ),
    ("GET", "/api/no-shows", "调度", "缺席记录", None, 200, p.NoShowOut, True, ("palace_id", "volunteer_id")),
    (
        "POST",
        "/api/no-shows/{no_show_id}/clear",
        "调度",
        "撤销一条缺席记录（须说明理由）",
        p.ClearNoShow,
        200,
        p.NoShowOut,
        False,
        (),
    ),
    (
        "GET",
        "/api/alliances",
        "联盟",
        "文化宫联盟（调度员看到本文化宫所在的联盟）",
        None,
        200,
        p.AllianceOut,
        True,
        ("palace_id",),
    ),
    ("POST", "/api/alliances", "联盟", "管理员建立文化宫联盟", p.NewAlliance, 201, p.AllianceOut, False, ()),
    (
        "GET",
        "/api/alliances/troupes",
        "联盟",
        "联盟共享的队伍：名称、保留节目、各技能人数（不含队员联系方式）",
        None,
        200,
        p.SharedTroupeOut,
        True,
        ("alliance_id", "palace_id"),
    ),
    (
        "PUT",
        "/api/troupes/{troupe_id}/sharing",
        "联盟",
        "队伍所属文化宫设置是否向联盟共享",
        p.ShareTroupe,
        200,
        p.Troupe,
        False,
        (),
    ),
    ("GET", "/api/loans", "联盟", "本文化宫借出和借入的队伍申请", None, 200, p.LoansOut, False, ("palace_id",)),
    ("POST", "/api/loans", "联盟", "为一个订单申请借用联盟共享的队伍", p.RequestLoan, 201, p.LoanOut, False, ()),
    (
        "POST",
        "/api/loans/{loan_id}/approve",
        "联盟",
        "队伍所属文化宫同意借用，订单随即可以安排这支队伍的队员",
        None,
        200,
        p.LoanOut,
        False,
        (),
    ),
    (
        "POST",
        "/api/loans/{loan_id}/refuse",
        "联盟",
        "队伍所属文化宫拒绝借用（须说明理由）",
        p.RefuseLoan,
        200,
        p.LoanOut,
        False,
        (),
    ),
    ("GET", "/api/programs", "目录", "节目目录（标配服务项目）", None, 200, p.Program, True, ("palace_id",)),
    ("GET", "/api/programs/{program_id}", "目录", "一个节目", None, 200, p.Program, False, ()),
    ("GET", "/api/enterprises", "目录", "企业工会列表", None, 200, p.Enterprise, True, ("palace_id",)),
    (
        "GET",
        "/api/enterprises/{enterprise_id}",
        "目录",
        "一个企业工会（所在区域等）",
        None,
        200,
        p.Enterprise,
        False,
        (),
    ),
    ("GET", "/api/troupes", "调度", "艺术团列表", None, 200, p.Troupe, True, ("palace_id",)),
    ("GET", "/api/volunteers", "调度", "志愿者列表", None, 200, p.Volunteer, True, ("palace_id",)),
    ("GET", "/api/volunteers/{volunteer_id}", "志愿者", "一位志愿者", None, 200, p.Volunteer, False, ()),
    (
        "PUT",
        "/api/programs/{program_id}",
        "调度",
        "新增或修改节目（人员需求、场地要求）",
        p.Program,
        200,
        p.Program,
        False,
        (),
    ),
    (
        "PUT",
        "/api/troupes/{troupe_id}",
        "调度",
        "新增或修改艺术团（队员、保留节目）",
        p.Troupe,
        200,
        p.Troupe,
        False,
        (),
    ),
    (
        "PUT",
        "/api/volunteers/{volunteer_id}",
        "调度",
        "新增或修改志愿者（技能、区域、个人上限和意愿）",
        p.Volunteer,
        200,
        p.Volunteer,
        False,
        (),
    ),
    (
        "GET",
        "/api/volunteers/{volunteer_id}/hours",
        "志愿者",
        "我的服务时长：逐次明细和本月、本年、累计",
        None,
        200,
        p.VolunteerHours,
        False,
        (),
    ),
    (
        "PUT",
        "/api/volunteers/{volunteer_id}/availability",
        "志愿者",
        "设置空闲时间",
        p.SetAvailability,
        200,
        p.Volunteer,
        False,
        (),
    ),
    (
        "GET",
        "/api/volunteers/{volunteer_id}/calendar",
        "志愿者",
        "我的服务日历订阅地址（.ics，可加到手机日历）",
        None,
        200,
        p.CalendarLink,
        False,
        (),
    ),
    ("GET", "/ics/{token}", "志愿者", "服务日历（iCalendar），地址自带密钥，无需登录", None, 200, None, False, ()),
    ("GET", "/api/volunteers/{volunteer_id}/offers", "志愿者", "我的邀约", None, 200, p.OfferOut, True, ("status",)),
    ("POST", "/api/offers/{offer_id}/accept", "志愿者", "接受邀约", p.AnswerOffer, 200, p.OfferOut, False, ()),
    ("POST", "/api/offers/{offer_id}/decline", "志愿者", "婉拒邀约", p.AnswerOffer, 200, p.OfferOut, False, ()),
    (
        "POST",
        "/api/offers/{offer_id}/swap",
        "志愿者",
        "把已接受的任务转给同事（同事接受后生效）",
        p.ProposeSwap,
        201,
        p.OfferOut,
        False,
        (),
    ),
    (
        "POST",
        "/api/orders/recurring",
        "订单",
        "按重复规则（RRULE）一次下一系列订单，重复提交不会重复下单",
        p.PlaceRecurringRequest,
        201,
        p.OrderOut,
        True,
        (),
    ),
    (
        "POST",
        "/api/orders",
        "订单",
        "下单：企业工会为本单位下单；调度员可为本文化宫的企业工会代下单，加急（urgent）时不受提前预约时间限制",
        p.PlaceOrderRequest,
        201,
        p.OrderOut,
        False,
        (),
    ),
    (
        "GET",
        "/api/orders",
        "订单",
        "订单列表（按企业、文化宫、状态，分页）",
        None,
        200,
        p.OrderPage,
        False,
        ("enterprise_id", "palace_id", "status", "page", "per_page"),
    ),
    ("GET", "/api/orders/{order_id}", "订单", "一个订单及其状态记录", None, 200, p.OrderOut, False, ()),
    ("PATCH", "/api/orders/{order_id}", "订单", "排期前修改订单", p.AmendOrder, 200, p.OrderOut, False, ()),
    ("POST", "/api/orders/{order_id}/cancel", "订单", "服务前取消订单", p.CancelOrder, 200, p.OrderOut, False, ()),
    ("POST", "/api/orders/{order_id}/accept", "调度", "受理订单", p.AcceptOrder, 200, p.OrderOut, False, ()),
    (
        "POST",
        "/api/orders/{order_id}/reject",
        "调度",
        "拒绝订单（须说明理由）",
        p.RejectOrder,
        200,
        p.OrderOut,
        False,
        (),
    ),
    ("POST", "/api/orders/{order_id}/confirm", "订单", "企业确认已服务", None, 200, p.OrderOut, False, ()),
    ("GET", "/api/orders/{order_id}/plan", "调度", "派单安排：人员、邀约、签到", None, 200, p.PlanOut, False, ()),
    ("POST", "/api/orders/{order_id}/check-in", "志愿者", "服务当天签到", p.CheckInOut, 200, p.Attendance, False, ()),
    ("POST", "/api/orders/{order_id}/check-out", "志愿者", "服务当天签退", p.CheckInOut, 200, p.Attendance, False, ()),
    (
        "POST",
        "/api/orders/{order_id}/complete",
        "调度",
        "服务完成，填报服务人次",
        p.CompleteDelivery,
        200,
        p.PlanOut,
        False,
        (),
    ),
    (
        "POST",
        "/api/orders/{order_id}/plan/assign",
        "调度",
        "调度员指定人选（仍守硬性规则）",
        p.Assign,
        201,
        p.OfferOut,
        False,
        (),
    ),
    (
        "POST",
        "/api/orders/{order_id}/no-show",
        "调度",
        "登记缺席并自动找人顶替",
        p.ReportNoShow,
        201,
        p.NoShowOut,
        False,
        (),
    ),
    (
        "POST",
        "/api/orders/{order_id}/hours",
        "调度",
        "手工补记服务时长（单独标记）",
        p.GrantHours,
        201,
        p.GrantOut,
        False,
        (),
    ),
    ("GET", "/api/orders/{order_id}/survey", "评议", "本次服务的评议二维码链接", None, 200, p.SurveyLink, False, ()),
    (
        "GET",
        "/api/orders/{order_id}/survey/qr.svg",
        "评议",
        "评议二维码（SVG），给工人扫码",
        None,
        200,
        None,
        False,
        (),
    ),
    (
        "GET",
        "/api/orders/{order_id}/sign-in/qr.svg",
        "订单",
        "签到二维码（SVG）：志愿者扫码打开签到，签到码已填好",
        None,
        200,
        None,
        False,
        (),
    ),
    (
        "GET",
        "/api/orders/{order_id}/poster.pdf",
        "订单",
        "活动海报（A4 PDF）：节目、时间、地点、评议二维码；第二页为志愿者签到二维码和签到码（排定后可下载）",
        None,
        200,
        None,
        False,
        (),
    ),
    ("POST", "/api/orders/{order_id}/survey/close", "评议", "结束评议", None, 200, p.SurveyOut, False, ()),
    (
        "GET",
        "/api/reports/dashboard",
        "统计",
        "统计看板：按月、区域、节目（点单率）、艺术团、企业，想看的节目",
        None,
        200,
        p.Dashboard,
        False,
        ("palace_id", "start", "end"),
    ),
    (
        "GET",
        "/api/reports/volunteers",
        "统计",
        "志愿者服务时长排行、婉拒率、缺席率",
        None,
        200,
        p.Leaderboard,
        False,
        ("palace_id", "start", "end", "limit"),
    ),
    (
        "GET",
        "/api/reports/coverage",
        "统计",
        "N 个月未送达的企业和区域",
        None,
        200,
        p.Coverage,
        False,
        ("palace_id", "months"),
    ),
    (
        "GET",
        "/api/reports/comments",
        "统计",
        "观众最新意见",
        None,
        200,
        p.AudienceComment,
        True,
        ("palace_id", "limit"),
    ),
    ("POST", "/api/reports/rebuild", "统计", "从事件档案重建统计数据（管理员）", None, 200, p.Rebuilt, False, ()),
    (
        "GET",
        "/api/reports/export.xlsx",
        "统计",
        "导出全部统计表（Excel）",
        None,
        200,
        None,
        False,
        ("palace_id", "start", "end", "months"),
    ),
    (
        "GET",
        "/api/reports/monthly.pdf",
        "统计",
        "月度服务报告（PDF，可打印）",
        None,
        200,
        None,
        False,
        ("palace_id", "month"),
    ),
    (
        "GET",
        "/api/volunteers/{volunteer_id}/certificate.pdf",
        "志愿者",
        "志愿服务时长证明（PDF）",
        None,
        200,
        None,
        False,
        (),
    ),
    (
        "GET",
        "/api/notifications",
        "消息",
        "我的消息：新的在前，附未读数；before 翻页",
        None,
        200,
        p.NotificationPage,
        False,
        ("before", "limit"),
    ),
    (
        "POST",
        "/api/notifications/{notification_id}/read",
        "消息",
        "标记一条消息为已读",
        None,
        200,
        p.Notification,
        False,
        (),
    ),
    ("POST", "/api/notifications/read-all", "消息", "全部标记为已读", None, 200, p.ReadAll, False, ()),
    (
        "GET",
        "/api/notifications/preferences",
        "消息",
        "我的消息设置：邮箱、短信/微信、按类别免打扰",
        None,
        200,
        p.NotificationSettings,
        False,
        (),
    ),
    (
        "PUT",
        "/api/notifications/preferences",
        "消息",
        "修改消息设置（站内消息始终保留，免打扰的类别到达即为已读）",
        p.NotificationPreferences,
        200,
        p.NotificationSettings,
        False,
        (),
    ),
    ("GET", "/api/surveys/{token}", "评议", "观众评议表（匿名）", None, 200, p.PublicSurvey, False, ()),
    (
        "POST",
        "/api/surveys/{token}/responses",
        "评议",
        "提交一份匿名评议（已收到即答 202，数秒内计入）",
        p.SubmitResponse,
        202,
        p.ResponseAccepted,
        False,
        (),
    ),
]

PUBLIC = {
    "/healthz",
    "/metrics",
    "/api/login",
    "/api/register",
    "/api/surveys/{token}",
    "/api/surveys/{token}/responses",
    "/ics/{token}",
}

ERRORS = {
    "400": "提交的内容有误（字段说明见 fields）",
    "401": "未登录或登录已过期",
    "403": "没有权限",
    "404": "找不到",
    "409": "当前状态下不能这样做",
    "413": "提交的内容太大",
    "429": "提交太频繁（评议表按评议和按客户端限流）",
    "503": "服务暂时不可用",
}

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUERY_TYPES = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
    "start": {"type": "string"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    "months": {"type": "integer", "minimum": 1, "maximum": 36},
}


def build() -> dict:
    spec = APISpec(
        title="送文化下基层 API",
        version="1.0.0",
        openapi_version="3.0.3",
        info={
            "description": "企业工会点单、文化宫调度、志愿者服务、观众评议。所有错误都以 JSON 返回：code、message、fields（默认中文；Accept-Language: en 时为英文）。"
        },
        plugins=[MarshmallowPlugin(schema_name_resolver=_name)],
    )
    spec.components.schema("Error", schema=p.Error)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict] = {}
    for method, path, tag, summary, request, status, response, many, params in ROUTES:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": QUERY_TYPES.get(name, {"type": "string"})}
            for name in params
        ]
        if response is None:  # an image or a calendar, not JSON
            kind = (
                "text/plain"
                if path == "/metrics"
                else "text/calendar"
                if path.startswith("/ics/")
                else XLSX_TYPE
                if path.endswith(".xlsx")
                else "application/pdf"
                if path.endswith(".pdf")
                else "image/svg+xml"
            )
            content = {kind: {"schema": {"type": "string"}}}
        else:
            body_schema = {"$ref": f"#/components/schemas/{_register(spec, response)}"}
            if many:
                body_schema = {"type": "array", "items": body_schema}
            content = {"application/json": {"schema": body_schema}}
        operation = {
            "tags": [tag],
            "summary": summary,
            "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "parameters": parameters,
            "responses": {
                str(status): {"description": "成功", "content": content},
                **{
                    code: {
                        "description": text,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        if path not in PUBLIC:
            operation["security"] = [{"bearer": []}]
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{_register(spec, request)}"}}
                },
            }
        paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _register(spec: APISpec, schema) -> str:
    name = _name(schema)
    if name not in spec.components.schemas:
        spec.components.schema(name, schema=schema)
    return name

"""Payloads of every RPC and HTTP call: what people send in, and what they get back.

Inputs are strict (unknown fields refused); outputs are the shape the gateway returns.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, validates_schema

from common.messages import N_, Message
from contracts.base import (
    Count,
    Id,
    Length,
    OneOf,
    Range,
    Rating,
    StrictSchema,
    Text,
    Time,
    TimeWindowSchema,
    fields,
    validate,
)
from contracts.events import NOTIFICATION_CHANNELS, NOTIFICATION_KINDS, ORDER_STATUSES

PROGRAM_KINDS = ("performance", "training", "lecture", "screening", "talk", "consultation")
PHONE = validate.Regexp(r"^[0-9+\- ]{5,20}$", error=N_("电话号码格式不对。"))


def Windows(**kw):
    return fields.List(
        fields.Nested(TimeWindowSchema),
        validate=validate.Length(min=1, max=10, error=N_("请提供 1 到 10 个可选时间段。")),
        **kw,
    )


def IdList(*, maximum: int = 200, **kw):
    return fields.List(
        Id(),
        validate=Length(max=maximum, error=N_("最多 {max} 项。")),
        load_default=list,
        **kw,
    )


def TextList(*, maximum: int = 50, item_length: int = 50, **kw):
    return fields.List(
        Text(max_length=item_length),
        validate=Length(max=maximum, error=N_("最多 {max} 项。")),
        load_default=list,
        **kw,
    )


# ---------------------------------------------------------------- orders


class TimeRules(StrictSchema):
    """A palace's booking rules passed along with an order (missing ones keep the defaults);
    `urgent`: a dispatcher's order, which skips the lead time and nothing else."""

    min_lead_hours = Count(required=False, minimum=0, maximum=24 * 30, load_default=None, allow_none=True)
    horizon_days = Count(required=False, minimum=1, maximum=366 * 3, load_default=None, allow_none=True)
    urgent = fields.Boolean(load_default=False)


class _OrderFields(StrictSchema):
    enterprise_id = Id()
    palace_id = Id()
    program_id = Id(required=False, allow_none=True, load_default=None)
    custom_request = Text(required=False, allow_none=True, max_length=1000, load_default=None, label=N_("自定义需求"))
    site_address = Text(max_length=200, label=N_("服务地点"))
    district = Text(max_length=50, label=N_("区域"))
    audience_size = Count(minimum=1, maximum=100_000)
    contact_name = Text(max_length=50, label=N_("联系人"))
    contact_phone = fields.String(required=True, validate=PHONE)
    note = Text(required=False, allow_none=True, max_length=1000, load_default=None, label=N_("备注"))

    @validates_schema
    def program_or_request(self, data, **kwargs):
        if not data.get("program_id") and not data.get("custom_request"):
            raise ValidationError({"program_id": [N_("请选择一个节目，或填写自定义需求。")]})


class PlaceOrder(_OrderFields):
    windows = Windows(required=True)
    # set by the form once per order: a resubmission (double click, retry on a bad network)
    # returns the order already placed instead of placing a second one
    client_ref = Id(required=False, allow_none=True, load_default=None)


class PlaceRecurringOrder(_OrderFields):
    """A series: the first time window and an iCalendar RRULE, e.g. FREQ=WEEKLY;COUNT=8 for a
    weekly class over eight weeks. Sending the same series again places nothing new."""

    first_window = fields.Nested(TimeWindowSchema, required=True)
    rrule = Text(max_length=300)
    # names the series; by default the series is named by its content
    series_ref = Id(required=False, allow_none=True, load_default=None)


class _ByDispatcher(Schema):
    # a dispatcher (an admin) orders for an enterprise union of their palace (enterprise_id);
    # urgent: the window may start sooner than the palace's lead time (min_lead_hours)
    urgent = fields.Boolean(load_default=False)


class PlacedBy(StrictSchema):
    """Who placed an order: the union itself, or its palace's dispatcher (an admin) for it."""

    username = Text(max_length=100)
    role = OneOf(("enterprise", "dispatcher", "admin"))


class PlaceOrderRequest(PlaceOrder, _ByDispatcher):
    """POST /api/orders: an enterprise union's order (its own enterprise_id and palace by
    default; palace_id may name a palace of its palace's alliance), or a dispatcher's for a union."""


class PlaceRecurringRequest(PlaceRecurringOrder, _ByDispatcher):
    """POST /api/orders/recurring, as POST /api/orders."""


class AmendOrder(StrictSchema):
    program_id = Id(required=False, allow_none=True)
    custom_request = Text(required=False, allow_none=True, max_length=1000, label=N_("自定义需求"))
    site_address = Text(required=False, max_length=200, label=N_("服务地点"))
    district = Text(required=False, max_length=50, label=N_("区域"))
    audience_size = Count(required=False, minimum=1, maximum=100_000)
    windows = Windows(required=False)
    contact_name = Text(required=False, max_length=50, label=N_("联系人"))
    contact_phone = fields.String(required=False, validate=PHONE)
    note = Text(required=False, allow_none=True, max_length=1000, label=N_("备注"))

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError({"_schema": [N_("没有要修改的内容。")]})


class CancelOrder(StrictSchema):
    reason = Text(required=False, allow_none=True, max_length=500, load_default=None)


class AcceptOrder(StrictSchema):
    note = Text(required=False, allow_none=True, max_length=500, load_default=None)
    program_id = Id(required=False, allow_none=True, load_default=None)


class RejectOrder(StrictSchema):
    reason = Text(max_length=500)


class ListOrders(StrictSchema):
    enterprise_id = Id(required=False)
    palace_id = Id(required=False)
    status = OneOf(ORDER_STATUSES, required=False)
    page = Count(required=False, minimum=1, maximum=100_000, load_default=1, strict=False)
    per_page = Count(required=False, minimum=1, maximum=100, load_default=20, strict=False)


class StatusChange(Schema):
    status = fields.String()
    at = Time()
    reason = fields.String(allow_none=True)


class WindowOut(Schema):
    start = Time()
    end = Time()


class OrderOut(Schema):
    order_id = fields.String()
    enterprise_id = fields.String()
    enterprise_name = fields.String(allow_none=True)
    palace_id = fields.String()
    program_id = fields.String(allow_none=True)
    program_title = fields.String(allow_none=True)
    custom_request = fields.String(allow_none=True)
    site_address = fields.String()
    district = fields.String()
    audience_size = fields.Integer()
    windows = fields.List(fields.Nested(WindowOut))
    contact_name = fields.String()
    contact_phone = fields.String()
    note = fields.String(allow_none=True)
    status = OneOf(ORDER_STATUSES)
    history = fields.List(fields.Nested(StatusChange))
    scheduled_start = Time(allow_none=True)
    scheduled_end = Time(allow_none=True)
    troupe_id = fields.String(allow_none=True)
    people_served = fields.Integer(allow_none=True)
    satisfaction = fields.Float(allow_none=True)
    responses = fields.Integer(allow_none=True)
    delivery_confirmed_at = Time(allow_none=True)
    series_id = fields.String(allow_none=True)
    # placed by the palace within the lead time; who placed it (orders from before: false, null)
    urgent = fields.Boolean(dump_default=False)
    placed_by = fields.Nested(PlacedBy, allow_none=True, dump_default=None)
    created_at = Time()
    updated_at = Time()


class OrderPage(Schema):
    items = fields.List(fields.Nested(OrderOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class Enterprise(StrictSchema):
    enterprise_id = Id()
    palace_id = Id()
    name = Text(max_length=100)
    district = Text(max_length=50)
    address = Text(required=False, max_length=200, min_length=0, load_default="")
    # the union's contact for the palace (filled in at registration; the order form starts from it)
    contact_name = Text(required=False, allow_none=True, max_length=50, load_default=None)
    contact_phone = fields.String(required=False, allow_none=True, validate=PHONE, load_default=None)


# ---------------------------------------------------------------- dispatch


def Number(minimum: float, maximum: float, **kw):
    return fields.Float(
        required=False,
        allow_none=True,
        load_default=None,
        allow_nan=False,
        validate=Range(
            min=minimum,
            max=maximum,
            error=N_("应为 {min} 到 {max} 之间的数。"),
            values={"min": f"{minimum:g}", "max": f"{maximum:g}"},
        ),
        **kw,
    )


class PlanningRules(StrictSchema):
    """Hard rules of a palace (missing ones keep the defaults)."""

    rest_minutes = Count(required=False, minimum=0, maximum=240, load_default=None, allow_none=True)
    max_travel_km = Number(1, 500)
    week_deliveries = Count(required=False, minimum=1, maximum=21, load_default=None, allow_none=True)
    month_hours = Number(1, 300)
    troupe_week_deliveries = Count(required=False, minimum=1, maximum=50, load_default=None, allow_none=True)
    # hours: a volunteer must attend at least this share of the slot before any hours count
    min_attendance_share = Number(0, 1)
    # "attended": check-in to check-out inside the slot; "scheduled": the slot's length once attended
    hours_basis = OneOf(("attended", "scheduled"), required=False, load_default=None, allow_none=True)


class Weights(StrictSchema):
    """How much each criterion counts when the planner chooses (0 = ignore it)."""

    serve = Number(0, 10_000)
    underserved = Number(0, 10_000)
    travel = Number(0, 10_000)
    fairness = Number(0, 10_000)
    troupe = Number(0, 10_000)
    preference = Number(0, 10_000)


class District(StrictSchema):
    name = Text(max_length=50)
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90, error=N_("纬度应在 -90 到 90 之间。")))
    lon = fields.Float(
        required=True, validate=validate.Range(min=-180, max=180, error=N_("经度应在 -180 到 180 之间。"))
    )


class Palace(StrictSchema):
    palace_id = Id()
    name = Text(max_length=100)
    district = Text(max_length=50)
    offer_hours = Count(required=False, minimum=1, maximum=24 * 14, load_default=24)
    rules = fields.Nested(PlanningRules, load_default=dict)
    weights = fields.Nested(Weights, load_default=dict)
    districts = fields.List(
        fields.Nested(District), load_default=list, validate=validate.Length(max=500, error=N_("最多 500 个区域。"))
    )
    nightly_replan = fields.Boolean(load_default=True)
    # booking: an order's first window starts at least this many hours ahead (a dispatcher's
    # urgent order excepted) and its windows end within this many days
    min_lead_hours = Count(required=False, minimum=0, maximum=24 * 30, load_default=48)
    horizon_days = Count(required=False, minimum=1, maximum=366 * 3, load_default=365)


class Need(StrictSchema):
    skill = Text(max_length=20)
    count = Count(minimum=1, maximum=50)


class Program(StrictSchema):
    program_id = Id()
    palace_id = Id()
    title = Text(max_length=100)
    kind = OneOf(PROGRAM_KINDS)
    duration_minutes = Count(minimum=15, maximum=12 * 60)
    needs = fields.List(
        fields.Nested(Need),
        required=True,
        validate=validate.Length(min=1, max=20, error=N_("请列出 1 到 20 项人员需求。")),
    )
    description = Text(required=False, max_length=2000, min_length=0, load_default="")
    site_requirements = Text(required=False, max_length=1000, min_length=0, load_default="")


class Troupe(StrictSchema):
    troupe_id = Id()
    palace_id = Id()
    name = Text(max_length=100)
    district = Text(max_length=50)
    members = IdList()
    repertoire = IdList()
    max_deliveries_per_week = Count(required=False, minimum=1, maximum=50, load_default=None, allow_none=True)
    # shared with the palace's alliance (队伍联用); left out, an edit keeps what was set
    shared = fields.Boolean(required=False, load_default=None, allow_none=True)


class Volunteer(StrictSchema):
    volunteer_id = Id()
    palace_id = Id()
    name = Text(max_length=50)
    phone = fields.String(required=True, validate=PHONE)
    skills = TextList(maximum=20, item_length=20)
    district = Text(max_length=50)
    troupe_ids = IdList(maximum=20)
    availability = fields.List(fields.Nested(TimeWindowSchema), load_default=list)
    union_card = Text(required=False, allow_none=True, max_length=40, load_default=None)  # 工会会员互助服务卡
    # the volunteer's own limits and wishes (the palace's rules apply where these are empty)
    max_deliveries_per_week = Count(required=False, minimum=1, maximum=21, load_default=None, allow_none=True)
    max_hours_per_month = Number(1, 300)
    max_travel_km = Number(1, 500)
    preferred_kinds = fields.List(OneOf(PROGRAM_KINDS), load_default=list)
    preferred_districts = TextList(maximum=50, item_length=50)


class SetLending(StrictSchema):
    """A volunteer's own consent to be lent, with their troupe, to the orders of alliance palaces
    (their details then reach another palace's dispatchers). Off until they turn it on."""

    allowed = fields.Boolean(required=True)


class LendingOut(Schema):
    volunteer_id = fields.String()
    allowed = fields.Boolean()
    at = Time(allow_none=True)


class SetAvailability(StrictSchema):
    availability = fields.List(
        fields.Nested(TimeWindowSchema),
        required=True,
        validate=validate.Length(max=500, error=N_("时间段太多（最多 500 个）。")),
    )


class AnswerOffer(StrictSchema):
    volunteer_id = Id()
    reason = Text(required=False, allow_none=True, max_length=500, load_default=None)


class CheckInOut(StrictSchema):
    volunteer_id = Id()
    at = Time(required=False, load_default=None)
    # the delivery's sign-in code, shown on site by the enterprise union (a volunteer needs it)
    code = fields.String(required=False, allow_none=True, load_default=None, validate=validate.Length(max=20))


class CompleteDelivery(StrictSchema):
    people_served = Count(minimum=0, maximum=100_000)
    at = Time(required=False, load_default=None)
    # required when nobody on the crew checked in (e.g. they signed a paper list on site)
    reason = Text(required=False, allow_none=True, max_length=500, min_length=0, load_default=None)


OFFER_STATUSES = ("pending", "accepted", "declined", "expired", "withdrawn", "handed_over", "no_show")


class Period(StrictSchema):
    start = Time()
    end = Time()

    @validates_schema
    def validate_period(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError({"end": [N_("结束时间应晚于开始时间。")]})
        if (data["end"] - data["start"]).days > 92:
            raise ValidationError({"end": [N_("一次最多查看 92 天。")]})


class DeliveryOut(Schema):
    order_id = fields.String()
    status = fields.String()
    program_title = fields.String(allow_none=True)
    troupe_id = fields.String(allow_none=True)
    start = Time()
    end = Time()
    district = fields.Function(lambda plan: (plan.get("order") or {}).get("district"))
    site_address = fields.Function(lambda plan: (plan.get("order") or {}).get("site_address"))
    people_served = fields.Integer(allow_none=True)


class HoursItem(Schema):
    order_id = fields.String()
    program_title = fields.String(allow_none=True)
    start = Time()
    end = Time()
    hours = fields.Float()
    granted_hours = fields.Float()
    # why the counted hours are what they are: a stable code (not_checked_in, short, no_check_out,
    # too_short) and its Chinese text; None when they are the time served
    hours_reason = fields.String(allow_none=True)
    hours_reason_text = fields.String(allow_none=True)
    min_attendance_share = fields.Float(allow_none=True)
    granted_reason = fields.String(allow_none=True)  # "granted" when a dispatcher added hours
    granted_reason_text = fields.String(allow_none=True)


class VolunteerHours(Schema):
    volunteer_id = fields.String()
    items = fields.List(fields.Nested(HoursItem))
    month = fields.Float()
    year = fields.Float()
    all = fields.Float()
    granted = fields.Float()
    deliveries = fields.Integer()


class ReportFigures(Schema):
    deliveries = fields.Integer()
    people_served = fields.Integer()
    orders_placed = fields.Integer()
    orders_accepted = fields.Integer()
    orders_rejected = fields.Integer()
    orders_cancelled = fields.Integer()
    orders_unfulfillable = fields.Integer()
    orders_scheduled = fields.Integer()
    orders_closed = fields.Integer()
    hours_to_schedule = fields.Float(allow_none=True)
    service_hours = fields.Float()
    responses = fields.Integer()
    satisfaction = fields.Float(allow_none=True)
    content = fields.Float(allow_none=True)
    performers = fields.Float(allow_none=True)
    organisation = fields.Float(allow_none=True)
    offers = fields.Integer()
    decline_rate = fields.Float(allow_none=True)
    expiry_rate = fields.Float(allow_none=True)
    no_shows = fields.Integer()
    # 队伍联用: loans asked for by the palace, troupes it borrowed and troupes it lent
    troupe_loans_requested = fields.Integer()
    troupes_borrowed = fields.Integer()
    troupes_lent = fields.Integer()


class ReportMonth(ReportFigures):
    month = fields.String()


class ReportRow(ReportFigures):
    key = fields.String()
    label = fields.String()
    wanted = fields.Integer()
    order_share = fields.Float(allow_none=True)  # 点单率: this row's share of the orders placed


class Dashboard(Schema):
    palace_id = fields.String()
    palace_name = fields.String()
    start = fields.String()
    end = fields.String()
    totals = fields.Nested(ReportFigures)
    months = fields.List(fields.Nested(ReportMonth))
    by_district = fields.List(fields.Nested(ReportRow))
    by_program = fields.List(fields.Nested(ReportRow))
    by_troupe = fields.List(fields.Nested(ReportRow))
    by_enterprise = fields.List(fields.Nested(ReportRow))
    by_wanted = fields.List(fields.Nested(ReportRow))


class LeaderRow(Schema):
    volunteer_id = fields.String()
    name = fields.String()
    hours = fields.Float()
    granted_hours = fields.Float()
    deliveries = fields.Integer()
    offers = fields.Integer()
    decline_rate = fields.Float(allow_none=True)
    no_show_rate = fields.Float(allow_none=True)
    no_shows = fields.Integer()


class Leaderboard(Schema):
    palace_id = fields.String()
    start = fields.String()
    end = fields.String()
    items = fields.List(fields.Nested(LeaderRow))


class NotReached(Schema):
    key = fields.String()
    label = fields.String()
    last_served = fields.String()
    deliveries = fields.Integer()


class Coverage(Schema):
    palace_id = fields.String()
    months = fields.Integer()
    since = fields.String()
    enterprise = fields.List(fields.Nested(NotReached))
    district = fields.List(fields.Nested(NotReached))


class AudienceComment(Schema):
    response_id = fields.String()
    palace_id = fields.String()
    order_id = fields.String(allow_none=True)
    program_title = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    overall = fields.Integer()
    comment = fields.String()
    at = fields.String()


class Rebuilt(Schema):
    events = fields.Integer()
    seconds = fields.Float()


class Board(Schema):
    palace_id = fields.String()
    orders = fields.Dict(keys=fields.String(), values=fields.Integer())
    offers_pending = fields.Integer()
    offers_due_soon = fields.List(fields.Nested(lambda: OfferOut()))


class Replan(StrictSchema):
    start = Time()
    end = Time()
    # also re-plan orders whose volunteers already accepted (their offers are withdrawn)
    include_accepted = fields.Boolean(load_default=False)

    @validates_schema
    def validate_period(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError({"end": [N_("结束时间应晚于开始时间。")]})
        if (data["end"] - data["start"]).days > 62:
            raise ValidationError({"end": [N_("一次最多重新安排 62 天。")]})


class ReplanOut(Schema):
    palace_id = fields.String()
    start = Time()
    end = Time()
    orders = fields.Integer()
    planned = fields.Integer()
    unfulfillable = fields.Integer()
    kept_accepted = fields.Integer()
    offers_made = fields.Integer()
    seconds = fields.Float()


class StaffableWindow(Schema):
    """A window of the next weeks in which the palace could staff the program now (read only:
    nothing is held), with the slot the planner would choose in it and its margin: the fewest
    free candidates per needed person among the roles."""

    start = Time()
    end = Time()
    slot_start = Time()
    slot_end = Time()
    troupe_id = fields.String(allow_none=True)
    margin = fields.Float()
    score = fields.Float()


class Assign(StrictSchema):
    """A dispatcher's own choice: offer this role to this volunteer (optionally in place of an offer)."""

    volunteer_id = Id()
    skill = Text(max_length=20)
    replaces_offer_id = Id(required=False, allow_none=True, load_default=None)


class ProposeSwap(StrictSchema):
    volunteer_id = Id()  # who holds the accepted offer
    to_volunteer_id = Id()


class ReportNoShow(StrictSchema):
    volunteer_id = Id()
    reason = Text(max_length=500)


class ClearNoShow(StrictSchema):
    reason = Text(max_length=500)


class GrantHours(StrictSchema):
    volunteer_id = Id()
    hours = fields.Float(
        required=True, allow_nan=False, validate=validate.Range(min=0.1, max=24, error=N_("应为 0.1 到 24 小时。"))
    )
    reason = Text(max_length=500)


class GrantOut(Schema):
    volunteer_id = fields.String()
    hours = fields.Float()
    reason = fields.String()
    granted_by = fields.String()
    granted_at = Time()


class NoShowOut(Schema):
    no_show_id = fields.String()
    order_id = fields.String()
    palace_id = fields.String()
    volunteer_id = fields.String()
    skill = fields.String()
    reason = fields.String()
    reported_by = fields.String(allow_none=True)
    reported_at = Time()
    cover_offer_id = fields.String(allow_none=True)
    cleared = fields.Boolean()
    cleared_reason = fields.String(allow_none=True)
    cleared_at = Time(allow_none=True)


class CalendarLink(Schema):
    url = fields.String()
    webcal = fields.String()


class OfferOut(Schema):
    offer_id = fields.String()
    order_id = fields.String()
    volunteer_id = fields.String()
    skill = fields.String()
    status = OneOf(OFFER_STATUSES)
    kind = fields.String()
    replaces_offer_id = fields.String(allow_none=True)
    explanation = fields.Dict(allow_none=True)
    start = Time()
    end = Time()
    deadline = Time()
    rank = fields.Integer()
    reason = fields.String(allow_none=True)
    program_title = fields.String(allow_none=True)
    site_address = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    check_in_opens_at = Time(allow_none=True)  # accepted offers: when the crew can check in


# ---------------------------------------------------------------- feedback


class SubmitResponse(StrictSchema):
    overall = Rating()
    content = Rating(required=False, allow_none=True, load_default=None)
    performers = Rating(required=False, allow_none=True, load_default=None)
    organisation = Rating(required=False, allow_none=True, load_default=None)
    comment = Text(required=False, allow_none=True, max_length=500, min_length=0, load_default=None)
    wanted_programs = TextList(maximum=5, item_length=50)
    # set once per form on the phone: a resubmission on a bad network is counted once
    client_ref = Id(required=False, allow_none=True, load_default=None)


class SurveyOut(Schema):
    survey_id = fields.String()
    order_id = fields.String()
    palace_id = fields.String()
    token = fields.String()
    program_title = fields.String(allow_none=True)
    status = OneOf(("scheduled", "open", "closed"))  # scheduled: the token exists, answers from the delivery on
    starts_at = Time(allow_none=True)
    opened_at = Time(allow_none=True)
    closes_at = Time(allow_none=True)
    closed_at = Time(allow_none=True)
    responses = fields.Integer()
    satisfaction = fields.Float(allow_none=True)
    aspects = fields.Dict()
    wanted_programs = fields.List(fields.Dict())


class Error(Schema):
    """Every HTTP error: a code for programs, a message for people, field messages for forms."""

    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.List(fields.String()))


class CrewMember(Schema):
    volunteer_id = fields.String()
    name = fields.String(allow_none=True)
    skill = fields.String()


class Attendance(Schema):
    volunteer_id = fields.String()
    checked_in_at = Time(allow_none=True)
    checked_out_at = Time(allow_none=True)
    # on the plan: the hours this attendance counts by the palace's rules, and why (see HoursItem)
    hours = fields.Float(allow_none=True)
    hours_reason = fields.String(allow_none=True)
    hours_reason_text = fields.String(allow_none=True)
    min_attendance_share = fields.Float(allow_none=True)


class NeedOut(Schema):
    skill = fields.String()
    count = fields.Integer()


class PlanOut(Schema):
    order_id = fields.String()
    palace_id = fields.String()
    status = OneOf(("planning", "scheduled", "unfulfillable", "delivered", "cancelled"))
    program_id = fields.String(allow_none=True)
    program_title = fields.String(allow_none=True)
    troupe_id = fields.String(allow_none=True)
    start = Time(allow_none=True)
    end = Time(allow_none=True)
    needs = fields.List(fields.Nested(NeedOut))
    offers = fields.List(fields.Nested(OfferOut))
    crew = fields.List(fields.Nested(CrewMember))
    # each offered volunteer's phone, for the palace's staff only
    phones = fields.Dict(keys=fields.String(), values=fields.String())
    reason = fields.String(allow_none=True)
    attendance = fields.List(fields.Nested(Attendance))
    people_served = fields.Integer(allow_none=True)
    sign_in_code = fields.String(allow_none=True)
    # why this slot, troupe and crew: the score by criterion, runners-up, who the rules kept out
    explanation = fields.Dict(allow_none=True)
    hours = fields.List(fields.Dict())
    grants = fields.List(fields.Nested(GrantOut))
    no_shows = fields.List(fields.Nested(NoShowOut))


class PublicSurvey(Schema):
    """What the audience's form sees: no enterprise, no order."""

    survey_id = fields.String()
    status = OneOf(("scheduled", "open", "closed"))  # scheduled: opens once the delivery is over
    program_title = fields.String(allow_none=True)
    starts_at = fields.String(allow_none=True)
    closes_at = fields.String(allow_none=True)


class ResponseAccepted(Schema):
    response_id = fields.String()
    survey_id = fields.String()
    status = fields.String(metadata={"description": "received: accepted and queued; counted within seconds"})


class SurveyLink(SurveyOut):
    link = fields.String()
    api = fields.String()


class Health(Schema):
    status = OneOf(("ok", "unavailable"))
    checks = fields.Dict(keys=fields.String(), values=fields.String())


ROLES = ("enterprise", "dispatcher", "volunteer", "admin")


def Username():
    return fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_.@-]{2,64}$", error=N_("用户名为 2 到 64 位字母、数字或 _.@-。")),
    )


def NewPassword(**kw):
    """A new password: its strength (length, not a common one, not the username or phone) is the
    accounts service's rule (``services.accounts.domain.password_problem``), with the reason."""
    return Text(max_length=128, **kw)


class NewUser(StrictSchema):
    username = Username()
    password = NewPassword()
    role = OneOf(ROLES)
    display_name = Text(required=False, max_length=50)
    palace_id = Id(required=False, allow_none=True)
    enterprise_id = Id(required=False, allow_none=True)
    volunteer_id = Id(required=False, allow_none=True)
    union_card = Text(required=False, allow_none=True, max_length=40)


class EnterpriseProfile(StrictSchema):
    name = Text(max_length=100)
    district = Text(max_length=50)
    address = Text(required=False, max_length=200, min_length=0, load_default="")
    # whom the dispatcher calls before approving, and the order form's default contact
    contact_name = Text(max_length=50)
    contact_phone = fields.String(required=True, validate=PHONE)


class VolunteerProfile(StrictSchema):
    name = Text(max_length=50)
    phone = fields.String(required=True, validate=PHONE)
    skills = TextList(maximum=20, item_length=20)
    district = Text(max_length=50)


class Registration(StrictSchema):
    """An enterprise union or a volunteer registering themselves; a dispatcher approves."""

    username = Username()
    password = NewPassword()
    role = OneOf(("enterprise", "volunteer"))
    palace_id = Id()
    display_name = Text(required=False, max_length=50)
    # 工会会员互助服务卡 number, where the person has one
    union_card = Text(required=False, allow_none=True, max_length=40, load_default=None)
    # where the person is told of the decision (and later notifications), besides the inbox
    email = fields.Email(required=False, allow_none=True, load_default=None, validate=validate.Length(max=200))
    enterprise = fields.Nested(EnterpriseProfile, required=False, load_default=None, allow_none=True)
    volunteer = fields.Nested(VolunteerProfile, required=False, load_default=None, allow_none=True)
    # the version of the privacy notice the person read and agreed to (the current one)
    notice_version = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        error_messages={"required": N_("请阅读并同意隐私政策。")},
    )

    @validates_schema
    def profile_for_role(self, data, **kwargs):
        role = data.get("role")
        if role in ("enterprise", "volunteer") and not data.get(role):
            label = {"enterprise": N_("单位信息"), "volunteer": N_("个人信息")}[role]
            raise ValidationError({role: [Message("请填写{label}。", label=Message(label))]})


class PrivacyNotice(Schema):
    version = fields.Integer()
    text = fields.String()
    published_at = Time(allow_none=True)
    published_by = fields.String(allow_none=True)


class PublishNotice(StrictSchema):
    text = Text(max_length=20_000)


class GiveConsent(StrictSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class NoticeStatus(Schema):
    version = fields.Integer()
    accepted = fields.Integer(allow_none=True)
    accepted_at = Time(allow_none=True)


class RetentionKind(Schema):
    kind = fields.String()
    service = fields.String()
    where = fields.String(metadata={"description": "the service, in the reader's language"})
    what = fields.String(metadata={"description": "what the kind covers"})
    how = OneOf(("delete", "clear", "redact", "ttl"))
    setting = fields.String(allow_none=True, metadata={"description": "RETAIN_…_DAYS (none: a TTL index)"})
    days = fields.Integer(allow_none=True, metadata={"description": "0: kept; none: a TTL index"})
    period = fields.String(metadata={"description": "how long, in the reader's language"})
    swept_at = Time(allow_none=True)
    removed = fields.Integer(allow_none=True)
    oldest = Time(allow_none=True, metadata={"description": "the oldest still kept"})
    available = fields.Boolean(metadata={"description": "false: the service did not answer"})


class RetentionOut(Schema):
    kinds = fields.List(fields.Nested(RetentionKind))


class RegistrationOut(Schema):
    username = fields.String()
    display_name = fields.String(allow_none=True)
    role = fields.String()
    palace_id = fields.String()
    union_card = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    status = OneOf(("pending", "approved", "rejected"))
    enterprise_id = fields.String(allow_none=True)
    volunteer_id = fields.String(allow_none=True)
    profile = fields.Dict()
    reason = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    created_at = Time()


class RejectRegistration(StrictSchema):
    reason = Text(max_length=500)


class Login(StrictSchema):
    username = Text(max_length=64)
    password = Text(max_length=200)


class ChangePassword(StrictSchema):
    old_password = Text(max_length=200)
    new_password = NewPassword()


class ResetPassword(StrictSchema):
    """A reset link's token and the new password."""

    token = Text(max_length=200)
    new_password = NewPassword()


class ResetLink(Schema):
    """A one-time reset link, shown once to the staff member who made it."""

    username = fields.String()
    token = fields.String()
    link = fields.String()
    expires_at = fields.String()


class Invitee(StrictSchema):
    """A volunteer to invite: who, and the phone the code goes to."""

    volunteer_id = Id()
    name = Text(required=False, allow_none=True, max_length=50, load_default=None)
    phone = fields.String(required=True, validate=PHONE)


class Invite(StrictSchema):
    """Invite some volunteers of a palace to claim their accounts (``resend``: a new code for
    each, the old one no longer works; otherwise those already invited or with an account are left
    as they are)."""

    palace_id = Id()
    palace_name = Text(required=False, allow_none=True, max_length=100, load_default=None)
    volunteers = fields.List(fields.Nested(Invitee), required=True, validate=validate.Length(max=10_000))
    resend = fields.Boolean(load_default=False)


class Invited(Schema):
    """Who was invited. ``code`` (``ABCD-EFGH``) and ``link`` are there only for one volunteer sent
    again, shown once to the staff member, to hand over where no SMS reaches."""

    invited = fields.Integer()
    skipped = fields.Integer()
    expires_at = fields.String(allow_none=True)
    volunteer_id = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    link = fields.String(allow_none=True)


class Claim(StrictSchema):
    """A volunteer's claim: the code they were sent, their phone's last four digits, and the
    username and password they choose."""

    code = Text(max_length=40)
    phone_last4 = fields.String(
        required=True, validate=validate.Regexp(r"^[0-9]{4}$", error=N_("请填写手机号的后四位数字。"))
    )
    username = Username()
    password = NewPassword()


class InvitationState(Schema):
    """Whether a volunteer has claimed an account: ``claimed`` (with the username), ``invited``
    (until ``expires_at``), ``expired`` or ``none``."""

    volunteer_id = fields.String()
    status = OneOf(("claimed", "invited", "expired", "none"))
    username = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True)
    invited_at = fields.String(allow_none=True)


class AccountOut(Schema):
    """An account as staff find it (to reset its password)."""

    username = fields.String()
    display_name = fields.String(allow_none=True)
    role = OneOf(ROLES)
    palace_id = fields.String(allow_none=True)
    enterprise_id = fields.String(allow_none=True)
    volunteer_id = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = Time(required=False, allow_none=True)


class ErasureOut(Schema):
    """A request to close an account and erase its person's data: carried out at ``due_at``
    unless cancelled before (``status`` pending, cancelled or done)."""

    erasure_id = fields.String()
    username = fields.String()
    role = fields.String(allow_none=True)
    palace_id = fields.String(allow_none=True)
    status = OneOf(("pending", "cancelled", "done"))
    requested_at = Time()
    requested_by = fields.String(allow_none=True)
    due_at = Time()
    cancelled_at = Time(required=False, allow_none=True)
    done_at = Time(required=False, allow_none=True)


class ErasurePage(Schema):
    items = fields.List(fields.Nested(ErasureOut))


class MyErasure(Schema):
    """The signed-in person's own pending erasure, if any, and how long the grace period is."""

    erasure = fields.Nested(ErasureOut, allow_none=True)
    grace_days = fields.Float()


class SessionsEnded(Schema):
    status = OneOf(("ok",))
    sessions_ended = fields.Integer()


class AuditActor(Schema):
    username = fields.String()
    role = fields.String(allow_none=True)
    palace_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)


class AuditSubject(Schema):
    type = fields.String(allow_none=True)
    id = fields.String(allow_none=True)


class AuditEntry(Schema):
    entry_id = fields.String()
    at = Time()
    kind = fields.String()
    kind_name = fields.String()
    source = fields.String()
    actor = fields.Nested(AuditActor)
    palace_ids = fields.List(fields.String())
    subject = fields.Nested(AuditSubject)
    details = fields.Dict()


class AuditPage(Schema):
    entries = fields.List(fields.Nested(AuditEntry))
    next = fields.String(allow_none=True)


class AuditKind(Schema):
    kind = fields.String()
    name = fields.String()


class Principal(Schema):
    username = fields.String()
    display_name = fields.String(allow_none=True)
    role = OneOf(ROLES)
    palace_id = fields.String(allow_none=True)
    enterprise_id = fields.String(allow_none=True)
    volunteer_id = fields.String(allow_none=True)


class Me(Principal):
    notice_version = fields.Integer()  # the privacy notice's current version
    notice_pending = fields.Boolean()  # the person has not agreed to it yet
    notice_accepted = fields.Integer(allow_none=True)  # the version they last agreed to, if any


class Session(Schema):
    token = fields.String()
    expires_at = fields.String()
    principal = fields.Nested(Principal)


# ---------------------------------------------------------------- notifications


class Recipients(StrictSchema):
    """Whose accounts to look up: volunteers, enterprise unions, a palace's dispatchers."""

    volunteer = IdList()
    enterprise = IdList()
    palace = IdList()


class Recipient(Schema):
    username = fields.String()
    display_name = fields.String(allow_none=True)
    role = OneOf(ROLES)
    palace_id = fields.String(allow_none=True)
    enterprise_id = fields.String(allow_none=True)
    volunteer_id = fields.String(allow_none=True)


class Notification(Schema):
    notification_id = fields.String()
    kind = OneOf(NOTIFICATION_KINDS)
    kind_label = fields.String()
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    order_id = fields.String(allow_none=True)
    read = fields.Boolean()
    muted = fields.Boolean()
    created_at = Time()


class NotificationPage(Schema):
    items = fields.List(fields.Nested(Notification))
    unread = fields.Integer()
    next_before = fields.String(allow_none=True)


class ReadAll(Schema):
    updated = fields.Integer()
    unread = fields.Integer()


class Mute(StrictSchema):
    kind = OneOf(NOTIFICATION_KINDS)
    # left out: every channel (the inbox still keeps it, marked read)
    channels = fields.List(
        OneOf(NOTIFICATION_CHANNELS),
        load_default=lambda: list(NOTIFICATION_CHANNELS),
        validate=validate.Length(min=1, max=len(NOTIFICATION_CHANNELS), error=N_("请至少选择一个渠道。")),
    )


class NotificationPreferences(StrictSchema):
    """What a person changes: where to reach them, and which kinds to keep quiet."""

    email = fields.Email(required=False, allow_none=True, load_default=None, validate=validate.Length(max=200))
    webhook = fields.Boolean(required=False, load_default=False)
    phone = fields.String(required=False, allow_none=True, load_default=None, validate=PHONE)
    mutes = fields.List(
        fields.Nested(Mute),
        load_default=list,
        validate=Length(max=len(NOTIFICATION_KINDS), error=N_("最多 {max} 项。")),
    )


class _KindChoice(Schema):
    kind = OneOf(NOTIFICATION_KINDS)
    label = fields.String()


class _ChannelChoice(Schema):
    channel = OneOf(NOTIFICATION_CHANNELS)
    label = fields.String()
    available = fields.Boolean()


class NotificationSettings(Schema):
    email = fields.String(allow_none=True)
    webhook = fields.Boolean()
    phone = fields.String(allow_none=True)
    mutes = fields.List(fields.Nested(Mute))
    kinds = fields.List(fields.Nested(_KindChoice))
    channels = fields.List(fields.Nested(_ChannelChoice))


# ---------------------------------------------------------------- the alliance of palaces (队伍联用)


class NewAlliance(StrictSchema):
    name = Text(max_length=100)
    palace_ids = fields.List(
        Id(), required=True, validate=validate.Length(min=2, max=50, error="联盟至少要有两家文化宫。")
    )


class AllianceOut(Schema):
    alliance_id = fields.String()
    name = fields.String()
    palace_ids = fields.List(fields.String())
    created_at = Time()


class ShareTroupe(StrictSchema):
    shared = fields.Boolean(required=True)


class SharedTroupeOut(Schema):
    """A troupe as the other palaces of the alliance see it: no member's name or phone."""

    troupe_id = fields.String()
    name = fields.String()
    palace_id = fields.String()
    palace_name = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    repertoire = fields.List(fields.String())
    repertoire_titles = fields.List(fields.String())
    member_count = fields.Integer()
    skills = fields.Dict(keys=fields.String(), values=fields.Integer())
    shared = fields.Boolean()


class RequestLoan(StrictSchema):
    order_id = Id()
    troupe_id = Id()
    note = Text(required=False, allow_none=True, max_length=500, load_default=None)


class RefuseLoan(StrictSchema):
    reason = Text(max_length=500)


LOAN_STATUSES = ("pending", "approved", "refused", "expired", "ended")


class LoanOut(Schema):
    loan_id = fields.String()
    order_id = fields.String()
    troupe_id = fields.String()
    troupe_name = fields.String(allow_none=True)
    alliance_id = fields.String()
    owner_palace_id = fields.String()
    palace_id = fields.String()
    status = OneOf(LOAN_STATUSES)
    program_title = fields.String(allow_none=True)
    first_start = Time(allow_none=True)
    note = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    requested_by = fields.String()
    decided_by = fields.String(allow_none=True)
    created_at = Time()
    decided_at = Time(allow_none=True)
    expires_at = Time(allow_none=True)


class LoansOut(Schema):
    incoming = fields.List(fields.Nested(LoanOut))  # asked of this palace's troupes
    outgoing = fields.List(fields.Nested(LoanOut))  # asked by this palace


# ---------------------------------------------------------------- lists in and out of spreadsheets

IMPORT_KINDS = ("volunteers", "troupes", "programs", "enterprises")
IMPORT_ACTIONS = ("create", "update", "unchanged", "refused")


class ImportConfirm(StrictSchema):
    preview_id = Id()


class ImportReasonOut(Schema):
    field = fields.String()
    column = fields.String()
    code = fields.String()
    value = fields.String()
    message = fields.String()


class ImportChangeOut(Schema):
    field = fields.String()
    column = fields.String()
    old = fields.String()
    new = fields.String()


class ImportRowOut(Schema):
    row = fields.Integer()
    action = fields.String(metadata={"enum": list(IMPORT_ACTIONS)})
    record_id = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    changes = fields.List(fields.Nested(ImportChangeOut))
    reasons = fields.List(fields.Nested(ImportReasonOut))
    notes = fields.List(fields.String())


class ImportCountsOut(Schema):
    create = fields.Integer()
    update = fields.Integer()
    unchanged = fields.Integer()
    refused = fields.Integer()


class ImportPreviewOut(Schema):
    """What an import would do, row by row; ``preview_id`` confirms it (for 30 minutes)."""

    preview_id = fields.String()
    kind = fields.String(metadata={"enum": list(IMPORT_KINDS)})
    palace_id = fields.String()
    digest = fields.String()
    counts = fields.Nested(ImportCountsOut)
    rows = fields.List(fields.Nested(ImportRowOut))
    warnings = fields.List(fields.String())
    expires_at = Time()


class ImportConfirmOut(Schema):
    """What a confirmed import wrote."""

    preview_id = fields.String()
    kind = fields.String()
    palace_id = fields.String()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    refused = fields.Integer()
    volunteers_linked = fields.Integer()
    invited = fields.Integer()  # new volunteers sent a code to claim their accounts

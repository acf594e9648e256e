"""Every event in the flow: (source service, event type) -> schema, version, description.

Publishers validate with these schemas before an event is stored in their outbox; consumers
load with them (unknown fields ignored). A change to an event is additive; a rename or a
removal is a new event type. Older versions are upcast on read (see ``upcast``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from marshmallow import EXCLUDE, Schema

from contracts.base import Count, EventSchema, Id, Time, fields, schema_of, validate

ORDER_STATUSES = (
    "submitted",
    "accepted",
    "rejected",
    "scheduled",
    "unfulfillable",
    "delivered",
    "closed",
    "cancelled",
)


class _Window(Schema):
    start = Time()
    end = Time()


class _OrderSnapshot(EventSchema):
    order_id = Id()
    palace_id = Id()
    enterprise_id = Id()
    program_id = Id(required=False, allow_none=True, load_default=None)
    program_title = fields.String(required=False, allow_none=True, load_default=None)
    custom_request = fields.String(required=False, allow_none=True, load_default=None)
    site_address = fields.String(required=True)
    district = fields.String(required=True)
    audience_size = fields.Integer(required=True)
    windows = fields.List(fields.Nested(_Window), required=True)


class OrderPlaced(_OrderSnapshot):
    pass


class OrderAmended(_OrderSnapshot):
    changed = fields.List(fields.String(), required=True)


class OrderAccepted(_OrderSnapshot):
    note = fields.String(required=False, allow_none=True, load_default=None)


class OrderCancelled(EventSchema):
    order_id = Id()
    palace_id = Id()
    enterprise_id = Id()
    previous_status = fields.String(required=True)
    reason = fields.String(required=False, allow_none=True, load_default=None)


class OrderRejected(EventSchema):
    order_id = Id()
    palace_id = Id()
    enterprise_id = Id()
    reason = fields.String(required=True)


class OrderClosed(EventSchema):
    order_id = Id()
    palace_id = Id()
    enterprise_id = Id()
    satisfaction = fields.Float(required=True, allow_none=True)
    responses = fields.Integer(required=True)


class _OfferBase(EventSchema):
    offer_id = Id()
    order_id = Id()
    palace_id = Id()
    volunteer_id = Id()
    skill = fields.String(required=True)


OFFER_KINDS = ("plan", "next", "cover", "swap", "override")


class OfferMade(_OfferBase):
    start = Time()
    end = Time()
    deadline = Time()
    rank = fields.Integer(required=True)
    troupe_id = Id(required=False, allow_none=True, load_default=None)
    # why the offer exists: the plan, the next candidate after a decline, cover for a no-show,
    # a colleague's hand-over, or a dispatcher's own choice; and the offer it takes over from
    kind = fields.String(required=False, load_default="plan", validate=validate.OneOf(OFFER_KINDS))
    replaces_offer_id = Id(required=False, allow_none=True, load_default=None)


class OfferAccepted(_OfferBase):
    pass


class OfferDeclined(_OfferBase):
    reason = fields.String(required=False, allow_none=True, load_default=None)


class OfferExpired(_OfferBase):
    pass


class _Crew(Schema):
    volunteer_id = Id()
    skill = fields.String(required=True)


class OrderScheduled(EventSchema):
    order_id = Id()
    palace_id = Id()
    # added without a new version: optional, absent in older events (feedback shows it on the survey)
    program_title = fields.String(required=False, allow_none=True, load_default=None)
    troupe_id = Id(required=False, allow_none=True, load_default=None)
    start = Time()
    end = Time()
    crew = fields.List(fields.Nested(_Crew), required=True)


class OrderUnfulfillable(EventSchema):
    order_id = Id()
    palace_id = Id()
    code = fields.String(required=True)
    reason = fields.String(required=True)


class _Hours(Schema):
    volunteer_id = Id()
    hours = fields.Float(required=True)  # counted by the palace's rules from check-in and check-out
    granted_hours = fields.Float(required=False, load_default=0.0)  # granted by a dispatcher, kept apart


class AssignmentHandedOver(EventSchema):
    order_id = Id()
    palace_id = Id()
    skill = fields.String(required=True)
    from_volunteer_id = Id()
    to_volunteer_id = Id()
    from_offer_id = Id()
    to_offer_id = Id()


class VolunteerNoShow(EventSchema):
    no_show_id = Id()
    order_id = Id()
    palace_id = Id()
    volunteer_id = Id()
    skill = fields.String(required=True)
    reason = fields.String(required=True)
    cover_offer_id = Id(required=False, allow_none=True, load_default=None)


class NoShowCleared(EventSchema):
    no_show_id = Id()
    palace_id = Id()
    volunteer_id = Id()
    reason = fields.String(required=True)


class HoursGranted(EventSchema):
    order_id = Id()
    palace_id = Id()
    volunteer_id = Id()
    hours = fields.Float(required=True)
    reason = fields.String(required=True)
    granted_by = fields.String(required=True)


class DeliveryCompleted(EventSchema):
    order_id = Id()
    palace_id = Id()
    enterprise_id = Id()
    program_id = Id(required=False, allow_none=True, load_default=None)
    program_title = fields.String(required=False, allow_none=True, load_default=None)
    troupe_id = Id(required=False, allow_none=True, load_default=None)
    district = fields.String(required=True)
    start = Time()
    end = Time()
    people_served = Count()
    completed_at = Time()
    volunteers = fields.List(fields.Nested(_Hours), required=True)


class SurveyOpened(EventSchema):
    survey_id = Id()
    order_id = Id()
    palace_id = Id()
    closes_at = Time()


class ResponseReceived(EventSchema):
    survey_id = Id()
    order_id = Id()
    palace_id = Id()
    response_id = Id()
    overall = fields.Integer(required=True)
    content = fields.Integer(required=False, allow_none=True, load_default=None)
    performers = fields.Integer(required=False, allow_none=True, load_default=None)
    organisation = fields.Integer(required=False, allow_none=True, load_default=None)
    comment = fields.String(required=False, allow_none=True, load_default=None)
    wanted_programs = fields.List(fields.String(), load_default=list)


class _Aspects(Schema):
    content = fields.Float(allow_none=True)
    performers = fields.Float(allow_none=True)
    organisation = fields.Float(allow_none=True)


class _Wanted(Schema):
    program = fields.String(required=True)
    count = fields.Integer(required=True)


class SurveyClosed(EventSchema):
    survey_id = Id()
    order_id = Id()
    palace_id = Id()
    responses = fields.Integer(required=True)
    satisfaction = fields.Float(required=True, allow_none=True)
    aspects = fields.Nested(_Aspects, required=True)
    wanted_programs = fields.List(fields.Nested(_Wanted), required=True)


NOTIFICATION_KINDS = (
    "offer",
    "reminder",
    "assignment",
    "order_status",
    "survey",
    "orders",
    "declined",
    "expiring",
    "no_show",
    "unfulfillable",
    "account",
)
NOTIFICATION_CHANNELS = ("inbox", "email", "webhook")


class NotificationCreated(EventSchema):
    notification_id = Id()
    username = fields.String(required=True)
    role = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_KINDS))
    title = fields.String(required=True)
    body = fields.String(required=True)
    link = fields.String(required=False, allow_none=True, load_default=None)
    order_id = Id(required=False, allow_none=True, load_default=None)
    palace_id = Id(required=False, allow_none=True, load_default=None)
    # the event or reminder it was made for
    cause = fields.String(required=True)
    # the channels it goes out on (the inbox always); muted: it arrived read, nothing sent outside
    channels = fields.List(fields.String(validate=validate.OneOf(NOTIFICATION_CHANNELS)), required=True)
    muted = fields.Boolean(required=True)


class RegistrationDecided(EventSchema):
    """A dispatcher approved or refused a self-registered account. ``email`` and ``phone`` are
    where the person asked to be told (the registration's own), for the notification of it."""

    username = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(("enterprise", "volunteer")))
    palace_id = Id()
    enterprise_id = Id(required=False, allow_none=True, load_default=None)
    volunteer_id = Id(required=False, allow_none=True, load_default=None)
    display_name = fields.String(required=False, allow_none=True, load_default=None)
    decision = fields.String(required=True, validate=validate.OneOf(("approved", "rejected")))
    reason = fields.String(required=False, allow_none=True, load_default=None)
    email = fields.String(required=False, allow_none=True, load_default=None)
    phone = fields.String(required=False, allow_none=True, load_default=None)


class PasswordChanged(EventSchema):
    """An account's password was changed by its owner (``via`` change) or through a reset link
    (``via`` reset, ``requested_by`` the staff member who made the link). Never the password."""

    username = fields.String(required=True)
    by = fields.String(required=True)
    via = fields.String(required=True, validate=validate.OneOf(("change", "reset")))
    requested_by = fields.String(required=False, allow_none=True, load_default=None)


class PasswordResetRequested(EventSchema):
    """A dispatcher or an admin made a one-time reset link for an account (never the link)."""

    username = fields.String(required=True)
    role = fields.String(required=True)
    palace_id = Id(required=False, allow_none=True, load_default=None)
    enterprise_id = Id(required=False, allow_none=True, load_default=None)
    volunteer_id = Id(required=False, allow_none=True, load_default=None)
    by = fields.String(required=True)
    expires_at = Time()


class SessionsEnded(EventSchema):
    """Every session of an account ended: signed out everywhere, or its password changed or reset."""

    username = fields.String(required=True)
    by = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(("logout_all", "password_changed", "password_reset")))
    sessions = Count()


class PrivacyNoticePublished(EventSchema):
    """An admin published a new version of the privacy notice: everyone is asked again."""

    version = fields.Integer(required=True)
    by = fields.String(required=True)


class SignInLocked(EventSchema):
    """Failed sign-ins locked an account (``scope`` account) or a client address (``client``)
    for a while."""

    username = fields.String(required=True)
    client = fields.String(required=False, allow_none=True, load_default=None)
    scope = fields.String(required=True, validate=validate.OneOf(("account", "client")))
    failures = Count()
    locked_until = Time()


class RecordsImported(EventSchema):
    """A dispatcher confirmed an import: how many records of a kind it created and updated."""

    palace_id = Id()
    import_kind = fields.String(
        required=True, validate=validate.OneOf(("volunteers", "troupes", "programs", "enterprises"))
    )
    preview_id = Id()
    by = fields.String(required=True)
    created = Count()
    updated = Count()
    unchanged = Count()
    refused = Count()
    volunteers_linked = Count()


class _Invited(Schema):
    class Meta:
        unknown = EXCLUDE

    invitation_id = Id()
    volunteer_id = Id()
    name = fields.String(required=False, allow_none=True, load_default=None)
    phone = fields.String(required=True)


class InvitationsIssued(EventSchema):
    """New volunteers of a palace were invited to claim their accounts (an import confirmed, a
    volunteer added, or an invitation sent again, ``resent``); earlier invitations of the same
    volunteers no longer work. Never the code: it is derived from ``invitation_id`` with
    ``INVITE_SECRET`` by whoever sends it (``common/invitations.py``)."""

    palace_id = Id()
    palace_name = fields.String(required=False, allow_none=True, load_default=None)
    by = fields.String(required=True)
    resent = fields.Boolean(required=True)
    expires_at = Time()
    invitations = fields.List(fields.Nested(_Invited), required=True)


class InvitationClaimed(EventSchema):
    """A volunteer claimed their account with an invitation's code and chose a username;
    ``phone`` is where the invitation reached them (notifications keeps reaching them there)."""

    invitation_id = Id()
    username = fields.String(required=True)
    volunteer_id = Id()
    palace_id = Id()
    phone = fields.String(required=False, allow_none=True, load_default=None)


class ErasureRequested(EventSchema):
    """Someone asked that a person's account and personal data be erased: the person themselves,
    or a dispatcher or an admin recording their request (``by``). It is carried out at ``due_at``
    unless cancelled before."""

    erasure_id = Id()
    username = fields.String(required=True)
    role = fields.String(required=True)
    palace_id = Id(required=False, allow_none=True, load_default=None)
    volunteer_id = Id(required=False, allow_none=True, load_default=None)
    enterprise_id = Id(required=False, allow_none=True, load_default=None)
    due_at = Time()
    by = fields.String(required=True)


class ErasureCancelled(EventSchema):
    """An erasure was cancelled before it was carried out."""

    erasure_id = Id()
    username = fields.String(required=True)
    palace_id = Id(required=False, allow_none=True, load_default=None)
    by = fields.String(required=True)


class PersonErased(EventSchema):
    """An erasure's grace period ended and the account is gone: every service removes or
    irreversibly anonymises what it holds about the person. ``texts`` (their name, phone, card
    number and email, as the services held them) are replaced wherever they occur, and a field
    holding exactly ``username`` gets ``pseudonym``; ids, numbers and times stay, so every
    statistic still adds up. No service keeps ``texts`` once it has done so. A volunteer's
    deliveries to come are handed to others first (dispatch)."""

    erasure_id = Id()
    pseudonym = fields.String(required=True)
    username = fields.String(required=True)
    role = fields.String(required=True)
    palace_id = Id(required=False, allow_none=True, load_default=None)
    volunteer_id = Id(required=False, allow_none=True, load_default=None)
    enterprise_id = Id(required=False, allow_none=True, load_default=None)
    texts = fields.List(fields.String(), required=True)
    requested_at = Time()


class AllianceCreated(EventSchema):
    alliance_id = Id()
    name = fields.String(required=True)
    palace_ids = fields.List(Id(), required=True)


class TroupeSharingChanged(EventSchema):
    troupe_id = Id()
    palace_id = Id()
    alliance_id = Id(required=False, allow_none=True, load_default=None)
    shared = fields.Boolean(required=True)


class _LoanBase(EventSchema):
    loan_id = Id()
    order_id = Id()
    troupe_id = Id()
    alliance_id = Id()
    owner_palace_id = Id()  # the palace the troupe belongs to, which lends it
    palace_id = Id()  # the palace whose order borrows it


class TroupeLoanRequested(_LoanBase):
    requested_by = fields.String(required=True)
    note = fields.String(required=False, allow_none=True, load_default=None)


class TroupeLoanApproved(_LoanBase):
    decided_by = fields.String(required=True)


class TroupeLoanRefused(_LoanBase):
    decided_by = fields.String(required=True)
    reason = fields.String(required=True)


LOAN_END_CAUSES = ("expired", "order_cancelled")


class TroupeLoanEnded(_LoanBase):
    cause = fields.String(required=True, validate=validate.OneOf(LOAN_END_CAUSES))
    previous_status = fields.String(required=True)


@dataclass(frozen=True)
class EventSpec:
    source: str
    event_type: str
    schema: type[EventSchema]
    version: int
    description: str
    # upcasters[v] turns a payload of version v into version v + 1
    upcasters: dict[int, Callable[[dict], dict]] | None = None


_SPECS = [
    EventSpec("orders", "order_placed", OrderPlaced, 1, "企业工会下了一个新订单。An enterprise union placed an order."),
    EventSpec(
        "orders", "order_amended", OrderAmended, 1, "订单在排期前被修改。The order was amended before scheduling."
    ),
    EventSpec(
        "orders", "order_cancelled", OrderCancelled, 1, "订单在服务前被取消。The order was cancelled before delivery."
    ),
    EventSpec(
        "orders", "order_accepted", OrderAccepted, 1, "调度员受理了订单，开始派单。A dispatcher accepted the order."
    ),
    EventSpec(
        "orders", "order_rejected", OrderRejected, 1, "调度员拒绝了订单并说明理由。A dispatcher rejected the order."
    ),
    EventSpec(
        "orders",
        "order_closed",
        OrderClosed,
        1,
        "评议结束，订单关闭并记下满意度。The order closed with its satisfaction.",
    ),
    EventSpec("dispatch", "offer_made", OfferMade, 1, "向志愿者发出邀约。An offer was sent to a volunteer."),
    EventSpec("dispatch", "offer_accepted", OfferAccepted, 1, "志愿者接受了邀约。A volunteer accepted an offer."),
    EventSpec("dispatch", "offer_declined", OfferDeclined, 1, "志愿者婉拒了邀约。A volunteer declined an offer."),
    EventSpec("dispatch", "offer_expired", OfferExpired, 1, "邀约超时未答复。An offer expired unanswered."),
    EventSpec(
        "dispatch",
        "order_scheduled",
        OrderScheduled,
        1,
        "人员已齐，订单排定时间。The crew is complete and the order is scheduled.",
    ),
    EventSpec(
        "dispatch", "order_unfulfillable", OrderUnfulfillable, 1, "无法安排人员，附原因。No crew can serve the order."
    ),
    EventSpec(
        "dispatch",
        "delivery_completed",
        DeliveryCompleted,
        1,
        "服务完成，附服务人次和志愿服务时长。The delivery took place.",
    ),
    EventSpec(
        "dispatch",
        "assignment_handed_over",
        AssignmentHandedOver,
        1,
        "志愿者把已接受的任务转给了同事，同事已接受。A volunteer handed an assignment to a colleague.",
    ),
    EventSpec(
        "dispatch",
        "volunteer_no_show",
        VolunteerNoShow,
        1,
        "志愿者未到场，附原因和顶替邀约。A volunteer did not show up; cover was sought.",
    ),
    EventSpec(
        "dispatch", "no_show_cleared", NoShowCleared, 1, "调度员撤销了一条缺席记录。A no-show record was cleared."
    ),
    EventSpec(
        "dispatch",
        "hours_granted",
        HoursGranted,
        1,
        "调度员手工补记的服务时长（单独标记）。Hours granted by hand, kept apart.",
    ),
    EventSpec(
        "dispatch",
        "records_imported",
        RecordsImported,
        1,
        "调度员确认导入一批名单（新建、更新几条）。A dispatcher confirmed an import of records.",
    ),
    EventSpec(
        "dispatch", "alliance_created", AllianceCreated, 1, "几家文化宫结成文化宫联盟。Palaces formed an alliance."
    ),
    EventSpec(
        "dispatch",
        "troupe_sharing_changed",
        TroupeSharingChanged,
        1,
        "队伍向联盟共享或取消共享。A troupe was shared with its alliance, or no longer.",
    ),
    EventSpec(
        "dispatch",
        "troupe_loan_requested",
        TroupeLoanRequested,
        1,
        "联盟成员为一个订单申请借用另一家文化宫的队伍。A member palace asked to borrow a troupe for an order.",
    ),
    EventSpec(
        "dispatch",
        "troupe_loan_approved",
        TroupeLoanApproved,
        1,
        "队伍所属文化宫同意借用。The owning palace approved the loan.",
    ),
    EventSpec(
        "dispatch",
        "troupe_loan_refused",
        TroupeLoanRefused,
        1,
        "队伍所属文化宫拒绝借用，附理由。The owning palace refused the loan, with a reason.",
    ),
    EventSpec(
        "dispatch",
        "troupe_loan_ended",
        TroupeLoanEnded,
        1,
        "借用因过期或订单取消而结束。A loan ended: it expired or the order was cancelled.",
    ),
    EventSpec(
        "accounts",
        "registration_decided",
        RegistrationDecided,
        1,
        "调度员通过或拒绝了一份注册申请。A dispatcher approved or refused a registration.",
    ),
    EventSpec(
        "accounts",
        "password_changed",
        PasswordChanged,
        1,
        "账号的密码已修改（本人修改或用重置链接）。An account's password was changed or reset.",
    ),
    EventSpec(
        "accounts",
        "password_reset_requested",
        PasswordResetRequested,
        1,
        "调度员或管理员为账号生成了一次性重置链接。Staff made a one-time password reset link.",
    ),
    EventSpec(
        "accounts",
        "sessions_ended",
        SessionsEnded,
        1,
        "账号的所有登录都已结束。Every session of an account ended.",
    ),
    EventSpec(
        "accounts",
        "privacy_notice_published",
        PrivacyNoticePublished,
        1,
        "管理员发布了新版隐私政策，每个人下次登录时再次确认。An admin published a new privacy notice.",
    ),
    EventSpec(
        "accounts",
        "sign_in_locked",
        SignInLocked,
        1,
        "登录失败次数太多，账号或来源地址被暂时锁定。Failed sign-ins locked an account or an address.",
    ),
    EventSpec(
        "accounts",
        "invitations_issued",
        InvitationsIssued,
        1,
        "新志愿者收到认领账号的邀请（一次性邀请码，不含邀请码本身）。Volunteers were invited to claim accounts.",
    ),
    EventSpec(
        "accounts",
        "invitation_claimed",
        InvitationClaimed,
        1,
        "志愿者用邀请码认领了账号。A volunteer claimed their account with an invitation.",
    ),
    EventSpec(
        "accounts",
        "erasure_requested",
        ErasureRequested,
        1,
        "有人申请注销账号并删除个人信息（宽限期后执行，期间可撤销）。An erasure was requested.",
    ),
    EventSpec(
        "accounts",
        "erasure_cancelled",
        ErasureCancelled,
        1,
        "注销申请在执行前被撤销。An erasure was cancelled before it was carried out.",
    ),
    EventSpec(
        "accounts",
        "person_erased",
        PersonErased,
        1,
        "账号已注销：各服务删除或不可逆地匿名化此人的个人信息，统计数字不变。A person was erased.",
    ),
    EventSpec("feedback", "survey_opened", SurveyOpened, 1, "服务评议开放。A feedback survey opened for a delivery."),
    EventSpec(
        "feedback",
        "response_received",
        ResponseReceived,
        1,
        "收到一份观众评议。An audience member answered the survey.",
    ),
    EventSpec(
        "feedback", "survey_closed", SurveyClosed, 1, "评议结束，附满意度汇总。The survey closed with its summary."
    ),
    EventSpec(
        "notifications",
        "notification_created",
        NotificationCreated,
        1,
        "给某个人的一条通知（站内信，以及邮件、短信/微信网关）。A notification for one person.",
    ),
]

EVENTS: dict[tuple[str, str], EventSpec] = {(s.source, s.event_type): s for s in _SPECS}


class UnknownEvent(Exception):
    pass


def spec(source: str, event_type: str) -> EventSpec:
    try:
        return EVENTS[(source, event_type)]
    except KeyError:
        raise UnknownEvent(f"{source}.{event_type}") from None


def upcast(event_spec: EventSpec, payload: dict) -> dict:
    """Bring an older payload up to the current version, step by step."""
    version = payload.get("version")
    if not isinstance(version, int) or version < 1 or version > event_spec.version:
        raise UnknownEvent(
            f"{event_spec.source}.{event_spec.event_type} version {version!r} (known: 1..{event_spec.version})"
        )
    while version < event_spec.version:
        payload = (event_spec.upcasters or {})[version](payload)
        version += 1
        payload["version"] = version
    return payload


def load_event(source: str, event_type: str, payload: dict) -> dict:
    """Validate an incoming event: raises UnknownEvent or marshmallow.ValidationError."""
    event_spec = spec(source, event_type)
    if not isinstance(payload, dict):
        raise UnknownEvent(f"{source}.{event_type}: payload is not an object")
    return schema_of(event_spec.schema).load(upcast(event_spec, dict(payload)))


def dump_event(source: str, event_type: str, data: dict) -> dict:
    """Validate an outgoing event and return its JSON-ready form."""
    event_spec = spec(source, event_type)
    schema = schema_of(event_spec.schema)
    dumped = schema.dump({**data, "version": event_spec.version})
    errors = schema.validate(dumped)
    if errors:
        raise ValueError(f"{source}.{event_type} does not match its contract: {errors}")
    return dumped

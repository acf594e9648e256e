"""A volunteer's own record, free time, offers, hours and calendar feed, and answering offers."""

from __future__ import annotations

from werkzeug.wrappers import Response

from common.messages import N_
from contracts import payloads as p
from services.gateway import auth
from services.gateway.calendar import feed_token, schedule_ics, volunteer_of
from services.gateway.http import body, call, query
from services.gateway.routes import ICS, route


class Volunteers:
    """Volunteer entrypoints mixed into the gateway service."""

    def _volunteer(self, request, volunteer_id: str) -> tuple[dict, dict]:
        who = self._who(request)
        volunteer = call(self.dispatch.get_volunteer, volunteer_id)
        auth.check_volunteer(who, volunteer)
        return who, volunteer

    @route(
        "GET /api/volunteers/<volunteer_id>",
        tag=N_("志愿者"),
        summary=N_("一位志愿者"),
        response=p.Volunteer,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def volunteer(self, request, volunteer_id):
        who, volunteer = self._volunteer(request, volunteer_id)
        if who["role"] != "volunteer":  # staff looking at a person's record (phone, card, districts)
            self._accessed(
                request,
                who,
                "personal_data_viewed",
                "volunteer",
                {"type": "volunteer", "id": volunteer_id},
                [volunteer.get("palace_id")],
            )
        return volunteer

    @route(
        "GET /api/volunteers/<volunteer_id>/lending",
        tag=N_("志愿者"),
        summary=N_("是否同意随队借调到联盟文化宫（默认不同意）"),
        response=p.LendingOut,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def get_lending(self, request, volunteer_id):
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.lending, volunteer_id)

    @route(
        "PUT /api/volunteers/<volunteer_id>/lending",
        tag=N_("志愿者"),
        summary=N_("本人同意或撤回随队借调到联盟文化宫"),
        body=p.SetLending,
        response=p.LendingOut,
        roles=auth.VOLUNTEER,
    )
    def set_lending(self, request, volunteer_id):
        """Only the person decides: their details reach another palace's dispatchers when lent."""
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.set_lending, volunteer_id, body(request))

    @route(
        "PUT /api/volunteers/<volunteer_id>/availability",
        tag=N_("志愿者"),
        summary=N_("设置空闲时间"),
        body=p.SetAvailability,
        response=p.Volunteer,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def availability(self, request, volunteer_id):
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.set_availability, volunteer_id, body(request))

    @route(
        "GET /api/volunteers/<volunteer_id>/offers",
        tag=N_("志愿者"),
        summary=N_("我的邀约"),
        response=[p.OfferOut],
        query=("status",),
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def volunteer_offers(self, request, volunteer_id):
        who, _ = self._volunteer(request, volunteer_id)
        offers = call(self.dispatch.list_offers, volunteer_id, query(request).get("status"))
        return [auth.trim_offer(who, o) for o in offers]

    @route(
        "GET /api/volunteers/<volunteer_id>/hours",
        tag=N_("志愿者"),
        summary=N_("我的服务时长：逐次明细和本月、本年、累计"),
        response=p.VolunteerHours,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def volunteer_hours(self, request, volunteer_id):
        """Service hours by delivery, with totals for this month, this year and in all."""
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.volunteer_hours, volunteer_id)

    @route(
        "GET /api/volunteers/<volunteer_id>/calendar",
        tag=N_("志愿者"),
        summary=N_("我的服务日历订阅地址（.ics，可加到手机日历）"),
        response=p.CalendarLink,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def calendar_link(self, request, volunteer_id):
        """The address of the volunteer's schedule feed (.ics) for a phone's calendar app."""
        self._volunteer(request, volunteer_id)
        path = f"/ics/{feed_token(self._feed_secret(), volunteer_id)}.ics"
        host = request.host_url.rstrip("/")
        return {"url": host + path, "webcal": "webcal://" + host.split("://", 1)[-1] + path}

    @route(
        "GET /ics/<token>",
        tag=N_("志愿者"),
        summary=N_("服务日历（iCalendar），地址自带密钥，无需登录"),
        response=ICS,
        roles=auth.PUBLIC,
    )
    def calendar_feed(self, request, token):
        volunteer_id = volunteer_of(self._feed_secret(), token)
        volunteer = call(self.dispatch.get_volunteer, volunteer_id)
        offers = call(self.dispatch.list_offers, volunteer_id, "accepted")
        return Response(
            schedule_ics(volunteer.get("name"), offers),
            content_type="text/calendar; charset=utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    def _answer(self, request, offer_id: str, verb: str):
        who = self._who(request)
        data = {**body(request, required=False), "volunteer_id": who["volunteer_id"]}
        return call(getattr(self.dispatch, f"{verb}_offer"), offer_id, data)

    @route(
        "POST /api/offers/<offer_id>/accept",
        tag=N_("志愿者"),
        summary=N_("接受邀约"),
        body=p.AnswerOffer,
        response=p.OfferOut,
        roles=auth.VOLUNTEER,
    )
    def accept_offer(self, request, offer_id):
        return self._answer(request, offer_id, "accept")

    @route(
        "POST /api/offers/<offer_id>/decline",
        tag=N_("志愿者"),
        summary=N_("婉拒邀约"),
        body=p.AnswerOffer,
        response=p.OfferOut,
        roles=auth.VOLUNTEER,
    )
    def decline_offer(self, request, offer_id):
        return self._answer(request, offer_id, "decline")

    @route(
        "POST /api/offers/<offer_id>/swap",
        tag=N_("志愿者"),
        summary=N_("把已接受的任务转给同事（同事接受后生效）"),
        body=p.ProposeSwap,
        status=201,
        response=p.OfferOut,
        roles=auth.VOLUNTEER,
    )
    def swap_offer(self, request, offer_id):
        """Hand an accepted assignment to a colleague, who must accept it."""
        who = self._who(request)
        data = {**body(request), "volunteer_id": who["volunteer_id"]}
        return call(self.dispatch.propose_swap, offer_id, data)

"""A volunteer's own record, free time, offers, hours and calendar feed, and answering offers."""

from __future__ import annotations

from werkzeug.wrappers import Response

from services.gateway import auth
from services.gateway.calendar import feed_token, schedule_ics, volunteer_of
from services.gateway.http import body, call, http, query


class Volunteers:
    """Volunteer entrypoints mixed into the gateway service."""

    def _volunteer(self, request, volunteer_id: str) -> tuple[dict, dict]:
        who = self._who(request, ("volunteer", "dispatcher", "admin"))
        volunteer = call(self.dispatch.get_volunteer, volunteer_id)
        auth.check_volunteer(who, volunteer)
        return who, volunteer

    @http("GET", "/api/volunteers/<volunteer_id>")
    def volunteer(self, request, volunteer_id):
        return self._volunteer(request, volunteer_id)[1]

    @http("PUT", "/api/volunteers/<volunteer_id>/availability")
    def availability(self, request, volunteer_id):
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.set_availability, volunteer_id, body(request))

    @http("GET", "/api/volunteers/<volunteer_id>/offers")
    def volunteer_offers(self, request, volunteer_id):
        who, _ = self._volunteer(request, volunteer_id)
        offers = call(self.dispatch.list_offers, volunteer_id, query(request, ("status",)).get("status"))
        return [auth.trim_offer(who, o) for o in offers]

    @http("GET", "/api/volunteers/<volunteer_id>/hours")
    def volunteer_hours(self, request, volunteer_id):
        """Service hours by delivery, with totals for this month, this year and in all."""
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.volunteer_hours, volunteer_id)

    @http("GET", "/api/volunteers/<volunteer_id>/calendar")
    def calendar_link(self, request, volunteer_id):
        """The address of the volunteer's schedule feed (.ics) for a phone's calendar app."""
        self._volunteer(request, volunteer_id)
        path = f"/ics/{feed_token(self._feed_secret(), volunteer_id)}.ics"
        host = request.host_url.rstrip("/")
        return {"url": host + path, "webcal": "webcal://" + host.split("://", 1)[-1] + path}

    @http("GET", "/ics/<token>")
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
        who = self._who(request, ("volunteer",))
        data = {**body(request, required=False), "volunteer_id": who["volunteer_id"]}
        return call(getattr(self.dispatch, f"{verb}_offer"), offer_id, data)

    @http("POST", "/api/offers/<offer_id>/accept")
    def accept_offer(self, request, offer_id):
        return self._answer(request, offer_id, "accept")

    @http("POST", "/api/offers/<offer_id>/decline")
    def decline_offer(self, request, offer_id):
        return self._answer(request, offer_id, "decline")

    @http("POST", "/api/offers/<offer_id>/swap")
    def swap_offer(self, request, offer_id):
        """Hand an accepted assignment to a colleague, who must accept it."""
        who = self._who(request, ("volunteer",))
        data = {**body(request), "volunteer_id": who["volunteer_id"]}
        return 201, call(self.dispatch.propose_swap, offer_id, data)

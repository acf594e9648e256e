"""A volunteer's schedule as an iCalendar feed (icalendar), for the phone's calendar app.

Calendar apps cannot send a bearer token, so the feed's address carries its own key: the
volunteer's id and an HMAC of it under the deployment's FEED_SECRET. Changing the secret
revokes every feed address at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from icalendar import Calendar, Event

from common.errors import NotFound


def feed_token(secret: str, volunteer_id: str) -> str:
    mac = hmac.new(secret.encode(), f"ics:{volunteer_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{volunteer_id}.{mac}"


def volunteer_of(secret: str, token: str) -> str:
    """The volunteer a feed address belongs to; a wrong or forged key is simply not found."""
    volunteer_id, _, _ = token.removesuffix(".ics").rpartition(".")
    if not volunteer_id or not hmac.compare_digest(feed_token(secret, volunteer_id), token.removesuffix(".ics")):
        raise NotFound("找不到这个日历订阅地址。", "FEED_NOT_FOUND")
    return volunteer_id


def schedule_ics(volunteer_name: str | None, offers: list[dict]) -> bytes:
    """Accepted offers as VEVENTs; a calendar that refreshes drops what is no longer there."""
    cal = Calendar()
    cal.add("prodid", "-//songwenhua//volunteer schedule//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"送文化下基层 · {volunteer_name or '我的服务安排'}")
    cal.add("x-wr-timezone", "Asia/Shanghai")
    stamp = dt.datetime.now(dt.UTC)
    for offer in offers:
        event = Event()
        event.add("uid", f"{offer['offer_id']}@songwenhua")
        event.add("dtstamp", stamp)
        event.add("dtstart", dt.datetime.fromisoformat(offer["start"]).astimezone(dt.UTC))  # exact, not floating
        event.add("dtend", dt.datetime.fromisoformat(offer["end"]).astimezone(dt.UTC))
        event.add("summary", f"{offer.get('program_title') or '送文化服务'}（{offer['skill']}）")
        event.add("location", " ".join(x for x in (offer.get("district"), offer.get("site_address")) if x))
        event.add("description", f"订单 {offer['order_id']}；请按时签到、签退。")
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()

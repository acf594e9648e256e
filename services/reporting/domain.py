"""The statistics palaces report upward, as projections of the events (no I/O here).

Every event becomes a few increments on pre-aggregated rows ("facts"): per palace (and "*" for
all palaces together), per month in China time, and per dimension (the whole palace, a district,
a program, a troupe, an enterprise union, a program wanted next). A dashboard question reads a
handful of those rows whatever the size of the history, so answers stay as fast at a million
responses as at ten thousand. The rows are disposable: replaying the event archive rebuilds them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from common.clock import CN

ALL = "*"
DIMENSIONS = ("all", "district", "program", "troupe", "enterprise")
# the counters of a fact row; sums are kept with their counts so averages can be summed over months
COUNTERS = (
    "placed",
    "accepted",
    "rejected",
    "cancelled",
    "unfulfillable",
    "scheduled",
    "to_schedule_hours",
    "timed",
    "closed",
    "deliveries",
    "people",
    "service_hours",
    "responses",
    "overall_sum",
    "content_sum",
    "content_n",
    "performers_sum",
    "performers_n",
    "organisation_sum",
    "organisation_n",
    "offers",
    "declined",
    "expired",
    "no_shows",
    "wanted",
    "loans_requested",
    "troupes_borrowed",
    "troupes_lent",
)
VOLUNTEER_COUNTERS = ("hours", "granted", "deliveries", "offers", "accepted", "declined", "expired", "no_shows")


def month_of(t: dt.datetime) -> str:
    local = t.astimezone(CN)
    return f"{local.year}-{local.month:02d}"


def months_between(start: str, end: str) -> list[str]:
    y, m = map(int, start.split("-"))
    ey, em = map(int, end.split("-"))
    out = []
    while (y, m) <= (ey, em):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def periods(start: str, end: str) -> list[str]:
    """The rows that cover the months start..end once each: a whole calendar year by its year row
    ("2026"), the other months by their month rows ("2025-11")."""
    months = months_between(start, end)
    out: list[str] = []
    i = 0
    while i < len(months):
        year = months[i][:4]
        if months[i].endswith("-01") and i + 11 < len(months) and months[i + 11] == f"{year}-12":
            out.append(year)
            i += 12
        else:
            out.append(months[i])
            i += 1
    return out


@dataclass
class Ops:
    """What one event (or a batch of them) changes, merged: increments by row, latest service
    dates, comments to keep, and order facts to remember for later events."""

    facts: dict[tuple, dict[str, float]] = field(default_factory=dict)
    labels: dict[tuple, str] = field(default_factory=dict)
    volunteers: dict[tuple, dict[str, float]] = field(default_factory=dict)
    reach: dict[tuple, dt.datetime] = field(default_factory=dict)
    reach_count: dict[tuple, int] = field(default_factory=dict)
    comments: list[dict] = field(default_factory=list)
    orders: dict[str, dict] = field(default_factory=dict)

    def inc(self, palace: str, month: str, dims: dict[str, str | None], labels: dict[str, str | None], **by):
        for palace_key in (palace, ALL):
            for dim, key in dims.items():
                if key is None:
                    continue
                for period in (month, month[:4]):  # the month's row and the year's (a year is read in one row)
                    self._add((palace_key, period, dim, key), labels.get(dim), by)

    def _add(self, row: tuple, label: str | None, by: dict) -> None:
        counters = self.facts.setdefault(row, {})
        for name, amount in by.items():
            counters[name] = counters.get(name, 0) + amount
        if label:
            self.labels[row] = label

    def volunteer(self, palace: str, month: str, volunteer_id: str, **by):
        for period in (month, month[:4]):
            counters = self.volunteers.setdefault((palace, period, volunteer_id), {})
            for name, amount in by.items():
                counters[name] = counters.get(name, 0) + amount

    def served(self, palace: str, kind: str, key: str, at: dt.datetime):
        row = (palace, kind, key)
        if row not in self.reach or self.reach[row] < at:
            self.reach[row] = at
        self.reach_count[row] = self.reach_count.get(row, 0) + 1


def _dims(order: dict) -> tuple[dict, dict]:
    dims = {
        "all": ALL,
        "district": order.get("district"),
        # a custom request has no program; an order only partly known yet has no program either
        "program": order.get("program_id") or ("custom" if order.get("placed_at") else None),
        "troupe": order.get("troupe_id"),
        "enterprise": order.get("enterprise_id"),
    }
    labels = {"program": order.get("program_title") or ("自定义需求" if dims["program"] == "custom" else None)}
    return dims, labels


def project(event: dict, order: dict | None, ops: Ops) -> None:
    """Add what ``event`` changes to ``ops``. ``order`` is what the projection remembers of the
    event's order (from its order_placed and later events), or None."""
    kind = event["event_type"]
    at: dt.datetime = event["occurred_at"]
    palace = event.get("palace_id") or (order or {}).get("palace_id")
    if not palace:
        return
    month = month_of(at)
    order = dict(order or {})
    order_id = event.get("order_id")

    if kind in ("order_placed", "order_amended", "order_accepted"):
        order.update(
            palace_id=palace,
            enterprise_id=event["enterprise_id"],
            district=event["district"],
            program_id=event.get("program_id"),
            program_title=event.get("program_title") or order.get("program_title"),
        )
        if kind == "order_placed":
            order["placed_at"] = at
        ops.orders[order_id] = order
    dims, labels = _dims(order)
    if kind in ("order_placed", "order_accepted", "order_rejected", "order_cancelled", "order_unfulfillable"):
        # a troupe is chosen when the order is scheduled: what comes before is not the troupe's, however
        # the events of different kinds happen to arrive
        dims = {**dims, "troupe": None}

    if kind == "order_placed":
        ops.inc(palace, month, dims, labels, placed=1)
    elif kind == "order_accepted":
        ops.inc(palace, month, dims, labels, accepted=1)
    elif kind == "order_rejected":
        ops.inc(palace, month, dims, labels, rejected=1)
    elif kind == "order_cancelled":
        ops.inc(palace, month, dims, labels, cancelled=1)
    elif kind == "order_unfulfillable":
        ops.inc(palace, month, dims, labels, unfulfillable=1)
    elif kind == "order_closed":
        ops.inc(palace, month, dims, labels, closed=1)
    elif kind == "order_scheduled":
        order["troupe_id"] = event.get("troupe_id")
        order["start"] = event["start"]
        ops.orders[order_id] = order
        dims, labels = _dims(order)
        if order.get("placed_at"):
            waited = (at - order["placed_at"]).total_seconds() / 3600
            ops.inc(palace, month, dims, labels, scheduled=1, to_schedule_hours=round(waited, 3), timed=1)
        else:  # its order_placed not seen yet (events of different kinds may arrive out of order)
            ops.inc(palace, month, dims, labels, scheduled=1)
    elif kind == "delivery_completed":
        order.update(
            troupe_id=event.get("troupe_id"),
            district=event["district"],
            enterprise_id=event["enterprise_id"],
            program_id=event.get("program_id"),
            program_title=event.get("program_title") or order.get("program_title"),
        )
        ops.orders[order_id] = order
        dims, labels = _dims(order)
        served_month = month_of(event["start"])
        counted = sum(v["hours"] for v in event["volunteers"])
        ops.inc(palace, served_month, dims, labels, deliveries=1, people=event["people_served"], service_hours=counted)
        for v in event["volunteers"]:
            ops.volunteer(palace, served_month, v["volunteer_id"], hours=v["hours"], deliveries=1)
        ops.served(palace, "enterprise", event["enterprise_id"], event["completed_at"])
        ops.served(palace, "district", event["district"], event["completed_at"])
    elif kind == "hours_granted":
        ops.volunteer(palace, month, event["volunteer_id"], hours=event["hours"], granted=event["hours"])
        ops.inc(palace, month, {"all": ALL, "troupe": order.get("troupe_id")}, {}, service_hours=event["hours"])
    elif kind == "offer_made":
        ops.volunteer(palace, month, event["volunteer_id"], offers=1)
        ops.inc(palace, month, {"all": ALL}, {}, offers=1)
    elif kind == "offer_accepted":
        ops.volunteer(palace, month, event["volunteer_id"], accepted=1)
    elif kind == "offer_declined":
        ops.volunteer(palace, month, event["volunteer_id"], declined=1)
        ops.inc(palace, month, {"all": ALL}, {}, declined=1)
    elif kind == "offer_expired":
        ops.volunteer(palace, month, event["volunteer_id"], expired=1)
        ops.inc(palace, month, {"all": ALL}, {}, expired=1)
    elif kind == "volunteer_no_show":
        ops.volunteer(palace, month, event["volunteer_id"], no_shows=1)
        ops.inc(palace, month, {"all": ALL}, {}, no_shows=1)
    elif kind == "no_show_cleared":
        ops.volunteer(palace, month, event["volunteer_id"], no_shows=-1)
        ops.inc(palace, month, {"all": ALL}, {}, no_shows=-1)
    elif kind == "troupe_loan_requested":
        ops.inc(palace, month, {"all": ALL}, {}, loans_requested=1)
    elif kind == "troupe_loan_approved":  # 队伍联用: the borrower and the lender each count it
        ops.inc(palace, month, {"all": ALL}, {}, troupes_borrowed=1)
        ops.inc(event["owner_palace_id"], month, {"all": ALL}, {}, troupes_lent=1)
    elif kind == "response_received":
        by = {"responses": 1, "overall_sum": event["overall"]}
        for aspect in ("content", "performers", "organisation"):
            if event.get(aspect) is not None:
                by[f"{aspect}_sum"] = event[aspect]
                by[f"{aspect}_n"] = 1
        ops.inc(palace, month, dims, labels, **by)
        for wanted in {w.strip() for w in event.get("wanted_programs") or [] if w.strip()}:
            ops.inc(palace, month, {"wanted": wanted[:50]}, {}, wanted=1)
        if (event.get("comment") or "").strip():
            ops.comments.append(
                {
                    "_id": event["response_id"],
                    "palace_id": palace,
                    "order_id": order_id,
                    "program_title": order.get("program_title"),
                    "district": order.get("district"),
                    "overall": event["overall"],
                    "comment": event["comment"].strip(),
                    "at": at,
                }
            )


# ------------------------------------------------------------------ reading the rows


def summed(rows: list[dict]) -> dict[str, float]:
    out = {c: 0.0 for c in COUNTERS}
    for row in rows:
        for c in COUNTERS:
            out[c] += row.get(c, 0) or 0
    return out


def figures(totals: dict[str, float]) -> dict:
    """The numbers people read, from summed counters: averages, rates, the 点单率 base."""

    def avg(s: str, n: str) -> float | None:
        return round(totals[s] / totals[n], 2) if totals.get(n) else None

    return {
        "orders_placed": int(totals["placed"]),
        "orders_accepted": int(totals["accepted"]),
        "orders_rejected": int(totals["rejected"]),
        "orders_cancelled": int(totals["cancelled"]),
        "orders_unfulfillable": int(totals["unfulfillable"]),
        "orders_scheduled": int(totals["scheduled"]),
        "orders_closed": int(totals["closed"]),
        "hours_to_schedule": avg("to_schedule_hours", "timed"),
        "deliveries": int(totals["deliveries"]),
        "people_served": int(totals["people"]),
        "service_hours": round(totals["service_hours"], 1),
        "responses": int(totals["responses"]),
        "satisfaction": avg("overall_sum", "responses"),
        "content": avg("content_sum", "content_n"),
        "performers": avg("performers_sum", "performers_n"),
        "organisation": avg("organisation_sum", "organisation_n"),
        "offers": int(totals["offers"]),
        "decline_rate": round(totals["declined"] / totals["offers"], 3) if totals["offers"] else None,
        "expiry_rate": round(totals["expired"] / totals["offers"], 3) if totals["offers"] else None,
        "no_shows": int(totals["no_shows"]),
        "troupe_loans_requested": int(totals["loans_requested"]),
        "troupes_borrowed": int(totals["troupes_borrowed"]),
        "troupes_lent": int(totals["troupes_lent"]),
    }


def breakdown(rows: list[dict], total_placed: float) -> list[dict]:
    """Rows of one dimension summed over the months, biggest first, with each one's share of the
    orders placed (点单率 for programs)."""
    by_key: dict[str, list[dict]] = {}
    labels: dict[str, str] = {}
    for row in rows:
        by_key.setdefault(row["key"], []).append(row)
        if row.get("label"):
            labels[row["key"]] = row["label"]
    out = []
    for key, group in by_key.items():
        totals = summed(group)
        out.append(
            {
                "key": key,
                "label": labels.get(key) or key,
                **figures(totals),
                "wanted": int(totals["wanted"]),
                "order_share": round(totals["placed"] / total_placed, 4) if total_placed else None,
            }
        )
    out.sort(key=lambda r: (-r["deliveries"], -r["orders_placed"], -r["wanted"], r["key"]))
    return out


def leaderboard(rows: list[dict], limit: int) -> list[dict]:
    by_volunteer: dict[str, dict[str, float]] = {}
    for row in rows:
        acc = by_volunteer.setdefault(row["volunteer_id"], {c: 0.0 for c in VOLUNTEER_COUNTERS})
        for c in VOLUNTEER_COUNTERS:
            acc[c] += row.get(c, 0) or 0
    out = []
    for vid, acc in by_volunteer.items():
        out.append(
            {
                "volunteer_id": vid,
                "hours": round(acc["hours"], 1),
                "granted_hours": round(acc["granted"], 1),
                "deliveries": int(acc["deliveries"]),
                "offers": int(acc["offers"]),
                "decline_rate": round(acc["declined"] / acc["offers"], 3) if acc["offers"] else None,
                "no_show_rate": round(acc["no_shows"] / acc["deliveries"], 3) if acc["deliveries"] else None,
                "no_shows": int(acc["no_shows"]),
            }
        )
    out.sort(key=lambda r: (-r["hours"], -r["deliveries"], r["volunteer_id"]))
    return out[:limit]

"""The reporting projections without I/O: what each event adds, and that a batch adds the same."""

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting import domain

CN = dt.timezone(dt.timedelta(hours=8))


def at(day: int, hour: int = 10, month: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=CN)


def story(order_id: str, district: str, program: str, enterprise: str, day: int, scores: list[int]) -> list[dict]:
    base = {"order_id": order_id, "palace_id": "p1"}
    snap = {
        **base,
        "enterprise_id": enterprise,
        "program_id": program,
        "program_title": f"节目{program}",
        "district": district,
        "site_address": "x",
        "audience_size": 100,
        "windows": [],
    }
    events = [
        {**snap, "event_type": "order_placed", "occurred_at": at(day, 8)},
        {**snap, "event_type": "order_accepted", "occurred_at": at(day, 9)},
        {**base, "event_type": "offer_made", "volunteer_id": "v1", "skill": "s", "occurred_at": at(day, 9)},
        {**base, "event_type": "offer_declined", "volunteer_id": "v1", "skill": "s", "occurred_at": at(day, 10)},
        {**base, "event_type": "offer_made", "volunteer_id": "v2", "skill": "s", "occurred_at": at(day, 10)},
        {
            **base,
            "event_type": "order_scheduled",
            "troupe_id": "t1",
            "start": at(day + 2, 14),
            "end": at(day + 2, 16),
            "crew": [],
            "occurred_at": at(day, 12),
        },
        {
            **base,
            "event_type": "delivery_completed",
            "enterprise_id": enterprise,
            "program_id": program,
            "program_title": f"节目{program}",
            "troupe_id": "t1",
            "district": district,
            "start": at(day + 2, 14),
            "end": at(day + 2, 16),
            "people_served": 80,
            "completed_at": at(day + 2, 16),
            "volunteers": [{"volunteer_id": "v2", "hours": 2.0, "granted_hours": 0.0}],
            "occurred_at": at(day + 2, 16),
        },
    ]
    for n, score in enumerate(scores):
        events.append(
            {
                **base,
                "event_type": "response_received",
                "survey_id": "s",
                "response_id": f"{order_id}-{n}",
                "overall": score,
                "content": 5,
                "performers": None,
                "organisation": None,
                "comment": "很好" if n == 0 else None,
                "wanted_programs": ["八段锦", " 八段锦 "],
                "occurred_at": at(day + 2, 17),
            }
        )
    events.append(
        {
            **base,
            "event_type": "order_closed",
            "enterprise_id": enterprise,
            "satisfaction": None,
            "responses": len(scores),
            "occurred_at": at(day + 5),
        }
    )
    return events


class Memory:
    """Applies Ops the way the repository does, in memory."""

    def __init__(self):
        self.facts, self.labels, self.volunteers, self.reach, self.orders, self.comments = {}, {}, {}, {}, {}, {}

    def apply(self, ops: domain.Ops):
        for row, counters in ops.facts.items():
            acc = self.facts.setdefault(row, {})
            for k, v in counters.items():
                acc[k] = acc.get(k, 0) + v
        self.labels.update(ops.labels)
        for row, counters in ops.volunteers.items():
            acc = self.volunteers.setdefault(row, {})
            for k, v in counters.items():
                acc[k] = acc.get(k, 0) + v
        for row, when in ops.reach.items():
            self.reach[row] = max(self.reach.get(row, when), when)
        self.orders.update(ops.orders)
        self.comments.update({c["_id"]: c for c in ops.comments})

    def rows(self, palace, dim):
        return [
            {"key": k[3], "label": self.labels.get(k), "month": k[1], **c}
            for k, c in self.facts.items()
            if k[0] == palace and k[2] == dim and len(k[1]) == 7  # month rows (year rows repeat them)
        ]


def one_by_one(events):
    mem = Memory()
    for e in events:
        ops = domain.Ops()
        domain.project(e, mem.orders.get(e.get("order_id")), ops)
        mem.apply(ops)
    return mem


def test_a_delivered_order_counts_once_in_every_dimension_and_month():
    mem = one_by_one(story("o1", "海宁", "song", "e1", 3, [5, 4, 3]))
    totals = domain.figures(domain.summed(mem.rows("p1", "all")))
    assert totals["orders_placed"] == 1 and totals["orders_scheduled"] == 1 and totals["orders_closed"] == 1
    assert totals["deliveries"] == 1 and totals["people_served"] == 80 and totals["service_hours"] == 2.0
    assert totals["responses"] == 3 and totals["satisfaction"] == 4.0 and totals["content"] == 5.0
    assert totals["performers"] is None
    assert totals["hours_to_schedule"] == 4.0  # placed 08:00, scheduled 12:00
    assert totals["decline_rate"] == 0.5
    # the same in the all-palaces rollup and in each dimension
    assert domain.figures(domain.summed(mem.rows("*", "all")))["deliveries"] == 1
    for dim, key in (("district", "海宁"), ("program", "song"), ("troupe", "t1"), ("enterprise", "e1")):
        rows = mem.rows("p1", dim)
        assert [r["key"] for r in rows] == [key]
        assert domain.figures(domain.summed(rows))["deliveries"] == 1
    wanted = mem.rows("p1", "wanted")
    assert [(r["key"], r["wanted"]) for r in wanted] == [("八段锦", 3)]  # once per response, trimmed
    assert mem.volunteers[("p1", "2026-12", "v2")]["hours"] == 2.0 == mem.volunteers[("p1", "2026", "v2")]["hours"]
    assert mem.volunteers[("p1", "2026-12", "v1")]["declined"] == 1
    assert mem.reach[("p1", "enterprise", "e1")] == at(5, 16)
    assert len(mem.comments) == 1


def test_a_delivery_counts_in_the_month_it_happened_and_a_response_in_the_month_it_came():
    events = story("o1", "海宁", "song", "e1", 3, [5])
    for e in events:
        if e["event_type"] in ("order_placed", "order_accepted", "offer_made", "offer_declined", "order_scheduled"):
            e["occurred_at"] = e["occurred_at"].replace(month=11, day=28)  # ordered in November
    mem = one_by_one(events)
    by_month = {r["month"]: r for r in mem.rows("p1", "all")}
    assert by_month["2026-11"]["placed"] == 1 and by_month["2026-11"]["scheduled"] == 1
    assert by_month["2026-12"]["deliveries"] == 1 and by_month["2026-12"]["responses"] == 1
    assert "placed" not in by_month["2026-12"]


def test_the_programs_order_share_is_its_part_of_all_orders_placed():
    events = (
        story("o1", "海宁", "song", "e1", 3, [])
        + story("o2", "许村", "film", "e2", 4, [])
        + story("o3", "许村", "song", "e2", 5, [])
    )
    mem = one_by_one(events)
    total = domain.summed(mem.rows("p1", "all"))["placed"]
    rows = {r["key"]: r for r in domain.breakdown(mem.rows("p1", "program"), total)}
    assert rows["song"]["order_share"] == round(2 / 3, 4) and rows["film"]["order_share"] == round(1 / 3, 4)
    assert rows["song"]["label"] == "节目song"


def test_a_cleared_no_show_no_longer_counts_and_granted_hours_are_kept_apart():
    base = {"order_id": "o1", "palace_id": "p1", "volunteer_id": "v1"}
    events = [
        {
            **base,
            "event_type": "volunteer_no_show",
            "no_show_id": "n1",
            "skill": "s",
            "reason": "r",
            "occurred_at": at(3),
        },
        {**base, "event_type": "no_show_cleared", "no_show_id": "n1", "reason": "误报", "occurred_at": at(4)},
        {**base, "event_type": "hours_granted", "hours": 1.5, "reason": "r", "granted_by": "d", "occurred_at": at(4)},
    ]
    mem = one_by_one(events)
    board = domain.leaderboard([{"volunteer_id": k[2], **c} for k, c in mem.volunteers.items() if len(k[1]) == 7], 10)
    assert board == [
        {
            "volunteer_id": "v1",
            "hours": 1.5,
            "granted_hours": 1.5,
            "deliveries": 0,
            "offers": 0,
            "decline_rate": None,
            "no_show_rate": None,
            "no_shows": 0,
        }
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=1, max_value=8))
def test_projecting_a_batch_adds_up_to_projecting_one_event_at_a_time(seed, orders):
    rng = random.Random(seed)
    events = []
    for n in range(orders):
        events += story(
            f"o{n}",
            rng.choice(["海宁", "许村"]),
            rng.choice(["song", "film"]),
            rng.choice(["e1", "e2"]),
            rng.randint(1, 20),
            [rng.randint(1, 5) for _ in range(rng.randint(0, 4))],
        )
    events.sort(key=lambda e: (e["occurred_at"], e["order_id"]))
    single = one_by_one(events)
    batch = Memory()
    cut = rng.randint(0, len(events))
    for part in (events[:cut], events[cut:]):  # two batches, each one Ops, as a rebuild writes them
        ops = domain.Ops()
        for e in part:
            domain.project(e, ops.orders.get(e["order_id"]) or batch.orders.get(e["order_id"]), ops)
        batch.apply(ops)
    assert batch.facts == single.facts
    assert batch.volunteers == single.volunteers
    assert batch.reach == single.reach


def test_a_year_row_holds_the_sum_of_its_month_rows():
    mem = one_by_one(story("o1", "海宁", "song", "e1", 3, [5, 4]) + story("o2", "许村", "film", "e2", 20, [3]))
    for (palace, period, dim, key), counters in mem.facts.items():
        if len(period) == 4:
            months = [
                c
                for (p, m, d, k), c in mem.facts.items()
                if (p, d, k) == (palace, dim, key) and m[:4] == period and len(m) == 7
            ]
            assert domain.summed(months) == domain.summed([counters])


def test_periods_cover_each_month_once_with_whole_years_in_one_row():
    assert domain.periods("2026-01", "2026-12") == ["2026"]
    assert domain.periods("2025-11", "2027-02") == ["2025-11", "2025-12", "2026", "2027-01", "2027-02"]
    assert domain.periods("2026-03", "2026-05") == ["2026-03", "2026-04", "2026-05"]
    assert domain.periods("2025-01", "2026-12") == ["2025", "2026"]


def test_an_approved_loan_counts_as_borrowed_by_one_palace_and_lent_by_the_other():
    loan = {"loan_id": "l1", "order_id": "b1", "troupe_id": "t9", "alliance_id": "a1", "owner_palace_id": "p2"}
    events = [
        {**loan, "palace_id": "p1", "event_type": "troupe_loan_requested", "occurred_at": at(3)},
        {**loan, "palace_id": "p1", "event_type": "troupe_loan_approved", "occurred_at": at(4)},
        {**loan, "loan_id": "l2", "palace_id": "p1", "event_type": "troupe_loan_requested", "occurred_at": at(5)},
        {**loan, "loan_id": "l2", "palace_id": "p1", "event_type": "troupe_loan_refused", "occurred_at": at(6)},
    ]
    mem = one_by_one(events)
    borrower = domain.figures(domain.summed(mem.rows("p1", "all")))
    lender = domain.figures(domain.summed(mem.rows("p2", "all")))
    assert (borrower["troupe_loans_requested"], borrower["troupes_borrowed"], borrower["troupes_lent"]) == (2, 1, 0)
    assert (lender["troupe_loans_requested"], lender["troupes_borrowed"], lender["troupes_lent"]) == (0, 0, 1)

"""Which dates can be staffed: for a program and a district, the windows of the next weeks in
which the palace could staff an order now, found by the batch planner's own scoring (search.py)
on the instance as it stands. Read only: nothing is held. No I/O.

A window is offered at each whole hour of a day's service hours, long enough for the program and
an hour to spare (so the planner has a choice of start). A window can be staffed when the best
crew exists in it; among those, the ones with the most candidates to spare per role (a decline
or another order placed meanwhile still leaves a crew) and the best crews come first, one a day.
"""

from __future__ import annotations

from services.dispatch import planner as P
from services.dispatch import search

FIRST_HOUR, LAST_END = 8, 21.5  # service hours, China time (the instance starts at a local midnight)
SPARE_MINUTES = 60  # a window is this much longer than the program
MARGIN_CAP = 4.0  # candidates per needed person beyond which more do not rank a window higher


def candidates(inst: P.Instance, minutes: int, first: int, last: int) -> list[tuple[int, int]]:
    """Windows [start, end) in buckets: one at each whole hour of each day's service hours,
    starting no earlier than ``first`` and ending no later than ``last``."""
    per_hour = 60 // P.BUCKET_MINUTES
    length = -(-(minutes + SPARE_MINUTES) // P.BUCKET_MINUTES)
    out = []
    for day in range(inst.T // P.PER_DAY):
        for hour in range(FIRST_HOUR, 24):
            start = day * P.PER_DAY + hour * per_hour
            end = start + length
            if end > day * P.PER_DAY + LAST_END * per_hour:
                break
            if start >= first and end <= min(last, inst.T):
                out.append((start, end))
    return out


def staffable(inst: P.Instance, order: P.Order, windows: list[tuple[int, int]], keep: int = 5) -> list[dict]:
    """The best ``keep`` windows that can be staffed now (at most one a day), earliest first:
    each with the slot the planner would choose, its troupe, the value of its crew and its
    margin (the fewest candidates per needed person among the roles)."""
    scorer = search.Scorer(inst)
    found = []
    for a, b in windows:
        order.windows = [(a, b)]
        best = scorer.best(order)
        if best is None:
            continue
        start, end, troupe, crew = best
        value = search.choice_of(inst, order, start, end, troupe, crew).value
        u, ok, *_ = scorer._eligible(order, [(start, end)])
        free = u[ok[:, 0]]
        margin = min(float(scorer.masks[s][free].sum()) / n for s, n in order.needs)
        found.append({"window": (a, b), "slot": (start, end), "troupe": troupe, "value": value, "margin": margin})
    best_of_day: dict[int, dict] = {}
    for f in found:
        day = f["window"][0] // P.PER_DAY
        rank = (min(f["margin"], MARGIN_CAP), f["value"])
        if day not in best_of_day or rank > (min(best_of_day[day]["margin"], MARGIN_CAP), best_of_day[day]["value"]):
            best_of_day[day] = f
    chosen = sorted(best_of_day.values(), key=lambda f: (-min(f["margin"], MARGIN_CAP), -f["value"]))[:keep]
    return sorted(chosen, key=lambda f: f["window"][0])


def as_times(inst: P.Instance, found: list[dict]) -> list[dict]:
    """The windows in datetimes, as the order form and the API give them."""
    out = []
    for f in found:
        a, b = f["window"]
        s, e = f["slot"]
        out.append(
            {
                "start": inst.time(a),
                "end": inst.time(b),
                "slot_start": inst.time(s),
                "slot_end": inst.time(e),
                "troupe_id": f["troupe"],
                "margin": round(float(f["margin"]), 2),
                "score": round(float(f["value"]), 1),
            }
        )
    return out

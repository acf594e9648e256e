"""The planner's instance: volunteers, troupes and their time over a horizon of whole days, as
numpy grids of 15-minute buckets from a midnight (China time). No I/O."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from common.clock import CN

if TYPE_CHECKING:
    from services.dispatch.planner import Choice, Order, Rules

BUCKET_MINUTES = 15
BUCKET = dt.timedelta(minutes=BUCKET_MINUTES)
PER_DAY = 24 * 60 // BUCKET_MINUTES
STEP = 2  # candidate start times every 30 minutes


SPANS_KEPT = 4096
_spans: dict[int, tuple[list, int, np.ndarray]] = {}


def free_spans(availability: list[dict]) -> np.ndarray:
    """A volunteer's free windows as rows of [start, end) in seconds since the epoch.

    Remembered per availability list (the same list object, of the same length): dispatch keeps
    each palace's volunteers in memory, and a volunteer free every day of the next months has
    hundreds of windows, which every plan would otherwise convert again. Such lists are read,
    never changed in place; a changed volunteer comes as a new document."""
    kept = _spans.get(id(availability))
    if kept is not None and kept[0] is availability and kept[1] == len(availability):
        return kept[2]
    spans = np.array([(w["start"].timestamp(), w["end"].timestamp()) for w in availability], dtype=float)
    spans = spans.reshape(-1, 2)
    if len(_spans) >= SPANS_KEPT:
        _spans.clear()
    _spans[id(availability)] = (availability, len(availability), spans)
    return spans


class Instance:
    """Volunteers, troupes and their time over a horizon of whole days, as numpy grids."""

    def __init__(
        self,
        rules: Rules,
        origin: dt.datetime,
        days: int,
        volunteers: list[dict],
        troupes: list[dict],
        districts: dict[str, tuple[float, float]],
    ):
        self.rules = rules
        self.origin = origin
        self.T = days * PER_DAY
        self.districts = districts
        local_days = [(origin + dt.timedelta(days=d)).astimezone(CN).date() for d in range(days)]
        week_keys = sorted({d.isocalendar()[:2] for d in local_days})
        month_keys = sorted({(d.year, d.month) for d in local_days})
        self.week_keys, self.month_keys = week_keys, month_keys
        self.day_week = np.array([week_keys.index(d.isocalendar()[:2]) for d in local_days], dtype=np.int32)
        self.day_month = np.array([month_keys.index((d.year, d.month)) for d in local_days], dtype=np.int32)

        V = len(volunteers)
        self.ids = [v["volunteer_id"] for v in volunteers]
        self.index = {vid: i for i, vid in enumerate(self.ids)}
        self.volunteers = volunteers
        self.avail = np.zeros((V, self.T), dtype=bool)
        self.occupied = np.zeros((V, self.T), dtype=bool)
        self.week_count = np.zeros((V, len(week_keys)), dtype=np.int32)
        self.month_minutes = np.zeros((V, len(month_keys)), dtype=np.int32)
        self.week_limit = np.array(
            [v.get("max_deliveries_per_week") or rules.week_deliveries for v in volunteers], dtype=np.int32
        )
        self.month_limit = np.array(
            [round(60 * (v.get("max_hours_per_month") or rules.month_hours)) for v in volunteers], dtype=np.int32
        )
        self.max_km = np.array(
            [min(rules.max_travel_km, v.get("max_travel_km") or rules.max_travel_km) for v in volunteers], dtype=float
        )
        self.latlon = np.array([districts.get(v.get("district"), (np.nan, np.nan)) for v in volunteers], dtype=float)
        self.latlon = self.latlon.reshape(V, 2)
        self.home = [v.get("district") for v in volunteers]
        by_skill: dict[str, list[int]] = {}
        origin_s = origin.timestamp()
        for i, v in enumerate(volunteers):
            for s in set(v.get("skills") or ()):
                by_skill.setdefault(s, []).append(i)
            if v.get("availability"):
                self._mark_free(i, v["availability"], origin_s)
        self.by_skill = {s: np.array(ix, dtype=np.int64) for s, ix in by_skill.items()}
        # availability as running sums: "free for all of [a, b)" is one subtraction per volunteer
        # (column-major: the planner reads one time for many volunteers at once)
        self.avail_sum = np.zeros((V, self.T + 1), dtype=np.int32, order="F")
        np.cumsum(self.avail, axis=1, out=self.avail_sum[:, 1:])
        self._likes_kind: dict[str, np.ndarray] = {}
        self._likes_district: dict[str, np.ndarray] = {}
        self._distance: dict[str, np.ndarray] = {}

        # in a batch: how much the other orders still waiting need each volunteer (0 online),
        # and the month's minutes as they stood before the batch (fairness is scored on those)
        self.pressure = np.zeros(V, dtype=float)
        self.fair_minutes: np.ndarray | None = None

        self._set_troupes(rules, troupes)
        # held buckets as running sums too: "nothing held in [a, b)" is one subtraction
        self.occ_sum = np.zeros((V, self.T + 1), dtype=np.int32)

    def _occ(self, i: int, a: int = 0) -> None:
        """Running sums of volunteer i's held buckets again, from bucket ``a`` on (before it
        nothing changed)."""
        a = min(max(a, 0), self.T)
        np.cumsum(self.occupied[i, a:], out=self.occ_sum[i, a + 1 :])
        if a:
            self.occ_sum[i, a + 1 :] += self.occ_sum[i, a]

    def free_in(self, c: np.ndarray, a, b) -> np.ndarray:
        """Whether candidates c hold nothing in [a, b) (a and b broadcast against c)."""
        return self.occ_sum[c, b] - self.occ_sum[c, a] == 0

    def _mark_free(self, i: int, availability: list[dict], origin_s: float) -> None:
        """Mark the whole buckets of volunteer i's free windows that lie within the horizon."""
        rel = (free_spans(availability) - origin_s) / (60 * BUCKET_MINUTES)
        rel = rel[(rel[:, 1] > 0) & (rel[:, 0] < self.T)]  # the windows that meet the horizon
        for a, b in zip(np.ceil(rel[:, 0] - 1e-9).astype(int), np.floor(rel[:, 1] + 1e-9).astype(int), strict=True):
            if b > a:
                self.avail[i, max(a, 0) : b] = True

    def _set_troupes(self, rules: Rules, troupes: list[dict]) -> None:
        """The troupes, their members among the volunteers, their week's deliveries and limits."""
        self.troupe_ids = [t["troupe_id"] for t in troupes]
        self.troupe_docs = {t["troupe_id"]: t for t in troupes}
        self.troupe_index = {t: i for i, t in enumerate(self.troupe_ids)}
        self.members = np.zeros((len(troupes), len(self.ids)), dtype=bool)
        for j, t in enumerate(troupes):
            for vid in t.get("members") or ():
                if vid in self.index:
                    self.members[j, self.index[vid]] = True
        self.troupe_week = np.zeros((len(troupes), len(self.week_keys)), dtype=np.int32)
        self.troupe_limit = np.array(
            [t.get("max_deliveries_per_week") or rules.troupe_week_deliveries for t in troupes], dtype=np.int32
        )

    # -------------------------------------------------------------- time

    def bucket(self, t: dt.datetime, ceil: bool = False) -> int:
        minutes = (t - self.origin).total_seconds() / 60 / BUCKET_MINUTES
        return math.ceil(minutes - 1e-9) if ceil else math.floor(minutes + 1e-9)

    def time(self, bucket: int) -> dt.datetime:
        return self.origin + bucket * BUCKET

    def week_of(self, bucket: int) -> int:
        return int(self.day_week[min(bucket // PER_DAY, len(self.day_week) - 1)])

    def month_of(self, bucket: int) -> int:
        return int(self.day_month[min(bucket // PER_DAY, len(self.day_month) - 1)])

    # -------------------------------------------------------------- what is already held

    def hold(self, i: int, start: int, end: int, minutes: int) -> None:
        """Mark a booking of volunteer i (its buckets and half the rest gap on each side)."""
        h = self.rules.half_gap
        self.occupied[i, max(start - h, 0) : max(min(end + h, self.T), 0)] = True
        self._occ(i, start - h)
        if 0 <= start < self.T:
            self.week_count[i, self.week_of(start)] += 1
            self.month_minutes[i, self.month_of(start)] += minutes

    def hold_buckets(self, i: int, buckets: Iterable[int]) -> None:
        """Mark buckets the database already holds for volunteer i (pads included)."""
        for b in buckets:
            if 0 <= b < self.T:
                self.occupied[i, b] = True
        self._occ(i)

    def set_loads(self, i: int, week: dict[tuple[int, int], int], month: dict[tuple[int, int], int]) -> None:
        for k, n in week.items():
            if k in self.week_keys:
                self.week_count[i, self.week_keys.index(k)] = n
        for k, m in month.items():
            if k in self.month_keys:
                self.month_minutes[i, self.month_keys.index(k)] = m

    def set_troupe_load(self, j: int, week: dict[tuple[int, int], int]) -> None:
        for k, n in week.items():
            if k in self.week_keys:
                self.troupe_week[j, self.week_keys.index(k)] = n

    def apply(self, order: Order, choice: Choice) -> None:
        for i, _, _ in choice.crew:
            self.hold(i, choice.start, choice.end, order.minutes)
        if choice.troupe is not None:
            self.troupe_week[self.troupe_index[choice.troupe], self.week_of(choice.start)] += 1

    def unhold(self, i: int, start: int, end: int, minutes: int) -> None:
        """Give back one booking that ``hold`` took."""
        h = self.rules.half_gap
        self.occupied[i, max(start - h, 0) : max(min(end + h, self.T), 0)] = False
        self._occ(i, start - h)
        if 0 <= start < self.T:
            self.week_count[i, self.week_of(start)] -= 1
            self.month_minutes[i, self.month_of(start)] -= minutes

    def unapply(self, order: Order, choice: Choice) -> None:
        """Give back what ``apply`` took (a planned booking's buckets never meet another's)."""
        h = self.rules.half_gap
        for i, _, _ in choice.crew:
            self.occupied[i, max(choice.start - h, 0) : max(min(choice.end + h, self.T), 0)] = False
            self._occ(i, choice.start - h)
            if 0 <= choice.start < self.T:
                self.week_count[i, self.week_of(choice.start)] -= 1
                self.month_minutes[i, self.month_of(choice.start)] -= order.minutes
        if choice.troupe is not None:
            self.troupe_week[self.troupe_index[choice.troupe], self.week_of(choice.start)] -= 1

    # -------------------------------------------------------------- scores that do not depend on the slot

    def distance(self, district: str) -> np.ndarray:
        """km from each volunteer's district; unknown places count as half the limit, same place 0."""
        if district not in self._distance:
            at = self.districts.get(district)
            if at is None:
                d = np.full(len(self.ids), self.rules.max_travel_km / 2)
            else:
                lat, lon = np.radians(self.latlon[:, 0]), np.radians(self.latlon[:, 1])
                la, lo = math.radians(at[0]), math.radians(at[1])
                h = np.sin((lat - la) / 2) ** 2 + np.cos(lat) * math.cos(la) * np.sin((lon - lo) / 2) ** 2
                d = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
                d = np.where(np.isnan(d), self.rules.max_travel_km / 2, d)
            same = np.array([h == district for h in self.home], dtype=bool)
            self._distance[district] = np.where(same, 0.0, d)
        return self._distance[district]

    def likes(self, kind: str, district: str) -> np.ndarray:
        if kind not in self._likes_kind:
            self._likes_kind[kind] = np.array(
                [not v.get("preferred_kinds") or kind in v["preferred_kinds"] for v in self.volunteers], dtype=float
            )
        if district not in self._likes_district:
            self._likes_district[district] = np.array(
                [not v.get("preferred_districts") or district in v["preferred_districts"] for v in self.volunteers],
                dtype=float,
            )
        return 0.5 * self._likes_kind[kind] + 0.5 * self._likes_district[district]

    # -------------------------------------------------------------- slots

    def slots(self, order: Order) -> list[tuple[int, int]]:
        """The order's possible [start, end) every STEP buckets within its windows (remembered
        per windows and length: a batch asks for them many times; the list is not to be changed)."""
        key = (order.length, *map(tuple, order.windows))
        cache = self.__dict__.setdefault("_slots", {})
        got = cache.get(key)
        if got is None:
            n, out = order.length, set()
            for a, b in order.windows:
                s = max(a, 0)
                while s + n <= min(b, self.T):
                    out.add((s, s + n))
                    s += STEP
            got = cache[key] = sorted(out)
        return got

"""The planner: the slot, troupe and crew for each order, under the hard rules, scored by the
palace's weights, with the reasons for every choice. No I/O.

Time is cut into 15-minute buckets from the instance's origin (a midnight, China time). Each
volunteer has a row of availability and a row of occupied buckets. A booking occupies its own
buckets plus half the rest gap on each side, so two bookings whose occupied buckets do not meet
lie at least the whole rest gap apart; the database holds the same buckets under a unique key.

Objective (what the benchmark measures and the reference solver bounds):
  for every served order   weights.serve + weights.underserved * underserved(order)
  for every assignment      weights.travel * (1 - km / max_km)
                          + weights.fairness * (1 - hours this month / monthly limit)
                          + weights.troupe * (member of the troupe sent)
                          + weights.preference * (program kind and district the volunteer likes)
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from common.clock import CN

BUCKET_MINUTES = 15
BUCKET = dt.timedelta(minutes=BUCKET_MINUTES)
PER_DAY = 24 * 60 // BUCKET_MINUTES
STEP = 2  # candidate start times every 30 minutes
RESERVES = 8  # ranked reserves kept per skill for declines and no-shows
RUNNERS_UP = 3  # runners-up shown per skill in an explanation

CRITERIA = ("travel", "fairness", "troupe", "preference")
LABELS = {
    "serve": "完成订单",
    "underserved": "照顾久未送达的企业和区域",
    "travel": "路程近",
    "fairness": "工作量均衡",
    "troupe": "与同团队员同行",
    "preference": "符合本人意愿",
}
EXCLUDED = {
    "unavailable": "不在本人可服务时间内",
    "busy": "该时段已有安排",
    "rest": "与前后安排的间隔不足",
    "week_limit": "本周服务次数已满",
    "month_limit": "本月服务时长已满",
    "too_far": "路程超出上限",
    "taken": "已被安排担任其他角色",
}


@dataclass(frozen=True)
class Weights:
    serve: float = 100.0
    underserved: float = 40.0
    travel: float = 10.0
    fairness: float = 8.0
    troupe: float = 6.0
    preference: float = 4.0


@dataclass(frozen=True)
class Rules:
    rest_minutes: int = 30
    max_travel_km: float = 30.0
    week_deliveries: int = 3
    month_hours: float = 40.0
    troupe_week_deliveries: int = 4
    weights: Weights = field(default_factory=Weights)

    @classmethod
    def of(cls, palace: dict | None) -> Rules:
        """The palace's settings over the defaults (missing keys keep the default)."""
        palace = palace or {}
        rules = palace.get("rules") or {}
        weights = {
            f.name: float(v) for f in fields(Weights) if (v := (palace.get("weights") or {}).get(f.name)) is not None
        }
        values = {f.name: rules[f.name] for f in fields(cls) if f.name != "weights" and rules.get(f.name) is not None}
        return cls(**values, weights=Weights(**weights))

    @property
    def half_gap(self) -> int:
        """Buckets each booking keeps free on either side (half the rest gap, rounded up)."""
        return math.ceil(self.rest_minutes / 2 / BUCKET_MINUTES)


def km_between(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float | None:
    """Great-circle distance between two (lat, lon) points, in km."""
    if a is None or b is None:
        return None
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def underserved(days_since: float | None, horizon_days: float = 180.0) -> float:
    """0 when served today, 1 when never served or not for half a year."""
    return 1.0 if days_since is None else min(max(days_since, 0.0), horizon_days) / horizon_days


# ------------------------------------------------------------------ the instance


@dataclass
class Order:
    order_id: str
    district: str
    kind: str
    minutes: int
    needs: list[tuple[str, int]]
    windows: list[tuple[int, int]]  # buckets [start, end)
    troupes: list[str] = field(default_factory=list)  # troupes with the program in their repertoire
    underserved: float = 1.0
    enterprise_id: str | None = None
    # days since the enterprise and since the district were last served (None: never), for the
    # explanation in words
    unserved_days: tuple[float | None, float | None] = (None, None)

    @property
    def length(self) -> int:
        return math.ceil(self.minutes / BUCKET_MINUTES)


@dataclass
class Choice:
    """A planned order: slot [start, end) in buckets, the troupe, the crew and the reserves."""

    order_id: str
    start: int
    end: int
    troupe: str | None
    crew: list[tuple[int, str, dict]]  # (volunteer index, skill, score by criterion)
    reserves: dict[str, list[int]]
    value: float
    explanation: dict | None = None


@dataclass
class Miss:
    order_id: str
    missing: dict[str, int]
    excluded: dict[str, int]

    def reason(self) -> str:
        if not self.missing:
            return "在可选时间段内没有可安排的时间。"
        parts = "，".join(f"{skill} {n} 人" for skill, n in sorted(self.missing.items()))
        why = "；".join(f"{EXCLUDED[k]} {n} 人" for k, n in sorted(self.excluded.items(), key=lambda kv: -kv[1]) if n)
        return f"在可选时间段内凑不齐人员：缺少 {parts}。" + (f"（候选人中：{why}）" if why else "")


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
                rel = (free_spans(v["availability"]) - origin_s) / (60 * BUCKET_MINUTES)
                rel = rel[(rel[:, 1] > 0) & (rel[:, 0] < self.T)]  # the windows that meet the horizon
                for a, b in zip(
                    np.ceil(rel[:, 0] - 1e-9).astype(int), np.floor(rel[:, 1] + 1e-9).astype(int), strict=True
                ):
                    if b > a:
                        self.avail[i, max(a, 0) : b] = True
        self.by_skill = {s: np.array(ix, dtype=np.int64) for s, ix in by_skill.items()}
        # availability as running sums: "free for all of [a, b)" is one subtraction per volunteer
        self.avail_sum = np.zeros((V, self.T + 1), dtype=np.int32)
        np.cumsum(self.avail, axis=1, out=self.avail_sum[:, 1:])
        self._likes_kind: dict[str, np.ndarray] = {}
        self._likes_district: dict[str, np.ndarray] = {}
        self._distance: dict[str, np.ndarray] = {}

        # in a batch: how much the other orders still waiting need each volunteer (0 online),
        # and the month's minutes as they stood before the batch (fairness is scored on those)
        self.pressure = np.zeros(V, dtype=float)
        self.fair_minutes: np.ndarray | None = None

        self.troupe_ids = [t["troupe_id"] for t in troupes]
        self.troupe_docs = {t["troupe_id"]: t for t in troupes}
        self.troupe_index = {t: i for i, t in enumerate(self.troupe_ids)}
        self.members = np.zeros((len(troupes), V), dtype=bool)
        for j, t in enumerate(troupes):
            for vid in t.get("members") or ():
                if vid in self.index:
                    self.members[j, self.index[vid]] = True
        self.troupe_week = np.zeros((len(troupes), len(week_keys)), dtype=np.int32)
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
        if 0 <= start < self.T:
            self.week_count[i, self.week_of(start)] += 1
            self.month_minutes[i, self.month_of(start)] += minutes

    def hold_buckets(self, i: int, buckets: Iterable[int]) -> None:
        """Mark buckets the database already holds for volunteer i (pads included)."""
        for b in buckets:
            if 0 <= b < self.T:
                self.occupied[i, b] = True

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
        if 0 <= start < self.T:
            self.week_count[i, self.week_of(start)] -= 1
            self.month_minutes[i, self.month_of(start)] -= minutes

    def unapply(self, order: Order, choice: Choice) -> None:
        """Give back what ``apply`` took (a planned booking's buckets never meet another's)."""
        h = self.rules.half_gap
        for i, _, _ in choice.crew:
            self.occupied[i, max(choice.start - h, 0) : max(min(choice.end + h, self.T), 0)] = False
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
        n, out = order.length, set()
        for a, b in order.windows:
            s = max(a, 0)
            while s + n <= min(b, self.T):
                out.add((s, s + n))
                s += STEP
        return sorted(out)


# ------------------------------------------------------------------ planning one order


def _eligible(inst: Instance, c: np.ndarray, order: Order, start: int, end: int, far_ok: np.ndarray):
    """Which candidates pass every hard rule for the slot (cheap checks first, the grid last)."""
    h = inst.rules.half_gap
    w, m = inst.week_of(start), inst.month_of(start)
    ok = inst.avail_sum[c, end] - inst.avail_sum[c, start] == end - start
    if far_ok is not None:
        ok &= far_ok
    ok &= inst.week_count[c, w] < inst.week_limit[c]
    ok &= inst.month_minutes[c, m] + order.minutes <= inst.month_limit[c]
    k = np.flatnonzero(ok)
    if len(k):
        ok[k[inst.occupied[c[k], max(start - h, 0) : min(end + h, inst.T)].any(axis=1)]] = False
    return ok


def _excluded(inst: Instance, c: np.ndarray, order: Order, start: int, end: int, far_ok: np.ndarray, ok) -> dict:
    """How many candidates each hard rule kept out (the first rule each one broke)."""
    h = inst.rules.half_gap
    w, m = inst.week_of(start), inst.month_of(start)
    checks = [
        ("too_far", ~far_ok if far_ok is not None else np.zeros(len(c), dtype=bool)),
        ("unavailable", inst.avail_sum[c, end] - inst.avail_sum[c, start] != end - start),
        ("busy", inst.occupied[c, start:end].any(axis=1)),
        ("rest", inst.occupied[c, max(start - h, 0) : min(end + h, inst.T)].any(axis=1)),
        ("week_limit", inst.week_count[c, w] >= inst.week_limit[c]),
        ("month_limit", inst.month_minutes[c, m] + order.minutes > inst.month_limit[c]),
    ]
    left = ~ok
    out = {}
    for name, bad in checks:
        hit = left & bad
        if hit.any():
            out[name] = int(hit.sum())
        left &= ~bad
    return out


def plan_order(
    inst: Instance,
    order: Order,
    *,
    explain: bool = False,
    fixed: tuple[int, int, str | None] | None = None,
    exclude: Iterable[str] = (),
    needs: list[tuple[str, int]] | None = None,
) -> Choice | Miss:
    """The best (slot, troupe, crew) for one order, or what was missing at best.

    ``fixed`` keeps a slot and troupe (an order with accepted offers); ``needs`` plans only the
    remaining roles; ``exclude`` keeps volunteers out (already in the crew, or declined).
    """
    wts = inst.rules.weights
    needs = needs if needs is not None else order.needs
    banned = {inst.index[v] for v in exclude if v in inst.index}
    dist = inst.distance(order.district)
    likes = inst.likes(order.kind, order.district)
    static = {}
    for skill, _ in needs:
        c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
        if banned:
            c = c[~np.isin(c, list(banned))]
        travel = np.clip(1.0 - dist[c] / inst.rules.max_travel_km, 0.0, 1.0)
        near = dist[c] <= inst.max_km[c]
        # those too far never come back: the rest of the search looks only at the near ones
        static[skill] = (c[near], int((~near).sum()), wts.travel * travel[near], wts.preference * likes[c][near])
    if fixed is not None:
        slots, troupe_pool = [(fixed[0], fixed[1])], [fixed[2]]
    else:
        slots = inst.slots(order)
        troupe_pool = [t for t in order.troupes if t in inst.troupe_index]
    best: Choice | None = None
    best_adjusted = -math.inf
    best_miss: tuple[dict, int, int] | None = None  # (missing, start, end)
    for start, end in slots:
        m = inst.month_of(start)
        masks, scores = {}, {}
        for skill, _ in needs:
            c, _, travel, pref = static[skill]
            masks[skill] = _eligible(inst, c, order, start, end, None)
            limit = inst.month_limit[c]
            minutes = inst.month_minutes if inst.fair_minutes is None else inst.fair_minutes
            fair = wts.fairness * (1.0 - np.minimum(minutes[c, m] / np.maximum(limit, 1), 1.0))
            scores[skill] = (travel, fair, pref)
        options: list[str | None] = [None]
        if fixed is not None:
            options = troupe_pool
        elif troupe_pool:
            w = inst.week_of(start)
            tj = np.array([inst.troupe_index[t] for t in troupe_pool])
            tj = tj[inst.troupe_week[tj, w] < inst.troupe_limit[tj]]
            if len(tj):
                free = np.concatenate([static[skill][0][masks[skill]] for skill, _ in needs])
                counts = inst.members[tj][:, free].sum(axis=1)
                top = np.argsort(-counts, kind="stable")[:2]
                options += [inst.troupe_ids[tj[k]] for k in top if counts[k] > 0]
        for troupe in options:
            got = _crew(inst, needs, static, masks, scores, troupe)
            if isinstance(got, dict):  # something missing
                if best_miss is None or sum(got.values()) < sum(best_miss[0].values()):
                    best_miss = (got, start, end)
                continue
            crew, total, ranked = got
            value = wts.serve + wts.underserved * order.underserved + total
            adjusted = value - sum(float(inst.pressure[i]) for i, _, _ in crew)
            if best is None or adjusted > best_adjusted + 1e-9:
                best_adjusted = adjusted
                in_crew = {i for i, _, _ in crew}
                reserves = {s: [i for i in ranked[s][: len(in_crew) + RESERVES] if i not in in_crew] for s in ranked}
                best = Choice(order.order_id, start, end, troupe, crew, reserves, value)
                if explain:
                    best.explanation = _explain(
                        inst, order, needs, static, masks, scores, troupe, crew, ranked, start, end
                    )
    if best is not None:
        return best
    if best_miss is None:
        return Miss(order.order_id, {}, {})
    missing, start, end = best_miss
    excluded: dict[str, int] = {}
    if explain:
        for skill, _ in needs:
            c, n_far, _, _ = static[skill]
            ok = _eligible(inst, c, order, start, end, None)
            for k, n in {**_excluded(inst, c, order, start, end, None, ok), "too_far": n_far}.items():
                if n:
                    excluded[k] = excluded.get(k, 0) + n
    return Miss(order.order_id, missing, excluded)


def _crew(inst: Instance, needs, static, masks, scores, troupe):
    """Greedy cover, scarcest skill first: distinct volunteers, best score first."""
    member = inst.members[inst.troupe_index[troupe]] if troupe is not None else None
    wt = inst.rules.weights.troupe
    taken: set[int] = set()
    crew, total, missing, ranked = [], 0.0, {}, {}
    order_of = sorted(needs, key=lambda n: (int(masks[n[0]].sum()) - n[1], n[0]))
    for skill, count in order_of:
        c = static[skill][0]
        travel, fair, pref = scores[skill]
        ok = np.flatnonzero(masks[skill])
        total_k = travel[ok] + fair[ok] + pref[ok]
        if member is not None:
            total_k = total_k + wt * member[c[ok]]
        order_k = ok[np.lexsort((c[ok], -(total_k - inst.pressure[c[ok]])))]
        ranked[skill] = c[order_k]
        picked = 0
        for k in order_k:
            i = int(c[k])
            if i in taken:
                continue
            taken.add(i)
            parts = {
                "travel": float(travel[k]),
                "fairness": float(fair[k]),
                "troupe": float(wt * member[i]) if member is not None else 0.0,
                "preference": float(pref[k]),
            }
            crew.append((i, skill, parts))
            total += sum(parts.values())
            picked += 1
            if picked == count:
                break
        if picked < count:
            missing[skill] = count - picked
    if missing:
        return missing
    keep = RESERVES + len(crew)
    return crew, total, {s: r[:keep].tolist() for s, r in ranked.items()}


def _explain(inst, order, needs, static, masks, scores, troupe, crew, ranked, start, end) -> dict:
    """Why these people: each one's score by criterion, the runners-up and what they lost on,
    and how many candidates each hard rule kept out."""
    member = inst.members[inst.troupe_index[troupe]] if troupe is not None else None
    wt = inst.rules.weights.troupe
    chosen = {i for i, _, _ in crew}
    dist = inst.distance(order.district)
    likes = inst.likes(order.kind, order.district)
    month = inst.month_of(start)
    days = [None if d is None else round(d) for d in order.unserved_days]
    out = {
        "troupe_id": troupe,
        "underserved": round(order.underserved, 3),
        "unserved_days": {"enterprise": days[0], "district": days[1]},
        "roles": [],
    }

    def facts(i: int) -> dict:
        """What the scores stand for, in the dispatcher's terms."""
        return {
            "km": round(float(dist[i]), 1),
            "month_hours": round(float(inst.month_minutes[i, month]) / 60, 1),
            "in_troupe": bool(member is not None and member[i]),
            "likes": bool(likes[i]),
        }

    for skill, _ in needs:
        c = static[skill][0]
        pos = {int(v): k for k, v in enumerate(c)}
        travel, fair, pref = scores[skill]

        def parts(i: int, pos=pos, travel=travel, fair=fair, pref=pref) -> dict:
            k = pos[i]
            return {
                "travel": round(float(travel[k]), 3),
                "fairness": round(float(fair[k]), 3),
                "troupe": round(float(wt * member[i]) if member is not None else 0.0, 3),
                "preference": round(float(pref[k]), 3),
            }

        picked = [(i, p) for i, s, p in crew if s == skill]
        weakest = min(picked, key=lambda x: sum(x[1].values()))[1] if picked else {}
        runners = []
        for i in [i for i in ranked.get(skill, []) if i not in chosen][:RUNNERS_UP]:
            p = parts(i)
            lost = max(CRITERIA, key=lambda k: weakest.get(k, 0.0) - p[k]) if weakest else None
            runners.append(
                {
                    "volunteer_id": inst.ids[i],
                    "score": round(sum(p.values()), 3),
                    "criteria": p,
                    "facts": facts(i),
                    "lost_on": lost if lost and weakest.get(lost, 0.0) - p[lost] > 1e-9 else "tie",
                    "behind_by": round(sum(weakest.values()) - sum(p.values()), 3),
                }
            )
        out["roles"].append(
            {
                "skill": skill,
                "chosen": [
                    {
                        "volunteer_id": inst.ids[i],
                        "score": round(sum(q.values()), 3),
                        "criteria": parts(i),
                        "facts": facts(i),
                    }
                    for i, q in picked
                ],
                "runners_up": runners,
                "excluded": {
                    k: n
                    for k, n in {
                        **_excluded(inst, c, order, start, end, None, masks[skill]),
                        "too_far": static[skill][1],
                    }.items()
                    if n
                },
            }
        )
    return out


# ------------------------------------------------------------------ batch


def _demand(inst: Instance, order: Order) -> tuple[list[tuple[np.ndarray, float]], float]:
    """Who could fill each role of the order (near enough, free at its first or last start time,
    under the limits), and how hard it is to staff: the fewest candidates per needed person."""
    dist = inst.distance(order.district)
    slots = inst.slots(order)
    shares, tight = [], math.inf
    if not slots:
        return shares, 0.0
    ends = {slots[0], slots[-1]}
    for skill, count in order.needs:
        c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
        c = c[dist[c] <= inst.max_km[c]]
        able = np.zeros(len(c), dtype=bool)
        for start, end in ends:
            able |= inst.avail_sum[c, end] - inst.avail_sum[c, start] == end - start
        who = c[able]
        tight = min(tight, len(who) / count)
        if len(who):
            shares.append((who, count / len(who)))
    return shares, tight


def plan_batch(
    inst: Instance,
    orders: list[Order],
    *,
    explain: bool = False,
    fixed: dict | None = None,
    scarcity: float = 1.0,
    improve_seconds: float | None = None,
) -> dict[str, Choice | Miss]:
    """Plan many orders together on one instance; each choice is held before the next order.

    Orders go hardest to staff first (fewest candidates per person needed), the under-served
    ahead of others equally hard. While choosing, a volunteer many waiting orders depend on costs
    a little more (``scarcity``), so that the easy orders leave the scarce people to the hard
    ones; the objective itself is not changed by this.
    """
    fixed = fixed or {}
    w = inst.rules.weights
    demand = {o.order_id: _demand(inst, o) for o in orders}
    capacity = np.maximum(inst.week_limit * len(inst.week_keys) - inst.week_count.sum(axis=1), 1).astype(float)
    load = np.zeros(len(inst.ids))
    for shares, _ in demand.values():
        for who, share in shares:
            load[who] += share
    weight = scarcity * (w.travel + w.fairness + w.preference)
    results: dict[str, Choice | Miss] = {}

    def key(o: Order) -> tuple:
        return (min(demand[o.order_id][1], 50.0) // 2, -(w.serve + w.underserved * o.underserved), o.windows[0][0])

    started = time.perf_counter()
    queue = sorted(orders, key=key)
    inst.fair_minutes = inst.month_minutes.copy()
    try:
        for order in queue:
            for who, share in demand[order.order_id][0]:
                load[who] -= share
            inst.pressure = weight * np.minimum(np.maximum(load, 0) / capacity, 1.0)
            kw = fixed.get(order.order_id) or {}
            got = plan_order(inst, order, explain=explain, **kw)
            if isinstance(got, Choice):
                inst.apply(order, got)
            results[order.order_id] = got
    finally:
        inst.pressure = np.zeros(len(inst.ids))
    # then, while time allows: orders left out try to borrow a person from a planned order that
    # can find a replacement; then each planned order is planned again with everyone else held
    by_id = {o.order_id: o for o in orders}
    for order in queue:
        if improve_seconds is None or time.perf_counter() - started > improve_seconds:
            break
        if isinstance(results[order.order_id], Miss) and order.order_id not in fixed:
            got = _repair(inst, order, results, by_id, explain)
            if got is not None:
                results[order.order_id] = got
    for order in queue:
        if improve_seconds is None or time.perf_counter() - started > improve_seconds:
            break
        old = results[order.order_id]
        if not isinstance(old, Choice) or order.order_id in fixed:
            continue
        inst.unapply(order, old)
        new = plan_order(inst, order, explain=explain)
        if isinstance(new, Choice) and new.value > old.value + 1e-9:
            results[order.order_id] = old = new
        inst.apply(order, old)
    inst.fair_minutes = None
    return results


def _repair(inst: Instance, order: Order, results: dict, by_id: dict, explain: bool) -> Choice | None:
    """Serve a left-out order by moving one person: for a role nobody is free for, take a
    candidate whose only conflict is one role in another planned order, give that role to a
    replacement, and plan this order. Everything is undone when it does not work out."""
    h = inst.rules.half_gap
    held: dict[int, list[str]] = {}
    for oid, r in results.items():
        if isinstance(r, Choice):
            for i, _, _ in r.crew:
                held.setdefault(i, []).append(oid)
    dist = inst.distance(order.district)
    for start, end in inst.slots(order):
        w, m = inst.week_of(start), inst.month_of(start)
        for skill, _ in order.needs:
            c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
            c = c[dist[c] <= inst.max_km[c]]
            c = c[inst.avail_sum[c, end] - inst.avail_sum[c, start] == end - start]
            c = c[inst.occupied[c, max(start - h, 0) : min(end + h, inst.T)].any(axis=1)]
            for i in c[:12].tolist():
                blocking = [
                    oid
                    for oid in held.get(i, [])
                    if results[oid].start - h < end + h and start - h < results[oid].end + h
                ]
                if len(blocking) != 1:
                    continue
                other, mine = by_id[blocking[0]], results[blocking[0]]
                role = next(sk for j, sk, _ in mine.crew if j == i)
                inst.unhold(i, mine.start, mine.end, other.minutes)
                if inst.week_count[i, w] >= inst.week_limit[i] or (
                    inst.month_minutes[i, m] + order.minutes > inst.month_limit[i]
                ):
                    inst.hold(i, mine.start, mine.end, other.minutes)
                    continue
                stand_in = plan_order(
                    inst,
                    other,
                    fixed=(mine.start, mine.end, mine.troupe),
                    needs=[(role, 1)],
                    exclude=[inst.ids[j] for j, _, _ in mine.crew],
                )
                if isinstance(stand_in, Choice):
                    u, _, parts = stand_in.crew[0]
                    inst.hold(u, mine.start, mine.end, other.minutes)
                    got = plan_order(inst, order, explain=explain, fixed=(start, end, None))
                    if isinstance(got, Choice):
                        old_parts = next(p for j, _, p in mine.crew if j == i)
                        mine.crew = [(u, role, parts) if j == i else (j, sk, p) for j, sk, p in mine.crew]
                        mine.value += sum(parts.values()) - sum(old_parts.values())
                        inst.apply(order, got)
                        return got
                    inst.unhold(u, mine.start, mine.end, other.minutes)
                inst.hold(i, mine.start, mine.end, other.minutes)
    return None


def objective(results: dict[str, Choice | Miss]) -> float:
    return sum(r.value for r in results.values() if isinstance(r, Choice))


def make_order(
    inst: Instance,
    order: dict,
    program: dict,
    troupes: list[str],
    underserved: float,
    unserved_days: tuple[float | None, float | None] = (None, None),
) -> Order:
    """An order as the planner sees it (windows in buckets of the instance)."""
    return Order(
        order_id=order["order_id"],
        district=order["district"],
        kind=program.get("kind") or "",
        minutes=int(program["duration_minutes"]),
        needs=[(n["skill"], int(n["count"])) for n in program["needs"]],
        windows=[(inst.bucket(w["start"], ceil=True), inst.bucket(w["end"])) for w in order["windows"]],
        troupes=list(troupes),
        underserved=underserved,
        enterprise_id=order.get("enterprise_id"),
        unserved_days=unserved_days,
    )

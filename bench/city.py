"""A city-sized dispatch instance, the same for the same seed: districts with coordinates,
programs, volunteers with weekly availability, troupes and a month of orders."""

from __future__ import annotations

import datetime as dt
import random

from common.clock import CN

SKILLS = [
    ("声乐", 10),
    ("器乐", 8),
    ("舞蹈", 8),
    ("主持", 5),
    ("音响", 5),
    ("摄影", 3),
    ("书法", 3),
    ("绘画", 3),
    ("讲师", 6),
    ("放映", 3),
    ("戏曲", 4),
    ("曲艺", 3),
]
KINDS = {
    "performance": ["声乐", "器乐", "舞蹈", "主持", "音响", "戏曲", "曲艺"],
    "class": ["书法", "绘画", "舞蹈", "声乐"],
    "lecture": ["讲师", "主持"],
    "film": ["放映", "主持", "音响"],
}
BLOCKS = [(9, 0, 12, 0), (14, 0, 18, 0), (19, 0, 21, 30)]  # morning, afternoon, evening (China time)


def generate(
    seed: int = 7,
    orders: int = 10_000,
    volunteers: int = 2_000,
    troupes: int = 300,
    districts: int = 20,
    days: int = 31,
    start: dt.date = dt.date(2026, 12, 1),
) -> dict:
    rnd = random.Random(seed)
    centre = (30.58, 114.30)
    names = [f"第{i + 1}区" for i in range(districts)]
    places = {n: (centre[0] + rnd.uniform(-0.2, 0.2), centre[1] + rnd.uniform(-0.25, 0.25)) for n in names}
    origin = dt.datetime.combine(start, dt.time(0), CN).astimezone(dt.UTC)

    def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
        return origin + dt.timedelta(days=day, hours=hour, minutes=minute)

    skill_names = [s for s, _ in SKILLS]
    skill_weights = [w for _, w in SKILLS]
    programs = []
    for p in range(60):
        kind = rnd.choice(list(KINDS))
        pool = KINDS[kind]
        needed = rnd.sample(pool, k=min(len(pool), rnd.choice([1, 1, 2, 2, 3])))
        programs.append(
            {
                "program_id": f"p{p:03d}",
                "kind": kind,
                "title": f"节目{p}",
                "duration_minutes": rnd.choice([60, 90, 90, 120]),
                "needs": [{"skill": s, "count": rnd.choice([1, 1, 1, 2])} for s in needed],
            }
        )

    people = []
    for v in range(volunteers):
        skills = set(rnd.choices(skill_names, weights=skill_weights, k=rnd.choice([1, 2, 2, 3])))
        pattern = rnd.sample([(wd, b) for wd in range(7) for b in range(3)], k=rnd.choice([3, 4, 5, 6]))
        availability = []
        for day in range(days):
            weekday = (start + dt.timedelta(days=day)).weekday()
            for wd, b in pattern:
                if wd == weekday:
                    h1, m1, h2, m2 = BLOCKS[b]
                    availability.append({"start": at(day, h1, m1), "end": at(day, h2, m2)})
        people.append(
            {
                "volunteer_id": f"v{v:04d}",
                "name": f"志愿者{v}",
                "skills": sorted(skills),
                "district": rnd.choice(names),
                "availability": availability,
                "max_deliveries_per_week": rnd.choice([3, 4, 5]),
                "max_hours_per_month": rnd.choice([20, 30, 40]),
                "preferred_kinds": rnd.sample(list(KINDS), k=2) if rnd.random() < 0.4 else [],
                "preferred_districts": rnd.sample(names, k=3) if rnd.random() < 0.3 else [],
            }
        )
    by_district: dict[str, list[str]] = {}
    for v in people:
        by_district.setdefault(v["district"], []).append(v["volunteer_id"])
    bands = []
    for t in range(troupes):
        home = rnd.choice(names)
        near = by_district[home] + by_district[rnd.choice(names)]
        bands.append(
            {
                "troupe_id": f"t{t:03d}",
                "name": f"艺术团{t}",
                "district": home,
                "members": rnd.sample(near, k=min(len(near), rnd.randint(5, 12))),
                "repertoire": [p["program_id"] for p in rnd.sample(programs, k=rnd.randint(3, 8))],
                "max_deliveries_per_week": rnd.choice([3, 4, 5]),
            }
        )
    enterprises = [{"enterprise_id": f"e{e:04d}", "district": rnd.choice(names)} for e in range(3_000)]
    last_served = {e["enterprise_id"]: (None if rnd.random() < 0.2 else rnd.uniform(0, 365)) for e in enterprises}
    district_last = {n: rnd.uniform(0, 60) for n in names}
    work = []
    for o in range(orders):
        e = rnd.choice(enterprises)
        program = rnd.choice(programs)
        day = rnd.randrange(days)
        windows = []
        for _ in range(rnd.choice([1, 1, 2])):
            d = min(days - 1, day + rnd.choice([0, 0, 1, 2]))
            h = rnd.choice([9, 10, 14, 15, 16, 19])
            span = program["duration_minutes"] + rnd.choice([0, 30, 60, 90])
            windows.append({"start": at(d, h), "end": at(d, h) + dt.timedelta(minutes=span)})
        work.append(
            {
                "order_id": f"o{o:05d}",
                "enterprise_id": e["enterprise_id"],
                "district": e["district"],
                "program_id": program["program_id"],
                "windows": windows,
            }
        )
    return {
        "origin": origin,
        "days": days,
        "districts": places,
        "programs": {p["program_id"]: p for p in programs},
        "volunteers": people,
        "troupes": bands,
        "orders": work,
        "enterprise_days": last_served,
        "district_days": district_last,
    }

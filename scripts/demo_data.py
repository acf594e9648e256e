"""A small, realistic data set: two palaces, their programs, troupes, volunteers and the
enterprise unions that order from them. Loading is idempotent (upserts by id); availability
is laid over the 30 days from today, so the demo can always be scheduled."""

from __future__ import annotations

import datetime as dt
import os
import random

from nameko.standalone.rpc import ClusterRpcProxy

from common.clock import CN as CST
from common.config import DEFAULTS

PALACES = [
    {
        "palace_id": "haining",
        "name": "海宁市工人文化宫",
        "district": "海宁",
        "offer_hours": 24,
        "rules": {"rest_minutes": 60, "max_travel_km": 40, "week_deliveries": 3, "month_hours": 40},
        "districts": [
            {"name": "海宁", "lat": 30.511, "lon": 120.681},
            {"name": "海昌街道", "lat": 30.528, "lon": 120.690},
            {"name": "许村镇", "lat": 30.421, "lon": 120.553},
            {"name": "长安镇", "lat": 30.459, "lon": 120.522},
        ],
    },
    {
        "palace_id": "qingdao",
        "name": "青岛市工人文化宫",
        "district": "市南区",
        "offer_hours": 24,
        "rules": {"rest_minutes": 60, "max_travel_km": 60},
        "districts": [
            {"name": "市南区", "lat": 36.067, "lon": 120.383},
            {"name": "市北区", "lat": 36.087, "lon": 120.375},
            {"name": "黄岛区", "lat": 35.961, "lon": 120.198},
            {"name": "城阳区", "lat": 36.307, "lon": 120.396},
        ],
    },
]

DISTRICTS = {
    "haining": ["海宁", "海昌街道", "许村镇", "长安镇"],
    "qingdao": ["市南区", "市北区", "黄岛区", "城阳区"],
}

PROGRAMS = [
    (
        "song",
        "劳动者之歌 文艺演出",
        "performance",
        120,
        [("声乐", 2), ("舞蹈", 2), ("器乐", 1)],
        "需要 8×6 米平整场地、电源、音响位置。",
    ),
    ("baduanjin", "八段锦 工间健身培训", "training", 90, [("八段锦", 1)], "可容纳 30 人的空地。"),
    ("mind", "职工心理健康讲座", "talk", 90, [("心理咨询", 1)], "会议室，投影仪。"),
    ("film", "公益电影放映", "screening", 150, [("放映", 2)], "能遮光的食堂或礼堂，电源。"),
    ("calligraphy", "书法进企业 写春联", "training", 120, [("书法", 2)], "长桌若干。"),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "芳",
    "伟",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
]

TROUPES = [
    # (suffix, name, skills wanted among members)
    ("art", "职工文艺志愿者艺术团", ["声乐"] * 4 + ["舞蹈"] * 4 + ["器乐"] * 3),
    ("film", "志愿放映队", ["放映"] * 4),
    ("teach", "送培训讲师团", ["八段锦"] * 3 + ["心理咨询"] * 3 + ["书法"] * 4),
]

# 队伍联用: the two palaces form an alliance and Qingdao shares its art troupe with it
ALLIANCE = {"name": "文化宫联盟", "palace_ids": ["haining", "qingdao"]}
SHARED_TROUPES = ["qingdao-art"]

ENTERPRISES = {
    "haining": [
        ("jingbian", "海宁经编产业园联合工会"),
        ("pijia", "海宁皮革城工会"),
        ("chuanhua", "许村家纺企业工会"),
        ("dianlan", "长安镇电缆厂工会"),
    ],
    "qingdao": [
        ("gangkou", "青岛港务集团工会"),
        ("haier", "城阳家电园区工会"),
        ("jianzhu", "黄岛新区建筑工地工会"),
        ("kuaidi", "市北区快递物流行业工会"),
    ],
}


def build(today: dt.date | None = None, seed: int = 7) -> dict:
    rng = random.Random(seed)
    today = today or dt.datetime.now(CST).date()
    data: dict[str, list] = {"palaces": PALACES, "programs": [], "troupes": [], "volunteers": [], "enterprises": []}
    for palace in PALACES:
        pid = palace["palace_id"]
        for key, title, kind, minutes, needs, site in PROGRAMS:
            data["programs"].append(
                {
                    "program_id": f"{pid}-{key}",
                    "palace_id": pid,
                    "title": title,
                    "kind": kind,
                    "duration_minutes": minutes,
                    "needs": [{"skill": s, "count": c} for s, c in needs],
                    "site_requirements": site,
                    "description": f"{palace['name']}标配服务项目：{title}。",
                }
            )
        n = 0
        for suffix, troupe_name, skills in TROUPES:
            troupe_id = f"{pid}-{suffix}"
            members = []
            for skill in skills:
                n += 1
                vid = f"{pid}-v{n:02d}"
                members.append(vid)
                windows = []
                for day in range(31):
                    date = today + dt.timedelta(days=day)
                    if rng.random() < 0.85:  # most volunteers are free most days
                        start = dt.datetime.combine(date, dt.time(8, 0), CST)
                        windows.append(
                            {"start": start.isoformat(), "end": (start + dt.timedelta(hours=13)).isoformat()}
                        )
                extra = rng.choice(["主持", "朗诵", "摄影", "曲艺", None])
                data["volunteers"].append(
                    {
                        "volunteer_id": vid,
                        "palace_id": pid,
                        "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                        "phone": f"139{rng.randrange(10**8):08d}",
                        "skills": [skill] + ([extra] if extra else []),
                        "district": rng.choice(DISTRICTS[pid]),
                        "troupe_ids": [troupe_id],
                        "availability": windows,
                    }
                )
            repertoire = sorted(
                {f"{pid}-{key}" for key, _, _, _, needs, _ in PROGRAMS if all(s in skills for s, _ in needs)}
            )
            data["troupes"].append(
                {
                    "troupe_id": troupe_id,
                    "palace_id": pid,
                    "name": f"{palace['name'][:-5]}{troupe_name}",
                    "district": palace["district"],
                    "members": members,
                    "repertoire": repertoire,
                }
            )
        for i, (key, name) in enumerate(ENTERPRISES[pid]):
            data["enterprises"].append(
                {
                    "enterprise_id": f"{pid}-{key}",
                    "palace_id": pid,
                    "name": name,
                    "district": DISTRICTS[pid][i % len(DISTRICTS[pid])],
                    "address": f"{DISTRICTS[pid][i % 4]}{name[:-2]}",
                    "contact_name": SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 3) % len(GIVEN)],
                    "contact_phone": f"1390{sorted(ENTERPRISES).index(pid)}{i:06d}",
                }
            )
    return data


DEMO_PASSWORD = DEFAULTS["DEMO_PASSWORD"]


def accounts(data: dict, password: str) -> list[dict]:
    """Demo sign-ins: an admin, a dispatcher per palace, each enterprise union, each volunteer."""
    users = [{"username": "admin", "password": password, "role": "admin", "display_name": "平台管理员"}]
    for palace in data["palaces"]:
        users.append(
            {
                "username": f"dispatcher-{palace['palace_id']}",
                "password": password,
                "role": "dispatcher",
                "palace_id": palace["palace_id"],
                "display_name": f"{palace['name']}调度员",
            }
        )
    for ent in data["enterprises"]:
        users.append(
            {
                "username": ent["enterprise_id"],
                "password": password,
                "role": "enterprise",
                "palace_id": ent["palace_id"],
                "enterprise_id": ent["enterprise_id"],
                "display_name": ent["name"],
            }
        )
    for vol in data["volunteers"]:
        users.append(
            {
                "username": vol["volunteer_id"],
                "password": password,
                "role": "volunteer",
                "palace_id": vol["palace_id"],
                "volunteer_id": vol["volunteer_id"],
                "display_name": vol["name"],
            }
        )
    return users


def create_users(rpc, users: list[dict]) -> int:
    from common.errors import Conflict

    created = 0
    for user in users:
        try:
            rpc.accounts.create_user(user)
            created += 1
        except Conflict:
            pass  # loaded before
    return created


def load(env: dict | None = None) -> dict:
    env = env or dict(os.environ)
    config = {"AMQP_URI": env.get("AMQP_URI", DEFAULTS["AMQP_URI"])}
    data = build()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        for palace in data["palaces"]:
            rpc.dispatch.upsert_palace(palace)
        for program in data["programs"]:
            rpc.dispatch.upsert_program(program)
        for volunteer in data["volunteers"]:
            rpc.dispatch.upsert_volunteer(volunteer)
        for troupe in data["troupes"]:
            rpc.dispatch.upsert_troupe(troupe)
        if not rpc.dispatch.list_alliances(ALLIANCE["palace_ids"][0]):
            rpc.dispatch.create_alliance(ALLIANCE)
        for troupe_id in SHARED_TROUPES:
            rpc.dispatch.share_troupe(troupe_id, {"shared": True})
        for enterprise in data["enterprises"]:
            rpc.orders.register_enterprise(enterprise)
        users = accounts(data, env.get("DEMO_PASSWORD") or DEMO_PASSWORD)
        create_users(rpc, users)
    return {**{k: len(v) for k, v in data.items()}, "accounts": len(users)}


if __name__ == "__main__":
    print(load())

"""Why the planner chose whom it chose: each one's score by criterion, the runners-up and what
they lost on, and how many candidates each hard rule kept out. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from common.messages import N_

if TYPE_CHECKING:
    from services.dispatch.instance import Instance
    from services.dispatch.planner import Order

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
    "unavailable": N_("不在本人可服务时间内"),
    "busy": N_("该时段已有安排"),
    "rest": N_("与前后安排的间隔不足"),
    "week_limit": N_("本周服务次数已满"),
    "month_limit": N_("本月服务时长已满"),
    "too_far": N_("路程超出上限"),
    "taken": N_("已被安排担任其他角色"),
}


def excluded(inst: Instance, c: np.ndarray, order: Order, start: int, end: int, far_ok: np.ndarray, ok) -> dict:
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


def explain(inst: Instance, order: Order, needs, static, masks, scores, troupe, crew, ranked, start, end) -> dict:
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
        others = [i for i in ranked.get(skill, []) if i not in chosen][:RUNNERS_UP]
        runners = _runners_up(inst, others, weakest, parts, facts)
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
                        **excluded(inst, c, order, start, end, None, masks[skill]),
                        "too_far": static[skill][1],
                    }.items()
                    if n
                },
            }
        )
    return out


def _runners_up(inst: Instance, others: list[int], weakest: dict, parts, facts) -> list[dict]:
    """The best of those not chosen, each with the criterion they lost on against the weakest
    of those chosen (or "tie"), and by how much in all."""
    runners = []
    for i in others:
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
    return runners

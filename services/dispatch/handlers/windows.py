"""Which dates can be staffed (read only): for a program of the palace and the union's district,
the windows of the next weeks in which the palace could staff an order now, by the planner's
own scoring on the time and loads the database holds. Nothing is held or written."""

from __future__ import annotations

import datetime as dt

from common.errors import N_, Invalid
from services.dispatch import planner, repository, windows
from services.dispatch.handlers import candidates

LEAD_HOURS = 48  # the orders service's default lead time, for a palace that sets none
HORIZON_DAYS = 365
MAX_WEEKS = 6


def staffable_windows(uow, palace_id: str, program_id: str, district: str, weeks: int, at: dt.datetime) -> list[dict]:
    """A few good windows (at most one a day) in the next ``weeks`` weeks, earliest first."""
    home = candidates.palace(uow, palace_id)
    program = repository.program(uow, program_id)  # NotFound when there is none
    if program.get("palace_id") != palace_id:
        raise Invalid("提交的内容有误，请检查标出的字段。", fields={"program_id": [N_("这个节目不属于所选文化宫。")]})
    weeks = max(1, min(int(weeks or 3), MAX_WEEKS))
    lead = home.get("min_lead_hours")
    lo = at + dt.timedelta(hours=LEAD_HOURS if lead is None else float(lead))
    hi = min(at + dt.timedelta(days=7 * weeks), at + dt.timedelta(days=home.get("horizon_days") or HORIZON_DAYS))
    if hi <= lo:
        return []
    skills = {n["skill"] for n in program["needs"]}
    inst = candidates.instance(uow, home, skills, {program_id}, lo, hi)
    troupes = [t for t in inst.troupe_ids if program_id in (inst.troupe_docs[t].get("repertoire") or [])]
    order = {"order_id": "suggestion", "district": district, "windows": [{"start": lo, "end": hi}]}
    porder = planner.make_order(inst, order, program, troupes, 0.0)
    found = windows.staffable(inst, porder, windows.candidates(inst, porder.minutes, *porder.windows[0]))
    return windows.as_times(inst, found)

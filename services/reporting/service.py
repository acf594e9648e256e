"""reporting: consumes every event into its own archive and read models (projections) and
answers the statistics palaces report upward. It writes to no other service's data."""

from __future__ import annotations

import datetime as dt
import logging

from nameko.timer import timer

from common.consuming import consumes
from common.errors import Invalid
from common.rpc import rpc
from common.store import MongoStore
from contracts.events import EVENTS
from services.reporting import domain, handlers, repository

log = logging.getLogger(__name__)
SWEEP_SECONDS = 30


def _month(value: str | None, default: str, field: str) -> str:
    if value is None:
        return default
    try:
        dt.datetime.strptime(value, "%Y-%m")
    except (TypeError, ValueError):
        raise Invalid("查询参数有误。", fields={field: ["月份格式应为 YYYY-MM，例如 2026-12。"]}) from None
    return value


def period(start: str | None, end: str | None) -> tuple[str, str]:
    this = domain.month_of(dt.datetime.now(dt.UTC))
    end = _month(end, this, "end")
    first = domain.months_between("2000-01", end)[-12]
    start = _month(start, first, "start")
    if start > end:
        raise Invalid("查询参数有误。", fields={"end": ["结束月份应不早于开始月份。"]})
    if len(domain.months_between(start, end)) > 120:
        raise Invalid("查询参数有误。", fields={"start": ["一次最多查看 120 个月。"]})
    return start, end


def _consumer(source: str, event_type: str):
    def handle(self, data, uow):
        payload = EVENTS[(source, event_type)].schema().dump(data)  # JSON-ready, as it travelled
        handlers.take_in(source, event_type, payload, data, uow)

    handle.__name__ = f"on_{source}_{event_type}"
    return consumes(source, event_type)(handle)


class ReportingService:
    name = "reporting"

    store = MongoStore("reporting", indexes=repository.ensure_indexes, relay=False)

    # one consumer per event of the contracts: everything that happens is archived and counted
    for _source, _type in EVENTS:
        locals()[f"on_{_source}_{_type}"] = _consumer(_source, _type)
    del _source, _type

    @timer(interval=SWEEP_SECONDS)
    def sweep(self):
        """Project what was archived during a rebuild's last moments (each event claimed once)."""
        if repository.rebuild_lock(self.store.db) is None:
            n = handlers.drain(self.store, older_than=10)
            if n:
                log.info("projected %d archived events", n)

    # ------------------------------------------------------------ answers

    @rpc
    def dashboard(self, palace: str, start: str | None = None, end: str | None = None) -> dict:
        start, end = period(start, end)
        db = self.store.db
        whole = repository.facts(db, palace, "all", start, end)
        totals = domain.summed(whole)
        months = []
        by_month = {r["month"]: r for r in whole}
        for month in domain.months_between(start, end):
            months.append(
                {"month": month, **domain.figures(domain.summed([by_month[month]] if month in by_month else []))}
            )
        out = {"palace_id": palace, "start": start, "end": end, "totals": domain.figures(totals), "months": months}
        for dim in ("district", "program", "troupe", "enterprise", "wanted"):
            out[f"by_{dim}"] = domain.breakdown(repository.facts(db, palace, dim, start, end), totals["placed"])
        return out

    @rpc
    def volunteers(self, palace: str, start: str | None = None, end: str | None = None, limit: int = 50) -> dict:
        start, end = period(start, end)
        rows = repository.volunteer_months(self.store.db, palace, start, end)
        return {"palace_id": palace, "start": start, "end": end, "items": domain.leaderboard(rows, limit)}

    @rpc
    def coverage(self, palace: str, months: int = 3) -> dict:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=30 * months)
        out = {"palace_id": palace, "months": months, "since": cutoff.isoformat()}
        for kind in ("enterprise", "district"):
            out[kind] = [
                {"key": r["key"], "last_served": r["last_served"].isoformat(), "deliveries": r.get("deliveries", 0)}
                for r in repository.not_reached_since(self.store.db, palace, kind, cutoff)
            ]
        return out

    @rpc
    def comments(self, palace: str, limit: int = 50) -> list[dict]:
        return [
            {
                **{k: v for k, v in c.items() if k not in ("_id", "at")},
                "response_id": c["_id"],
                "at": c["at"].isoformat(),
            }
            for c in repository.comments(self.store.db, palace, min(max(limit, 1), 500))
        ]

    @rpc
    def volunteer_record(self, volunteer_id: str) -> dict:
        rows = repository.volunteer_history(self.store.db, volunteer_id)
        months = [
            {"month": r["month"], "hours": round(r.get("hours", 0), 1), "deliveries": int(r.get("deliveries", 0))}
            for r in rows
            if r.get("hours") or r.get("deliveries")
        ]
        return {
            "volunteer_id": volunteer_id,
            "months": months,
            "hours": round(sum(m["hours"] for m in months), 1),
            "deliveries": sum(m["deliveries"] for m in months),
        }

    @rpc
    def rebuild(self, by: str) -> dict:
        return handlers.rebuild(self.store, by)

    @rpc
    def archive_size(self) -> int:
        return repository.count_archived(self.store.db)

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"

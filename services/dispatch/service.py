"""dispatch: palaces, the program catalog, troupes, volunteers and their availability; offers,
bookings and the plan of every accepted order."""

from __future__ import annotations

import datetime as dt
import logging
import time

from nameko.timer import timer
from pymongo.errors import DuplicateKeyError

from common import erasure as erasing
from common.clock import CN
from common.config import setting
from common.consuming import by_shard, consumes
from common.errors import Conflict, load
from common.observability import Metrics
from common.retry import retrying
from common.rpc import rpc
from common.store import MongoStore
from contracts import payloads
from contracts.base import now, schema_of
from services.dispatch import domain, handlers, repository

log = logging.getLogger(__name__)

_offer_out = payloads.OfferOut()
_plan_out = payloads.PlanOut()

# a booking refused by the unique key means another process took that volunteer meanwhile:
# the use case runs again and sees the booking
BOOKING_RETRIES = 5


class DispatchService:
    name = "dispatch"
    metrics = Metrics()

    store = MongoStore("dispatch", indexes=repository.ensure_indexes)

    def _offer_hours(self) -> float:
        return setting(self.store.config, "OFFER_HOURS")

    def _moment(self, at):
        """The clock the day's rules go by (check-in opens, completion once started): the real one,
        unless DAY_CLOCK=recorded lets a call's recorded time stand for it, so that demos, load
        and fault runs can play a delivery's day straight after scheduling. Production: real."""
        if at is not None and setting(self.store.config, "DAY_CLOCK") == "recorded":
            return at
        return now()

    def _reads(self) -> repository.Reads:
        """Reads of one record outside a transaction."""
        return repository.Reads(self.store.db)

    def _run(self, fn):
        """``fn`` in a transaction, run again (at once) while another writer takes the same
        booking first: the next run sees that booking and plans around it."""
        try:
            return retrying(DuplicateKeyError, attempts=BOOKING_RETRIES)(self.store.transaction, fn)
        except DuplicateKeyError:
            raise Conflict("同一时间有其他调度在处理，请稍后重试。", "BUSY") from None

    # ---------------------------------------------------------- catalog and people

    def _upsert(self, write, schema, payload: dict) -> dict:
        data = load(schema, payload)
        write(self.store.db, data)
        return schema().dump(data)

    @rpc
    def upsert_palace(self, payload: dict) -> dict:
        return self._upsert(repository.upsert_palace, payloads.Palace, payload)

    @rpc
    def list_palaces(self) -> list[dict]:
        return payloads.Palace(many=True).dump(repository.list_palaces(self.store.db))

    @rpc
    def upsert_program(self, payload: dict) -> dict:
        return self._upsert(repository.upsert_program, payloads.Program, payload)

    @rpc
    def get_program(self, program_id: str) -> dict:
        return schema_of(payloads.Program).dump(repository.program(self._reads(), program_id))

    @rpc
    def list_programs(self, palace_id: str | None = None) -> list[dict]:
        return payloads.Program(many=True).dump(repository.list_programs(self.store.db, palace_id))

    @rpc
    def upsert_troupe(self, payload: dict) -> dict:
        """A troupe's record; ``shared`` left out keeps its sharing, given it changes it like
        ``share_troupe`` does (checked against the alliance, with its event)."""
        data = load(payloads.Troupe, payload)
        wanted = data.get("shared")
        if wanted and repository.alliance_of(self._reads(), data["palace_id"]) is None:
            raise Conflict("本文化宫还没有加入文化宫联盟，不能共享队伍。", "NO_ALLIANCE")
        existing = repository.find_troupe(self._reads(), data["troupe_id"])
        data["shared"] = bool((existing or {}).get("shared"))
        repository.upsert_troupe(self.store.db, data)
        if wanted is not None and wanted != data["shared"]:
            data = self.store.transaction(lambda uow: handlers.share_troupe(data["troupe_id"], wanted, uow))
        return schema_of(payloads.Troupe).dump(data)

    @rpc
    def get_troupe(self, troupe_id: str) -> dict:
        return schema_of(payloads.Troupe).dump(repository.troupe(self._reads(), troupe_id))

    @rpc
    def list_troupes(self, palace_id: str | None = None) -> list[dict]:
        return payloads.Troupe(many=True).dump(repository.list_troupes(self.store.db, palace_id))

    @rpc
    def upsert_volunteer(self, payload: dict) -> dict:
        return self._upsert(repository.upsert_volunteer, payloads.Volunteer, payload)

    @rpc
    def get_volunteer(self, volunteer_id: str) -> dict:
        return schema_of(payloads.Volunteer).dump(repository.volunteer(self._reads(), volunteer_id))

    @rpc
    def list_volunteers(self, palace_id: str | None = None) -> list[dict]:
        return payloads.Volunteer(many=True).dump(repository.list_volunteers(self.store.db, palace_id))

    @rpc
    def lending(self, volunteer_id: str) -> dict:
        """Whether the volunteer consents to be lent to alliance palaces (no until they say yes)."""
        repository.volunteer(self._reads(), volunteer_id)
        found = repository.lending(self._reads(), [volunteer_id]).get(volunteer_id) or {}
        return schema_of(payloads.LendingOut).dump(
            {"volunteer_id": volunteer_id, **found, "allowed": bool(found.get("allowed"))}
        )

    @rpc
    def set_lending(self, volunteer_id: str, payload: dict) -> dict:
        data = load(payloads.SetLending, payload)
        repository.volunteer(self._reads(), volunteer_id)
        doc = repository.set_lending(self.store.db, volunteer_id, data["allowed"], now())
        return schema_of(payloads.LendingOut).dump(
            {"volunteer_id": volunteer_id, "allowed": doc["allowed"], "at": doc["at"]}
        )

    @rpc
    def set_availability(self, volunteer_id: str, payload: dict) -> dict:
        data = load(payloads.SetAvailability, payload)
        volunteer = repository.volunteer(self._reads(), volunteer_id)
        volunteer["availability"] = sorted(data["availability"], key=lambda w: w["start"])
        repository.upsert_volunteer(self.store.db, volunteer)
        return schema_of(payloads.Volunteer).dump(volunteer)

    # ---------------------------------------------------------- lists in and out of spreadsheets

    @rpc
    def preview_import(
        self, kind: str, palace_id: str, rows: list[dict], current: list | None = None, taken: list | None = None
    ) -> dict:
        """What importing ``rows`` (``{"row", "cells"}``, as the gateway read them from a file)
        would do to the palace's records, row by row, kept under the answer's ``preview_id``.
        ``current``/``taken``: for enterprise unions (orders' records), the palace's and the ids
        other palaces hold."""
        return handlers.preview_import(kind, palace_id, rows, self.store.db, current, taken)

    @rpc
    def confirm_import(
        self,
        preview_id: str,
        by: dict,
        palace_id: str,
        kind: str,
        current: list | None = None,
        taken: list | None = None,
    ) -> dict:
        """Writes a preview in one statement, or a Conflict when the records changed since; for
        enterprise unions, answers the records to write under ``writes``."""
        return handlers.confirm_import(preview_id, by, self.store, palace_id, kind, current, taken)

    @rpc
    def export_rows(self, kind: str, palace_id: str, current: list | None = None) -> list[dict]:
        """The palace's records of a kind as rows of cells, in the columns an import reads."""
        return handlers.export_rows(kind, palace_id, self.store.db, current)

    # ---------------------------------------------------------- plans and offers

    @rpc
    def get_plan(self, order_id: str) -> dict:
        db, reads = self.store.db, self._reads()
        plan = repository.plan(reads, order_id)
        offers = repository.offers_of_order(reads, order_id)
        accepted = [o for o in offers if o["status"] == "accepted"]
        people = {
            v["volunteer_id"]: v
            for v in (repository.find_volunteer(reads, vid) for vid in {o["volunteer_id"] for o in offers})
            if v
        }
        names = {vid: v["name"] for vid, v in people.items()}
        return _plan_out.dump(
            {
                **plan,
                "offers": offers,
                "crew": [
                    {"volunteer_id": o["volunteer_id"], "name": names.get(o["volunteer_id"]), "skill": o["skill"]}
                    for o in accepted
                ]
                if plan["status"] in ("scheduled", "delivered")
                else [],
                "attendance": self._attendance(plan),
                "hours": plan.get("hours") or [],
                "grants": plan.get("grants") or [],
                "no_shows": repository.no_shows(db, order_id=order_id),
                # whom the dispatcher calls on the day (the gateway keeps them from everyone else)
                "phones": {vid: v["phone"] for vid, v in people.items() if v.get("phone")},
            }
        )

    def _attendance(self, plan: dict) -> list[dict]:
        """Who checked in and out, each with the hours it counts and why (as stored at completion;
        before it, what the palace's rules would count now)."""
        attendance = plan.get("attendance") or {}
        if plan.get("status") == "delivered" and plan.get("hours"):
            stored = {r["volunteer_id"]: r for r in plan["hours"]}
        elif plan.get("start") and attendance:
            rules = (repository.find_palace(self._reads(), plan["palace_id"]) or {}).get("rules") or {}
            # while someone is still there (not checked out), there is nothing to say yet
            stored = {v: domain.hours_row(v, a, plan, rules) for v, a in attendance.items() if a.get("checked_out_at")}
        else:
            stored = {}
        keys = ("hours", "hours_reason", "hours_reason_text", "min_attendance_share")
        return [
            {"volunteer_id": k, **v, **{x: (stored.get(k) or {}).get(x) for x in keys}} for k, v in attendance.items()
        ]

    @rpc
    def replan(self, palace_id: str, payload: dict) -> dict:
        """Re-plan every open order of a period together (a dispatcher's button, or the nightly run).
        Accepted offers stay unless ``include_accepted``; each order is then applied in its own
        transaction, and an order whose people were taken meanwhile is planned again on its own."""
        data = load(payloads.Replan, payload)
        repository.palace(self._reads(), palace_id)
        started = time.perf_counter()
        summary, work = self.store.transaction(
            lambda uow: handlers.batch_plan(
                palace_id,
                data["start"],
                data["end"],
                data["include_accepted"],
                uow,
                setting(self.store.config, "BATCH_SEARCH_SECONDS"),
            )
        )
        made = 0
        for order_id in summary.get("on_loan", []):
            made += self._run(lambda uow, o=order_id: handlers.replan_one(o, uow, self._offer_hours()))
        for order_id, result, withdraw, inst in work:
            try:
                made += self.store.transaction(
                    lambda uow, a=(order_id, result, withdraw, inst): handlers.apply_batch_choice(*a, uow)
                )
            except DuplicateKeyError:
                made += self._run(lambda uow, o=order_id: handlers.replan_one(o, uow, self._offer_hours()))
        return schema_of(payloads.ReplanOut).dump(
            {
                "palace_id": palace_id,
                "start": data["start"],
                "end": data["end"],
                "orders": summary.get("orders", 0),
                "planned": summary.get("planned", 0),
                "unfulfillable": summary.get("unfulfillable", 0),
                "kept_accepted": summary.get("kept_accepted", 0),
                "offers_made": made,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )

    @rpc
    def staffable_windows(self, palace_id: str, program_id: str, district: str, weeks: int = 3) -> list[dict]:
        """A few windows of the next ``weeks`` weeks in which the palace could staff the program
        now, for the order form (read only: nothing is held)."""
        found = handlers.staffable_windows(self._reads(), palace_id, program_id, district, weeks, now())
        return payloads.StaffableWindow(many=True).dump(found)

    @timer(interval=600)
    def nightly_replan(self):
        """At 02:00 China time, each palace that wants it re-plans the next two weeks, once."""
        local = dt.datetime.now(CN)
        if local.hour != 2:
            return
        for palace in repository.list_palaces(self.store.db):
            if palace.get("nightly_replan", True) is False:
                continue
            if not repository.claim_nightly(self.store.db, palace["palace_id"], local.date().isoformat()):
                continue
            start = now()
            try:
                self.replan(
                    palace["palace_id"],
                    {"start": start.isoformat(), "end": (start + dt.timedelta(days=14)).isoformat()},
                )
            except Exception:  # noqa: BLE001 - one palace's trouble must not stop the others
                log.exception("nightly re-plan of %s failed", palace["palace_id"])

    @rpc
    def assign(self, order_id: str, payload: dict, by: str = "dispatcher") -> dict:
        data = load(payloads.Assign, payload)
        return _offer_out.dump(
            self._run(
                lambda uow: handlers.assign(
                    order_id, data["volunteer_id"], data["skill"], data["replaces_offer_id"], by, uow
                )
            )
        )

    @rpc
    def propose_swap(self, offer_id: str, payload: dict) -> dict:
        data = load(payloads.ProposeSwap, payload)
        return _offer_out.dump(
            self._run(lambda uow: handlers.propose_swap(offer_id, data["volunteer_id"], data["to_volunteer_id"], uow))
        )

    @rpc
    def report_no_show(self, order_id: str, payload: dict, by: str = "dispatcher") -> dict:
        data = load(payloads.ReportNoShow, payload)
        return schema_of(payloads.NoShowOut).dump(
            self._run(lambda uow: handlers.report_no_show(order_id, data["volunteer_id"], data["reason"], by, uow))
        )

    @rpc
    def clear_no_show(self, no_show_id: str, payload: dict) -> dict:
        data = load(payloads.ClearNoShow, payload)
        return schema_of(payloads.NoShowOut).dump(
            self._run(lambda uow: handlers.clear_no_show(no_show_id, data["reason"], uow))
        )

    @rpc
    def get_no_show(self, no_show_id: str) -> dict:
        return schema_of(payloads.NoShowOut).dump(repository.no_show(self._reads(), no_show_id))

    @rpc
    def list_no_shows(self, palace_id: str | None = None, volunteer_id: str | None = None) -> list[dict]:
        records = repository.no_shows(self.store.db, palace_id=palace_id, volunteer_id=volunteer_id)
        return payloads.NoShowOut(many=True).dump(records)

    @rpc
    def grant_hours(self, order_id: str, payload: dict, by: str = "dispatcher") -> dict:
        data = load(payloads.GrantHours, payload)
        grant = self._run(
            lambda uow: handlers.grant_hours(order_id, data["volunteer_id"], data["hours"], data["reason"], by, uow)
        )
        return schema_of(payloads.GrantOut).dump(grant)

    @rpc
    def deliveries(self, palace_id: str, payload: dict) -> list[dict]:
        """The palace's calendar: scheduled and delivered services in a period."""
        data = load(payloads.Period, payload)
        return payloads.DeliveryOut(many=True).dump(
            repository.deliveries(self.store.db, palace_id, data["start"], data["end"])
        )

    @rpc
    def volunteer_hours(self, volunteer_id: str) -> dict:
        """A volunteer's service hours by delivery (counted and granted kept apart), with totals."""
        repository.volunteer(self._reads(), volunteer_id)
        plans = repository.hours_of_volunteer(self.store.db, volunteer_id)
        return schema_of(payloads.VolunteerHours).dump(
            domain.hours_summary(volunteer_id, plans, dt.datetime.now(dt.UTC))
        )

    @rpc
    def list_offers(self, volunteer_id: str, status: str | None = None) -> list[dict]:
        offers = repository.offers_of_volunteer(self.store.db, volunteer_id, status)
        for o in offers:
            if o["status"] == "accepted":  # the schedule says when check-in opens
                o["check_in_opens_at"] = domain.check_in_opens_at(o["start"])
        return _offer_out.dump(offers, many=True)

    @rpc
    def list_pending_offers(self, palace_id: str) -> list[dict]:
        return _offer_out.dump(repository.pending_offers(self.store.db, palace_id), many=True)

    @rpc
    def accept_offer(self, offer_id: str, payload: dict) -> dict:
        data = load(payloads.AnswerOffer, payload)
        return _offer_out.dump(self._run(lambda uow: handlers.accept_offer(offer_id, data["volunteer_id"], uow)))

    @rpc
    def decline_offer(self, offer_id: str, payload: dict) -> dict:
        data = load(payloads.AnswerOffer, payload)
        return _offer_out.dump(
            self._run(lambda uow: handlers.decline_offer(offer_id, data["volunteer_id"], data["reason"], uow))
        )

    @rpc
    def expire_offers(self) -> int:
        expired = 0
        for offer_id in repository.overdue_offer_ids(self.store.db, now()):
            try:
                if self._run(lambda uow, o=offer_id: handlers.expire_offer(o, uow)):
                    expired += 1
            except Conflict:
                pass  # answered meanwhile
        return expired

    @timer(interval=5)
    def expire_due_offers(self):
        self.expire_offers()

    # ---------------------------------------------------------- the alliance of palaces (队伍联用)

    @rpc
    def create_alliance(self, payload: dict) -> dict:
        data = load(payloads.NewAlliance, payload)
        return schema_of(payloads.AllianceOut).dump(
            self.store.transaction(lambda uow: handlers.create_alliance(data["name"], data["palace_ids"], uow))
        )

    @rpc
    def list_alliances(self, palace_id: str | None = None) -> list[dict]:
        """Every alliance, or the one a palace belongs to."""
        if palace_id is None:
            return payloads.AllianceOut(many=True).dump(repository.alliances(self.store.db))
        alliance = repository.alliance_of(self._reads(), palace_id)
        return payloads.AllianceOut(many=True).dump([alliance] if alliance else [])

    @rpc
    def share_troupe(self, troupe_id: str, payload: dict) -> dict:
        data = load(payloads.ShareTroupe, payload)
        troupe = self.store.transaction(lambda uow: handlers.share_troupe(troupe_id, data["shared"], uow))
        return schema_of(payloads.Troupe).dump(troupe)

    @rpc
    def shared_troupes(self, palace_id: str | None = None, alliance_id: str | None = None) -> list[dict]:
        return payloads.SharedTroupeOut(many=True).dump(handlers.shared_troupes(palace_id, alliance_id, self._reads()))

    @rpc
    def request_loan(self, palace_id: str, payload: dict, by: str = "dispatcher") -> dict:
        """A dispatcher asks to borrow an allied troupe for an order of their palace."""
        data = load(payloads.RequestLoan, payload)
        return schema_of(payloads.LoanOut).dump(
            self.store.transaction(
                lambda uow: handlers.request_loan(data["order_id"], data["troupe_id"], data["note"], palace_id, by, uow)
            )
        )

    @rpc
    def get_loan(self, loan_id: str) -> dict:
        return schema_of(payloads.LoanOut).dump(repository.loan(self._reads(), loan_id))

    @rpc
    def approve_loan(self, loan_id: str, owner_palace_id: str | None = None, by: str = "dispatcher") -> dict:
        return schema_of(payloads.LoanOut).dump(
            self._run(
                lambda uow: handlers.decide_loan(
                    loan_id, "approved", None, owner_palace_id, by, uow, self._offer_hours()
                )
            )
        )

    @rpc
    def refuse_loan(
        self, loan_id: str, payload: dict, owner_palace_id: str | None = None, by: str = "dispatcher"
    ) -> dict:
        data = load(payloads.RefuseLoan, payload)
        return schema_of(payloads.LoanOut).dump(
            self.store.transaction(
                lambda uow: handlers.decide_loan(loan_id, "refused", data["reason"], owner_palace_id, by, uow)
            )
        )

    @rpc
    def list_loans(self, palace_id: str) -> dict:
        """A palace's loans: asked of its troupes (incoming) and asked by it (outgoing)."""
        db = self.store.db
        return schema_of(payloads.LoansOut).dump(
            {
                "incoming": repository.loans_of_palace(db, "owner_palace_id", palace_id),
                "outgoing": repository.loans_of_palace(db, "palace_id", palace_id),
            }
        )

    @rpc
    def expire_loans(self) -> int:
        overdue = repository.overdue_loan_ids(self.store.db, now())
        for loan_id in overdue:
            self.store.transaction(lambda uow, x=loan_id: handlers.expire_loan(x, uow))
        return len(overdue)

    @timer(interval=60)
    def expire_due_loans(self):
        self.expire_loans()

    # ---------------------------------------------------------- the day itself

    @rpc
    def check_in(self, order_id: str, payload: dict, staff: bool = True) -> dict:
        data = load(payloads.CheckInOut, payload)
        return schema_of(payloads.Attendance).dump(
            self._run(
                lambda uow: handlers.check_in(
                    order_id, data["volunteer_id"], data["at"], uow, data["code"], staff, self._moment(data["at"])
                )
            )
        )

    @rpc
    def check_out(self, order_id: str, payload: dict) -> dict:
        data = load(payloads.CheckInOut, payload)
        return schema_of(payloads.Attendance).dump(
            self._run(lambda uow: handlers.check_out(order_id, data["volunteer_id"], data["at"], uow))
        )

    @rpc
    def complete_delivery(self, order_id: str, payload: dict) -> dict:
        data = load(payloads.CompleteDelivery, payload)
        self._run(
            lambda uow: handlers.complete_delivery(
                order_id, data["people_served"], data["at"], uow, data["reason"], self._moment(data["at"])
            )
        )
        return self.get_plan(order_id)

    @rpc
    def personal_data(self, person: dict) -> dict:
        """What this service holds about one person, for the copy of their data they download
        (``person``: username, role, volunteer_id, enterprise_id)."""
        return repository.personal_data(self.store.db, person.get("volunteer_id"))

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"

    # ---------------------------------------------------------- events

    @by_shard("orders", ("order_accepted", "order_amended", "order_cancelled"))
    def on_palace_event(self, event_type: str, payload):
        """A palace's order events, from the shards this process takes: its planning in one process."""
        return getattr(self, f"handle_{event_type}")(payload)

    @consumes("orders", "order_accepted", one_at_a_time="palace_id", entrypoint=False)
    def handle_order_accepted(self, event, uow):
        handlers.on_order_accepted(event, uow, self._offer_hours())

    @consumes("orders", "order_amended", one_at_a_time="palace_id", entrypoint=False)
    def handle_order_amended(self, event, uow):
        handlers.on_order_amended(event, uow, self._offer_hours())

    @consumes("orders", "order_cancelled", one_at_a_time="palace_id", entrypoint=False)
    def handle_order_cancelled(self, event, uow):
        handlers.on_order_cancelled(event, uow)

    # ---------------------------------------------------------- erasure

    @rpc
    def identifiers(self, volunteer_id: str) -> dict:
        """What dispatch holds that says who a volunteer is (name, phone, card number), for the
        erasure of their account to look for everywhere."""
        return handlers.identifiers(self.store.db, volunteer_id)

    handle_person_erased, finish_erasures = erasing.entrypoints(handlers.on_person_erased, one_at_a_time="palace_id")

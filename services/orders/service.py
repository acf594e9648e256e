"""orders: order intake and the order's status, over RPC and events."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from common import erasure as erasing
from common.consuming import consumes
from common.errors import Conflict, load
from common.observability import Metrics
from common.retry import retrying
from common.rpc import rpc
from common.store import MongoStore
from contracts import payloads
from contracts.base import schema_of
from services.orders import handlers, repository

_out = payloads.OrderOut()


class OrdersService:
    name = "orders"
    metrics = Metrics()

    store = MongoStore("orders", indexes=repository.ensure_indexes)
    handle_person_erased, finish_erasures = erasing.entrypoints()

    @rpc
    def place_order(
        self,
        payload: dict,
        program_title: str | None = None,
        rules: dict | None = None,
        placed_by: dict | None = None,
    ) -> dict:
        """Place an order for an enterprise union; emits order_placed. `rules`: the palace's time
        rules (min_lead_hours, horizon_days; urgent skips the lead time), the defaults without;
        `placed_by`: who placed it ({"username", "role"}), recorded on the order with `urgent`."""
        data = load(payloads.PlaceOrder, payload)
        rules = load(payloads.TimeRules, rules or {})
        by = load(payloads.PlacedBy, placed_by) if placed_by else None
        try:
            order = self.store.transaction(
                lambda uow: handlers.place_order(data, uow, program_title, rules, placed_by=by)
            )
        except DuplicateKeyError:  # the same form sent twice at once: both get the one order
            order = repository.find_by_client_ref(self.store.db, data["enterprise_id"], data["client_ref"])
        return _out.dump(order)

    @rpc
    def place_recurring(
        self,
        payload: dict,
        program_title: str | None = None,
        rules: dict | None = None,
        placed_by: dict | None = None,
    ) -> list[dict]:
        """Place a series of orders (a first window and an RRULE); sending it again adds nothing."""
        data = load(payloads.PlaceRecurringOrder, payload)
        rules = load(payloads.TimeRules, rules or {})
        by = load(payloads.PlacedBy, placed_by) if placed_by else None
        # the same series sent twice at once: the second, run again, sees the first
        orders = retrying(DuplicateKeyError, attempts=3)(
            self.store.transaction, lambda uow: handlers.place_recurring(data, uow, program_title, rules, placed_by=by)
        )
        return _out.dump(orders, many=True)

    @rpc
    def amend_order(
        self,
        order_id: str,
        payload: dict,
        program_title: str | None = None,
        enterprise_id: str | None = None,
        rules: dict | None = None,
    ) -> dict:
        """Amend an order before it is scheduled; emits order_amended. New windows keep the
        palace's time rules, as at placing."""
        changes = load(payloads.AmendOrder, payload)
        rules = load(payloads.TimeRules, rules or {})
        return _out.dump(
            self.store.transaction(
                lambda uow: handlers.amend_order(order_id, changes, uow, program_title, enterprise_id, rules)
            )
        )

    @rpc
    def cancel_order(self, order_id: str, payload: dict | None = None, enterprise_id: str | None = None) -> dict:
        """Cancel an order before delivery; emits order_cancelled."""
        data = load(payloads.CancelOrder, payload or {})
        return _out.dump(
            self.store.transaction(lambda uow: handlers.cancel_order(order_id, data["reason"], uow, enterprise_id))
        )

    @rpc
    def accept_order(
        self, order_id: str, payload: dict | None = None, palace_id: str | None = None, program_title: str | None = None
    ) -> dict:
        """A dispatcher accepts the order; emits order_accepted, which starts dispatch."""
        data = load(payloads.AcceptOrder, payload or {})
        return _out.dump(
            self.store.transaction(lambda uow: handlers.accept_order(order_id, data, uow, palace_id, program_title))
        )

    @rpc
    def reject_order(self, order_id: str, payload: dict, palace_id: str | None = None) -> dict:
        """A dispatcher rejects the order with a reason; emits order_rejected."""
        data = load(payloads.RejectOrder, payload)
        return _out.dump(
            self.store.transaction(lambda uow: handlers.reject_order(order_id, data["reason"], uow, palace_id))
        )

    @rpc
    def confirm_delivery(self, order_id: str, enterprise_id: str | None = None) -> dict:
        """The enterprise union confirms that the delivery took place."""
        return _out.dump(self.store.transaction(lambda uow: handlers.confirm_delivery(order_id, uow, enterprise_id)))

    @rpc
    def get_order(self, order_id: str) -> dict:
        return _out.dump(repository.get(self.store.db, order_id))

    @rpc
    def list_orders(self, query: dict | None = None) -> dict:
        """Orders by enterprise, palace and/or status, newest first, paged."""
        q = load(payloads.ListOrders, query or {})
        items, total = repository.page(self.store.db, q, q["page"], q["per_page"])
        return {"items": _out.dump(items, many=True), "total": total, "page": q["page"], "per_page": q["per_page"]}

    @rpc
    def count_by_status(self, palace_id: str) -> dict:
        """How many of a palace's orders are in each status (the dispatcher's board)."""
        from contracts.events import ORDER_STATUSES

        return repository.count_by_status(self.store.db, palace_id, ORDER_STATUSES)

    @rpc
    def register_enterprise(self, payload: dict) -> dict:
        data = load(payloads.Enterprise, payload)
        repository.upsert_enterprise(self.store.db, data)
        return data

    @rpc
    def get_enterprise(self, enterprise_id: str) -> dict:
        return schema_of(payloads.Enterprise).dump(repository.get_enterprise(self.store.db, enterprise_id))

    @rpc
    def list_enterprises(self, palace_id: str | None = None, limit: int = 1000) -> list[dict]:
        limit = max(1, min(int(limit), 20_000))
        return payloads.Enterprise(many=True).dump(repository.list_enterprises(self.store.db, palace_id, limit))

    @rpc
    def enterprise_palaces(self, enterprise_ids: list[str]) -> dict:
        """The palace of each of these enterprise unions that exists (an import checks ids with it)."""
        return repository.enterprise_palaces(self.store.db, [i for i in enterprise_ids if isinstance(i, str)])

    @rpc
    def upsert_enterprises(self, palace_id: str, enterprises: list[dict]) -> dict:
        """The unions of one palace written at once (a confirmed import); one held by another
        palace is refused and nothing is written."""
        data = load(payloads.Enterprise, enterprises, many=True)
        if any(e["palace_id"] != palace_id for e in data):
            raise Conflict("只能写入本文化宫的企业工会。", "WRONG_PALACE")
        held = repository.enterprise_palaces(self.store.db, [e["enterprise_id"] for e in data])
        if any(p != palace_id for p in held.values()):
            raise Conflict("有企业工会的编号已被其他文化宫使用。", "ID_TAKEN")
        repository.upsert_enterprises(self.store.db, data)
        return {"written": len(data)}

    @rpc
    def personal_data(self, person: dict) -> dict:
        """What this service holds about one person, for the copy of their data they download
        (``person``: username, role, volunteer_id, enterprise_id)."""
        return repository.personal_data(
            self.store.db, person.get("enterprise_id") if person.get("role") == "enterprise" else None
        )

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"

    @consumes("dispatch", "order_scheduled")
    def handle_order_scheduled(self, event, uow):
        handlers.on_order_scheduled(event, uow)

    @consumes("dispatch", "order_unfulfillable")
    def handle_order_unfulfillable(self, event, uow):
        handlers.on_order_unfulfillable(event, uow)

    @consumes("dispatch", "delivery_completed")
    def handle_delivery_completed(self, event, uow):
        handlers.on_delivery_completed(event, uow)

    @consumes("feedback", "survey_closed")
    def handle_survey_closed(self, event, uow):
        handlers.on_survey_closed(event, uow)

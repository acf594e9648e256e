"""Dispatch use cases: plain functions of (input, unit of work) that change state and emit events.

    candidates    the planner's view of the database: candidates, their held time and loads
    planning      planning an order; the offers that hold time and loads, and giving them back
    order_events  what an order accepted, amended or cancelled does to its plan
    answers       a volunteer accepts or declines; expired offers; cover for a no-show
    overrides     a dispatcher's own choice of volunteer; a volunteer's swap with a colleague
    day           check-in and check-out, no-shows, granted hours, the delivery recorded
    batch         re-planning every open order of a period together
    alliance      palaces' alliances, shared troupes and loans (队伍联用)
    importing     a palace's lists imported from spreadsheets (preview, confirm) and exported
    windows       which dates of the next weeks a program could be staffed (read only)
    erasure       a volunteer erased: replaced in the deliveries to come, their record anonymised

What the service calls is named here.
"""

from services.dispatch.handlers.alliance import (
    create_alliance,
    decide_loan,
    expire_loan,
    request_loan,
    share_troupe,
    shared_troupes,
)
from services.dispatch.handlers.answers import accept_offer, decline_offer, expire_offer
from services.dispatch.handlers.batch import apply_batch_choice, batch_plan, replan_one
from services.dispatch.handlers.day import (
    check_in,
    check_out,
    clear_no_show,
    complete_delivery,
    grant_hours,
    report_no_show,
)
from services.dispatch.handlers.erasure import identifiers, on_person_erased
from services.dispatch.handlers.importing import confirm as confirm_import
from services.dispatch.handlers.importing import export as export_rows
from services.dispatch.handlers.importing import preview as preview_import
from services.dispatch.handlers.order_events import on_order_accepted, on_order_amended, on_order_cancelled
from services.dispatch.handlers.overrides import assign, propose_swap
from services.dispatch.handlers.windows import staffable_windows

__all__ = [
    "accept_offer",
    "apply_batch_choice",
    "assign",
    "batch_plan",
    "check_in",
    "check_out",
    "clear_no_show",
    "complete_delivery",
    "confirm_import",
    "create_alliance",
    "decide_loan",
    "decline_offer",
    "expire_loan",
    "expire_offer",
    "export_rows",
    "grant_hours",
    "identifiers",
    "on_order_accepted",
    "on_order_amended",
    "on_order_cancelled",
    "on_person_erased",
    "preview_import",
    "propose_swap",
    "replan_one",
    "report_no_show",
    "request_loan",
    "share_troupe",
    "shared_troupes",
    "staffable_windows",
]

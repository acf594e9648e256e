"""Surveys and their summaries: pure rules, no I/O."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter

from common.errors import Conflict

ASPECTS = ("content", "performers", "organisation")


def new_token() -> str:
    """An unguessable survey token: 24 random bytes (192 bits), URL-safe."""
    return secrets.token_urlsafe(24)


def new_survey(survey_id: str, event: dict, at: dt.datetime, hours: float) -> dict:
    """A survey opened by its delivery (``delivery_completed``), when none was prepared."""
    return {**scheduled_survey(survey_id, event), **opening(event, at, hours)}


def scheduled_survey(survey_id: str, event: dict) -> dict:
    """The survey of a scheduled order (``order_scheduled``): its token exists, so the QR code can
    be printed on the poster, but it takes no answers until the delivery is recorded."""
    return {
        "survey_id": survey_id,
        "order_id": event["order_id"],
        "palace_id": event["palace_id"],
        "program_title": event.get("program_title"),
        "token": new_token(),
        "status": "scheduled",
        "starts_at": event.get("start"),
        "ends_at": event.get("end"),
        "opened_at": None,
        "closes_at": None,
        "closed_at": None,
        "count": 0,
        "sum_overall": 0,
        "aspect_sums": {a: 0 for a in ASPECTS},
        "aspect_counts": {a: 0 for a in ASPECTS},
        "wanted": {},
    }


def opening(event: dict, at: dt.datetime, hours: float) -> dict:
    """What changes when the delivery is recorded: the survey opens for ``hours``."""
    changes = {
        "status": "open",
        "opened_at": at,
        "closes_at": event["completed_at"] + dt.timedelta(hours=hours),
        "starts_at": event.get("start"),
        "ends_at": event.get("end"),
    }
    if event.get("program_title"):
        changes["program_title"] = event["program_title"]
    return changes


def public_status(survey: dict, at: dt.datetime) -> str:
    """What the audience is told: not open yet, open, or over (a closing survey takes no more)."""
    if survey["status"] in ("scheduled", "cancelled"):
        return survey["status"]
    return "open" if is_open(survey, at) else "closed"


def is_open(survey: dict, at: dt.datetime) -> bool:
    return survey["status"] == "open" and at < survey["closes_at"]


def check_open(survey: dict, at: dt.datetime) -> None:
    if survey["status"] == "scheduled":
        raise Conflict("这次服务还没有开始，服务结束后才能评议。", "SURVEY_NOT_OPEN")
    if survey["status"] == "cancelled":
        raise Conflict("这次服务已取消，无需评议。", "SURVEY_CANCELLED")
    if not is_open(survey, at):
        raise Conflict("这份评议已经结束，谢谢您的关注。", "SURVEY_CLOSED")


def normalise_program(name: str) -> str:
    return " ".join(name.split()).lower()


def increments(response: dict) -> dict:
    """The $inc that folds one response into the survey's running totals."""
    inc = {"count": 1, "sum_overall": response["overall"]}
    for aspect in ASPECTS:
        if response.get(aspect) is not None:
            inc[f"aspect_sums.{aspect}"] = response[aspect]
            inc[f"aspect_counts.{aspect}"] = 1
    for program in {_key(normalise_program(p)) for p in response.get("wanted_programs") or []} - {""}:
        inc[f"wanted.{program}"] = 1
    return inc


def _key(program: str) -> str:
    # MongoDB field names may not contain "." or start with "$"
    return program.replace(".", "．").replace("$", "＄").replace("\x00", "")


def summary(survey: dict) -> dict:
    count = survey["count"]
    aspects = {
        a: round(survey["aspect_sums"][a] / survey["aspect_counts"][a], 2) if survey["aspect_counts"][a] else None
        for a in ASPECTS
    }
    wanted = Counter(survey.get("wanted") or {})
    return {
        "responses": count,
        "satisfaction": round(survey["sum_overall"] / count, 2) if count else None,
        "aspects": aspects,
        "wanted_programs": [
            {"program": p, "count": n} for p, n in sorted(wanted.items(), key=lambda x: (-x[1], x[0]))[:10]
        ],
    }


def summarise(responses: list[dict]) -> dict:
    """The summary of a list of responses, computed the same way as the running totals."""
    survey = new_survey(
        "s",
        {"order_id": "o", "palace_id": "p", "completed_at": dt.datetime.now(dt.timezone.utc)},
        dt.datetime.now(dt.timezone.utc),
        1,
    )
    for response in responses:
        for key, value in increments(response).items():
            if "." in key:
                outer, inner = key.split(".", 1)
                survey[outer][inner] = survey[outer].get(inner, 0) + value
            else:
                survey[key] += value
    return summary(survey)

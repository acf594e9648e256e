"""数据保存期限: how long each kind of personal data is kept (common/retention.py's policy), with
what each owning service says of its last sweep and the oldest it still keeps, asked of every
service at once over RPC (no service reads another's database); and the admin's sweep now."""

from __future__ import annotations

import eventlet

from common import retention as policy
from common.errors import N_, Unavailable
from contracts import payloads as p
from services.gateway import auth, i18n
from services.gateway.http import call
from services.gateway.routes import route

PERIODS = {
    "delete": N_("{n} 天后删除"),
    "clear": N_("{n} 天后清除文字，评分和份数保留"),
    "redact": N_("{n} 天后清除个人信息，统计数字不变"),
}
KEPT = N_("长期保存（未设期限）")
SWEEP_TIMEOUT = 120


def period(kind: policy.Kind, days: int | None, lang: str) -> str:
    """How long ``kind`` is kept, in the reader's language."""
    if kind.how == "ttl":
        return i18n.gettext(lang, kind.rule or "")
    if not days:
        return i18n.gettext(lang, KEPT)
    return i18n.gettext(lang, PERIODS[kind.how], n=days)


def table(answers: dict[str, list[dict] | None], lang: str) -> dict:
    """The policy's kinds in its order, each with what its service answered (None: it did not)."""
    said = {(service, row["kind"]): row for service, rows in answers.items() if rows is not None for row in rows}
    kinds = []
    for kind in policy.POLICY:
        answered = answers.get(kind.service) is not None or kind.service not in answers
        row = said.get((kind.service, kind.key), {})
        days = row.get("days", policy.days(None, kind) if kind.setting else None)
        kinds.append(
            {
                "kind": kind.key,
                "service": kind.service,
                "where": i18n.gettext(lang, policy.SERVICE_NAMES[kind.service]),
                "what": i18n.gettext(lang, kind.what),
                "how": kind.how,
                "setting": kind.setting,
                "days": days,
                "period": period(kind, days, lang),
                "swept_at": row.get("swept_at"),
                "removed": row.get("removed"),
                "oldest": row.get("oldest"),
                "available": answered,
            }
        )
    return {"kinds": kinds}


class Retention:
    """The retention entrypoints mixed into the gateway service."""

    def _ask_retention(self, method: str, services: tuple[str, ...], timeout: float) -> dict:
        def ask(name):
            try:
                return call(getattr(getattr(self, name), method), timeout=timeout)
            except Unavailable:
                return None

        pool = eventlet.GreenPool()
        return dict(zip(services, pool.imap(ask, services), strict=True))

    @route(
        "GET /api/retention",
        tag=N_("账号"),
        summary=N_("数据保存期限：每类个人信息保存多久、上次清理和最早的记录"),
        response=p.RetentionOut,
        roles=auth.STAFF,
    )
    def retention(self, request):
        self._who(request)
        # the dispatch service keeps only its import previews, by a TTL index: nothing to ask it
        asked = tuple(s for s in policy.SERVICES if s != "dispatch")
        return table(self._ask_retention("retention", asked, 10), i18n.pick(request))

    @route(
        "POST /api/retention/sweep",
        tag=N_("账号"),
        summary=N_("立即按保存期限清理过期的个人信息"),
        response=p.RetentionOut,
        roles=auth.ADMIN,
    )
    def sweep_retention(self, request):
        self._who(request)
        answers = self._ask_retention("sweep_now", policy.SWEPT_SERVICES, SWEEP_TIMEOUT)
        answers["accounts"] = self._ask_retention("retention", ("accounts",), 10)["accounts"]
        return table(answers, i18n.pick(request))

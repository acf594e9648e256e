"""The screens: server-rendered pages (Jinja2) for enterprise unions, dispatchers, volunteers and
the audience, with a small script each that talks to the JSON API. Everything they need is served
here (no CDN: union intranets often have no internet)."""

from __future__ import annotations

import datetime as dt
import functools
import os
from urllib.parse import quote

import jinja2
from babel.dates import format_datetime
from babel.messages.extract import extract
from werkzeug.utils import redirect, send_from_directory
from werkzeug.wrappers import Response

from common.clock import china, month_day_time
from common.errors import NotFound
from services.gateway import auth, i18n
from services.gateway.http import call
from services.gateway.routes import route

HERE = os.path.dirname(__file__)
STATIC = os.path.join(HERE, "static")

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)

ROLE_HOME = {
    "enterprise": "/app/enterprise",
    "dispatcher": "/app/dispatcher",
    "admin": "/app/dispatcher",
    "volunteer": "/app/volunteer",
}


@functools.cache
def script_messages() -> list[str]:
    """Every message the pages' scripts pass through t("…"), for the catalogue sent with a page."""
    found: set[str] = set()
    for name in sorted(os.listdir(STATIC)):
        if name.endswith(".js"):
            with open(os.path.join(STATIC, name), "rb") as f:  # read as `make i18n` reads them
                found.update(m for _line, m, _comments, _context in extract("javascript", f, keywords={"t": None}) if m)
    return sorted(found)


@functools.cache
def static_version() -> str:
    """Changes whenever a static file does, so browsers never run yesterday's script."""
    stamp = max(os.path.getmtime(os.path.join(STATIC, n)) for n in os.listdir(STATIC))
    return str(int(stamp))


def render(request, template: str, status: int = 200, **context) -> Response:
    lang = i18n.pick(request)

    def gettext(text: str, **values) -> str:
        return i18n.gettext(lang, text, **values)

    page = env.get_template(template).render(
        _=gettext,
        lang=lang,
        html_lang="zh-CN" if lang == "zh-CN" else "en",
        messages=i18n.js_messages(lang, script_messages()),
        version=static_version(),
        path=request.path,
        query=request.query_string.decode("latin-1"),
        **context,
    )
    return Response(
        page,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={
            "Content-Language": lang,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            # the pages load nothing from elsewhere; scripts only from this server
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        },
    )


class Pages:
    """Page entrypoints mixed into the gateway service."""

    @route("GET /", roles=auth.PUBLIC, documented=False)
    def home_page(self, request):
        return redirect("/login")

    @route("GET /login", roles=auth.PUBLIC, documented=False)
    def login_page(self, request):
        return render(request, "login.html", page="login", role_home=ROLE_HOME)

    @route("GET /reset", roles=auth.PUBLIC, documented=False)
    def reset_page(self, request):
        """Where a reset link leads: a new password, once (the token stays in the address)."""
        return render(request, "reset.html", page="reset")

    @route("GET /claim", roles=auth.PUBLIC, documented=False)
    def claim_page(self, request):
        """Where a volunteer's invitation leads: the code (filled in from the link), the phone's
        last four digits, a username and a password; then signed in."""
        return render(request, "claim.html", page="claim")

    @route("GET /register", roles=auth.PUBLIC, documented=False)
    def register_page(self, request):
        palaces = [
            {
                "palace_id": p["palace_id"],
                "name": p["name"],
                "districts": [d["name"] for d in p.get("districts") or []] or [p.get("district")],
            }
            for p in call(self.dispatch.list_palaces)
        ]
        return render(request, "register.html", page="register", palaces=palaces)

    @route("GET /app/enterprise", roles=auth.PUBLIC, documented=False)
    def enterprise_page(self, request):
        return render(request, "enterprise.html", page="enterprise", role="enterprise")

    @route("GET /app/dispatcher", roles=auth.PUBLIC, documented=False)
    def dispatcher_page(self, request):
        return render(request, "dispatcher.html", page="dispatcher", role="dispatcher")

    @route("GET /app/volunteer", roles=auth.PUBLIC, documented=False)
    def volunteer_page(self, request):
        return render(request, "volunteer.html", page="volunteer", role="volunteer")

    @route("GET /app/reports", roles=auth.PUBLIC, documented=False)
    def reports_page(self, request):
        return render(request, "reports.html", page="reports", role="dispatcher")

    @route("GET /lang/<code>", roles=auth.PUBLIC, documented=False)
    def set_language(self, request, code):
        if code not in i18n.LANGS:
            raise NotFound("找不到这个地址。")
        target = request.args.get("next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        response = redirect(quote(target, safe="/?=&%#"))
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax")
        return response

    @route("GET /static/<path:name>", roles=auth.PUBLIC, documented=False)
    def static_file(self, request, name):
        try:
            response = send_from_directory(STATIC, name, request.environ, max_age=3600)
        except Exception:  # noqa: BLE001 - werkzeug's NotFound page would be HTML
            raise NotFound("找不到这个文件。") from None
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @route("GET /s/<token>", roles=auth.PUBLIC, documented=False)
    def survey_form(self, request, token):
        """The audience's form, reached by the QR code: no sign-in, phone-first, about a minute."""
        self.limiter.check_client(request)
        try:
            survey = call(self.feedback.get_public_survey, token)
        except NotFound:
            return render(request, "survey.html", status=404, page="survey", survey=None, token=token)
        return render(
            request,
            "survey.html",
            page="survey",
            survey=survey,
            token=token,
            starts=_starts(survey, i18n.pick(request)),
        )


def _starts(survey: dict, lang: str) -> str | None:
    """When a survey not open yet begins, in China time: “12 月 8 日 14:00”, “Tue 8 Dec 14:00”."""
    if not survey.get("starts_at"):
        return None
    at = china(dt.datetime.fromisoformat(survey["starts_at"]))
    if lang == "en":
        return format_datetime(at, "EEE d MMM HH:mm", tzinfo=at.tzinfo, locale="en")
    return month_day_time(at)

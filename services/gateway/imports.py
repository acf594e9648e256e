"""A palace's lists in and out of spreadsheets: volunteers, troupes, programs, enterprise unions.

The gateway only reads and writes the files (``sheets.py``); the rules are dispatch's: its
``preview_import`` compares the rows with the palace's records and keeps the preview (in its
database, so that any gateway process can confirm it), ``confirm_import`` writes it once the
records still give what was shown. Enterprise unions are the orders service's records: the
gateway hands dispatch the palace's unions to compare with, and writes what a confirm answers
through orders in one call.
"""

from __future__ import annotations

import io
import logging

from werkzeug.formparser import parse_form_data

from common.errors import N_, Invalid, Message, load
from contracts import payloads as p
from services.gateway import auth, i18n, sheets
from services.gateway.http import body, call, query
from services.gateway.reports import file_response
from services.gateway.routes import XLSX, route

log = logging.getLogger(__name__)

FORM_OVERHEAD = 64 * 1024  # a multipart upload's boundaries and headers around the file
IMPORT_TIMEOUT = 120  # seconds a preview or a confirm of 10,000 rows may take
UPLOAD = "application/octet-stream"  # the file as it is (or a multipart form with its `file`)
BY_TYPE = {XLSX: "upload.xlsx", "text/csv": "upload.csv", "text/plain": "upload.csv"}


def _kind(kind: str) -> str:
    if kind not in p.IMPORT_KINDS:
        raise Invalid(
            "不能导入这类名单。", "UNKNOWN_KIND", fields={"kind": [N_("应为志愿者、队伍、节目或企业工会之一。")]}
        )
    return kind


def upload(request) -> tuple[bytes, str]:
    """The uploaded file and its name: the request's body as it is (named by ``?filename=`` or
    its content type), or the ``file`` part of a multipart form. Never more than the size limit
    is read."""
    limit = sheets.MAX_BYTES + (FORM_OVERHEAD if request.mimetype == "multipart/form-data" else 0)
    raw = sheets.read_limited(request.stream, limit=limit, length=request.content_length)
    if request.mimetype != "multipart/form-data":
        name = request.args.get("filename") or BY_TYPE.get(request.mimetype, "upload.xlsx")
        return raw, name
    environ = {**request.environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))}
    _, _, files = parse_form_data(environ)
    part = files.get("file")
    if part is None:
        raise sheets.SheetError("请选择要导入的文件（表单字段 file）。", "NO_FILE")
    data = part.read()
    sheets.check_size(len(data))
    return data, part.filename or request.args.get("filename") or "upload.xlsx"


def said(preview: dict, lang: str) -> dict:
    """A preview whose messages (their templates and values) are written out in the reader's language."""
    cat = i18n.catalogue(lang)

    def text(value) -> str:
        message = Message.of(value)
        return cat.say(message) if cat else str(message)

    out = dict(preview)
    out["warnings"] = [text(w) for w in preview.get("warnings") or []]
    out["rows"] = [
        {
            **row,
            "notes": [text(n) for n in row.get("notes") or []],
            "reasons": [{**r, "message": text(r["message"])} for r in row.get("reasons") or []],
        }
        for row in preview.get("rows") or []
    ]
    return out


class Imports:
    """Import and export entrypoints mixed into the gateway service."""

    def _list_of(self, request, palace_id: str, kind: str) -> str:
        """The kind of list asked for, by a dispatcher of this palace or an admin."""
        self._staff_of(request, palace_id)
        return _kind(kind)

    def _enterprises_of(self, kind: str, palace_id: str) -> list | None:
        """For enterprise unions, the palace's records (which orders keeps) to compare a file with."""
        if kind != "enterprises":
            return None
        return call(self.orders.list_enterprises, palace_id, 20_000)

    def _enterprise_ids_elsewhere(self, kind: str, palace_id: str, rows: list[dict]) -> list | None:
        if kind != "enterprises":
            return None
        given = [str((r.get("cells") or {}).get("enterprise_id") or "").strip() for r in rows]
        held = call(self.orders.enterprise_palaces, [g for g in given if g])
        return sorted(i for i, palace in held.items() if palace != palace_id)

    @route(
        "GET /api/palaces/<palace_id>/imports/<kind>/template",
        tag=N_("导入导出"),
        summary=N_("下载导入模板（Excel：列名、示例行和填写说明）"),
        response=XLSX,
        roles=auth.STAFF,
    )
    def import_template(self, request, palace_id, kind):
        kind = self._list_of(request, palace_id, kind)
        return file_response(sheets.template(kind), XLSX, sheets.download_name(kind, "template"))

    @route(
        "POST /api/palaces/<palace_id>/imports/<kind>/preview",
        tag=N_("导入导出"),
        summary=N_("上传名单（.xlsx 或 .csv），预览每一行将新建、更新、不变还是不能导入"),
        body=UPLOAD,
        response=p.ImportPreviewOut,
        query=("filename",),
        roles=auth.STAFF,
    )
    def import_preview(self, request, palace_id, kind):
        """Reads the file and answers what importing it would do; nothing is written yet."""
        kind = self._list_of(request, palace_id, kind)
        query(request)
        data, name = upload(request)
        table = sheets.read_table(data, name, kind)
        current = self._enterprises_of(kind, palace_id)
        taken = self._enterprise_ids_elsewhere(kind, palace_id, table.rows)
        preview = call(
            self.dispatch.preview_import, kind, palace_id, table.rows, current, taken, timeout=IMPORT_TIMEOUT
        )
        preview["warnings"] = [*table.warnings, *preview.get("warnings", [])]
        return said(preview, i18n.pick(request))

    @route(
        "POST /api/palaces/<palace_id>/imports/<kind>/confirm",
        tag=N_("导入导出"),
        summary=N_("确认导入：写入预览中的新建和更新（数据已变化时答 409，请重新预览）"),
        body=p.ImportConfirm,
        response=p.ImportConfirmOut,
        roles=auth.STAFF,
    )
    def import_confirm(self, request, palace_id, kind):
        who = self._who(request)
        auth.palace_scope(who, palace_id)
        kind = _kind(kind)
        preview_id = load(p.ImportConfirm, body(request))["preview_id"]
        current = self._enterprises_of(kind, palace_id)
        done = call(
            self.dispatch.confirm_import,
            preview_id,
            {"username": who.get("username"), "role": who.get("role")},
            palace_id,
            kind,
            current,
            timeout=IMPORT_TIMEOUT,
        )
        writes = done.pop("writes", None)
        if writes:
            call(self.orders.upsert_enterprises, palace_id, writes, timeout=IMPORT_TIMEOUT)
        new_volunteers = done.pop("invite", None)
        if new_volunteers:  # each is sent a code to claim an account; the import stands if this fails
            try:
                done["invited"] = self._invite(who, palace_id, new_volunteers)["invited"]
            except Exception as err:  # noqa: BLE001 - they can be invited again from the volunteer list
                log.warning("volunteers imported into %s not invited: %r", palace_id, err)
                done["invited"] = 0
        return done

    @route(
        "GET /api/palaces/<palace_id>/exports/<kind>",
        tag=N_("导入导出"),
        summary=N_("导出本文化宫的名单（Excel，改好后可再导入）"),
        response=XLSX,
        roles=auth.STAFF,
    )
    def export_list(self, request, palace_id, kind):
        kind = self._list_of(request, palace_id, kind)
        rows = call(self.dispatch.export_rows, kind, palace_id, self._enterprises_of(kind, palace_id), timeout=60)
        self._accessed(
            request, self._who(request), "list_exported", kind, {"type": kind, "id": palace_id}, [palace_id], len(rows)
        )
        return file_response(sheets.write_table(kind, rows), XLSX, sheets.download_name(kind))

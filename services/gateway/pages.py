"""QR codes as SVG (segno): the survey link the audience scans, the check-in link volunteers scan."""

from __future__ import annotations

import io

import segno


def qr_svg(link: str, title: str = "扫码评议") -> bytes:
    """Medium error correction, so a creased printout still scans; SVG prints sharp at any size."""
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=10, border=2, title=title, xmldecl=True)
    return out.getvalue()

"""QR codes (segno): the survey link the audience scans, the check-in link volunteers scan; as SVG
for the screens and as a module matrix for the printed poster."""

from __future__ import annotations

import io

import segno

QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks: phones find it faster


def qr_code(link: str) -> segno.QRCode:
    """Medium error correction, so a creased printout still scans."""
    return segno.make(link, error="m")


def qr_svg(link: str, title: str = "扫码评议") -> bytes:
    """Sized by its viewBox alone (no width or height), so the page's CSS scales the whole code
    into its box instead of cutting it; on a white ground with the full quiet zone."""
    out = io.BytesIO()
    qr_code(link).save(
        out, kind="svg", border=QUIET_ZONE, omitsize=True, light="#fff", title=title, xmldecl=True, svgclass="qr-code"
    )
    return out.getvalue()


def qr_matrix(link: str) -> list[list[bool]]:
    """The code's modules, quiet zone included, row by row (True: dark)."""
    return [[bool(m) for m in row] for row in qr_code(link).matrix_iter(border=QUIET_ZONE)]

"""Answers the admin and the portal give the same way: a refused form, a save, an invoice file, page headers.

Shared by the portal and admin blueprints, which may not import each other (like `web/htmx.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask import Response, redirect

from billing.embedding.origins import frame_ancestors
from web.htmx import is_htmx_request

# The pages' scripts and styles are Tally's own files (htmx is vendored): nothing inline, nothing from elsewhere,
# except on a page that takes a card: there the payment provider's script, frames and API are allowed, by origin.
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'{script}; style-src 'self'; img-src 'self' data:;{frame}{connect} "
    "frame-ancestors {frame_ancestors}; form-action 'self'; base-uri 'none'; object-src 'none'")


def refused_status() -> int:
    """The status of a refused form: 200 for htmx, 422 for a plain post.

    htmx swaps only a 2xx response in: the form comes back with each reason next to its field.
    """
    return 200 if is_htmx_request() else 422


def saved(url: str) -> Response:
    """After a save, go to `url`: htmx is told to go there itself (`HX-Redirect`), a plain post gets a 303."""
    if is_htmx_request():
        return Response(status=200, headers={"HX-Redirect": url})
    return redirect(url, code=303)


def safe_filename(name: str, default: str = "invoice") -> str:
    """`name` (an invoice or credit note number) as a file name any browser takes: letters, digits, - and _."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or default


def pdf_file(data: bytes, number: str, *, default: str = "invoice", cache_control: str | None = None) -> Response:
    """A PDF shown in the browser, named after its document's number."""
    headers = {"Content-Disposition": f'inline; filename="{safe_filename(number, default)}.pdf"'}
    if cache_control is not None:
        headers["Cache-Control"] = cache_control
    return Response(data, mimetype="application/pdf", headers=headers)


@dataclass(frozen=True)
class ProviderOrigins:
    """The origins a payment provider's browser script needs on a page: its script, its frames, its API."""

    script: Sequence[str] = ()
    frame: Sequence[str] = ()
    connect: Sequence[str] = ()


def _sources(origins: Sequence[str]) -> str:
    return "".join(f" {origin}" for origin in origins)


def embeddable_page_headers(response: Response, *, origins: Sequence[str],
                            provider: ProviderOrigins | None = None) -> None:
    """The headers of a page a host product may frame (a widget, the portal): only `origins` may, by CSP's
    frame-ancestors (browsers ignore X-Frame-Options when it is set); no origin: no one, with X-Frame-Options
    DENY too for browsers without CSP Level 2."""
    if origins:
        response.headers.pop("X-Frame-Options", None)
    else:
        response.headers["X-Frame-Options"] = "DENY"
    page_security_headers(response, frame_ancestors=frame_ancestors(origins), provider=provider)


def page_security_headers(response: Response, *, frame_ancestors: str,
                          provider: ProviderOrigins | None = None) -> None:
    """The content security policy of Tally's HTML pages; `frame_ancestors` says who may frame them, and
    `provider` which payment provider origins a page taking a card may use (on that page only)."""
    provider = provider or ProviderOrigins()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _CONTENT_SECURITY_POLICY.format(
        frame_ancestors=frame_ancestors, script=_sources(provider.script),
        frame=f" frame-src 'self'{_sources(provider.frame)};" if provider.frame else "",
        connect=f" connect-src 'self'{_sources(provider.connect)};" if provider.connect else "")

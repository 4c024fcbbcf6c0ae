"""Admin › Embedding: the allowed origins (saved normalized, a refused line shown with its reason and nothing
saved, the installation's default and "none" explained, plain http warned), the accent colour (saved, refused, its
live preview in both themes), the logo (a real PNG taken, SVG and too large refused, removed, served to the admin
only), CSRF on every form, another organization untouched, and the portal's frame-ancestors following the list."""

from __future__ import annotations

import re
import struct
import zlib

import pytest

from billing.embedding import branding
from billing.embedding.services import embed_settings, logo, update_embed_settings
from billing.ports import runtime
from tests.web.conftest import create_catalog, csrf_token_in

HTMX = {"HX-Request": "true"}
PAGE = "/admin/settings/embedding"


def small_png(width: int = 4, height: int = 2, *, padding: int = 0) -> bytes:
    """A real PNG image (red pixels), built by the format's specification; `padding` adds a private chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = chunk(b"prVt", b"\x00" * padding) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def _token(client) -> str:
    return csrf_token_in(client.get(PAGE).get_data(as_text=True))


def _text(html: str) -> str:
    """The page's words without tags or repeated spaces, to read sentences that span elements."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def no_default(monkeypatch):
    monkeypatch.setattr(runtime, "frame_ancestors", ())


def test_the_page_says_what_an_empty_list_means(signed_in, org, monkeypatch):
    monkeypatch.setattr(runtime, "frame_ancestors", ())
    html = signed_in.get(PAGE).get_data(as_text=True)
    assert 'href="/admin/settings/embedding" aria-current="page">Embedding</a>' in html  # in the nav
    assert "this installation sets no default" in html and "no site can embed the widgets or the portal" in html
    assert "frame-ancestors &#39;none&#39;" in html
    assert f"{runtime.base_url}/api/v1/customers/CUSTOMER_EXTERNAL_ID/embed_token" in html  # how to embed
    assert f'&lt;script src="{runtime.base_url}/static/embed.js" defer&gt;' in html
    assert "&lt;div data-tally-widget=\"usage\" data-token=\"TOKEN_FROM_YOUR_BACKEND\"&gt;" in html
    assert "docs/embedding.md" in html
    assert " style=" not in html and "<style" not in html  # CSP: no inline style

    monkeypatch.setattr(runtime, "frame_ancestors", ("https://shop.example.com",))
    html = signed_in.get(PAGE).get_data(as_text=True)
    assert "this installation's default applies" in html
    assert "<code>https://shop.example.com</code>" in html
    assert "frame-ancestors https://shop.example.com" in html


def test_origins_are_saved_normalized(signed_in, org, no_default):
    token = _token(signed_in)
    response = signed_in.post(f"{PAGE}/origins", headers=HTMX, data={
        "csrf_token": token,
        "frame_ancestors": "https://App.Example.com:443/\n\n  http://localhost:5001  \nhttps://app.example.com\n"})
    html = response.get_data(as_text=True)

    assert response.status_code == 200 and "Allowed origins saved" in html
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ("https://app.example.com",
                                                                         "http://localhost:5001")
    assert ">https://app.example.com\nhttp://localhost:5001</textarea>" in html
    assert "Only these sites may frame" in html and "data-insecure" not in html  # localhost is no warning
    assert "<html" not in html  # the panel only

    plain = signed_in.post(f"{PAGE}/origins", data={"csrf_token": token, "frame_ancestors": ""})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(PAGE)
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ()
    assert "Allowed origins saved" in signed_in.get(PAGE).get_data(as_text=True)  # flashed


def test_a_refused_line_is_shown_with_its_reason_and_nothing_is_saved(signed_in, org, no_default):
    update_embed_settings(organization_id=org.id, data={"frame_ancestors": "https://kept.example.com"})
    token = _token(signed_in)
    typed = "https://ok.example.com\nftp://files.example.com\nhttps://example.com/dashboard\nexample.org"
    response = signed_in.post(f"{PAGE}/origins", headers=HTMX, data={"csrf_token": token, "frame_ancestors": typed})
    html = response.get_data(as_text=True)

    assert response.status_code == 200 and 'aria-invalid="true"' in html
    assert "Not saved: some lines are not origins" in html
    text = _text(html)
    assert "Line 2: ftp://files.example.com : Only https:// and http:// pages can embed the widgets" in text
    assert "Line 3: https://example.com/dashboard : Only the origin: no path" in text
    assert "Line 4: example.org : Start with https://" in text
    assert "Line 1" not in text
    assert f">{typed}</textarea>" in html  # what was typed stays, to be corrected
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ("https://kept.example.com",)

    plain = signed_in.post(f"{PAGE}/origins", data={"csrf_token": token, "frame_ancestors": "'self'"})
    assert plain.status_code == 422 and "not a keyword" in plain.get_data(as_text=True)

    many = "\n".join(f"https://site{i}.example.com" for i in range(21))
    html = signed_in.post(f"{PAGE}/origins", headers=HTMX, data={"csrf_token": token, "frame_ancestors": many}) \
        .get_data(as_text=True)
    assert "At most 20 origins" in html
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ("https://kept.example.com",)


def test_plain_http_origins_are_warned_not_secure(signed_in, org, no_default):
    token = _token(signed_in)
    typed = "http://shop.example.com\nhttps://app.example.com\nhttp://[::1]:8080"
    html = signed_in.post(f"{PAGE}/origins", headers=HTMX, data={"csrf_token": token, "frame_ancestors": typed}) \
        .get_data(as_text=True)
    warning = re.search(r'<p class="notice" data-insecure>(.*?)</p>', html, re.S)
    assert warning is not None
    assert "http://shop.example.com" in warning.group(1) and "Not secure" in warning.group(1)
    assert "[::1]" not in warning.group(1) and "https://app.example.com" not in warning.group(1)


def test_the_accent_colour_is_saved_refused_and_reset(signed_in, org):
    token = _token(signed_in)
    saved = signed_in.post(f"{PAGE}/accent", headers=HTMX, data={"csrf_token": token, "accent_color": "#ABC",
                                                               "accent_picker": "#000000"})
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "Accent colour saved" in html
    assert embed_settings(organization_id=org.id).accent_color == "#aabbcc"

    refused = signed_in.post(f"{PAGE}/accent", headers=HTMX, data={"csrf_token": token, "accent_color": "red"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "A colour written #rrggbb" in html and 'aria-invalid="true"' in html
    assert 'value="red"' in html
    assert embed_settings(organization_id=org.id).accent_color == "#aabbcc"
    assert signed_in.post(f"{PAGE}/accent", data={"csrf_token": token, "accent_color": "#12"}).status_code == 422

    reset = signed_in.post(f"{PAGE}/accent", headers=HTMX, data={"csrf_token": token, "accent_color": "#aabbcc",
                                                               "use_default": "1"})
    assert reset.status_code == 200 and embed_settings(organization_id=org.id).accent_color is None


def test_the_preview_shows_both_themes_and_says_when_a_colour_is_adjusted(signed_in, org):
    token = _token(signed_in)
    preview = signed_in.post(f"{PAGE}/accent/preview", data={"csrf_token": token, "accent_color": "#ffff00"},
                             headers={**HTMX, "HX-Trigger-Name": "accent_color"})
    html = preview.get_data(as_text=True)
    palette = branding.palette("#ffff00")

    assert preview.status_code == 200
    assert f'data-theme="light" data-accent="{palette.light.accent}"' in html
    assert f'data-theme="dark" data-accent="{palette.dark.accent}"' in html
    assert f'fill="{palette.light.accent}"' in html and f'fill="{palette.light.on_accent}"' in html
    assert "Adjusted: #ffff00 has only 1.0:1 on the light background" in html
    assert f"so the widgets darken it to {palette.light.accent}" in html
    assert "Used as chosen" in html  # yellow reads well on the dark background
    assert 'id="accent_picker"' in html and 'hx-swap-oob="true"' in html and 'value="#ffff00"' in html
    assert "style=" not in html
    assert embed_settings(organization_id=org.id).accent_color is None  # a preview saves nothing

    picked = signed_in.post(f"{PAGE}/accent/preview", data={"csrf_token": token, "accent_picker": "#1f4fd1"},
                            headers={**HTMX, "HX-Trigger-Name": "accent_picker"}).get_data(as_text=True)
    assert 'id="accent_color"' in picked and 'value="#1f4fd1"' in picked and 'hx-swap-oob="true"' in picked

    typing = signed_in.post(f"{PAGE}/accent/preview", data={"csrf_token": token, "accent_color": "#12"},
                            headers={**HTMX, "HX-Trigger-Name": "accent_color"}).get_data(as_text=True)
    assert "is not a colour yet" in typing and "hx-swap-oob" not in typing


def test_a_logo_is_uploaded_shown_and_removed(signed_in, org):
    image = small_png()
    token = _token(signed_in)
    response = signed_in.post(f"{PAGE}/logo", headers=HTMX, content_type="multipart/form-data",
                              data={"csrf_token": token, "logo": (_file(image), "logo.png")})
    html = response.get_data(as_text=True)

    assert response.status_code == 200 and "Logo saved" in html
    assert logo(organization_id=org.id) == (image, "image/png")
    version = embed_settings(organization_id=org.id).version
    assert f'src="/admin/settings/embedding/logo?v={version}"' in html
    served = signed_in.get(f"{PAGE}/logo")
    assert served.status_code == 200 and served.data == image and served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    removed = signed_in.post(f"{PAGE}/logo/remove", headers=HTMX, data={"csrf_token": token, "remove_logo": "1"})
    assert removed.status_code == 200 and "Logo removed" in removed.get_data(as_text=True)
    assert logo(organization_id=org.id) is None
    assert signed_in.get(f"{PAGE}/logo").status_code == 404


@pytest.mark.parametrize(("data", "name", "reason"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.svg",
     "A PNG, JPEG, WebP or GIF image only"),
    (small_png(padding=branding.MAX_LOGO_BYTES), "big.png", "At most 200 KB"),
    (b"", "empty.png", "A PNG, JPEG, WebP or GIF image only"),
])
def test_a_logo_that_is_no_raster_image_or_too_large_is_refused(signed_in, org, data, name, reason):
    kept = small_png(1, 1)
    update_embed_settings(organization_id=org.id, data={"logo": kept})
    token = _token(signed_in)
    response = signed_in.post(f"{PAGE}/logo", headers=HTMX, content_type="multipart/form-data",
                              data={"csrf_token": token, "logo": (_file(data), name)})
    assert response.status_code == 200 and reason in response.get_data(as_text=True)
    assert logo(organization_id=org.id) == (kept, "image/png")

    nothing = signed_in.post(f"{PAGE}/logo", content_type="multipart/form-data", data={"csrf_token": token})
    assert nothing.status_code == 422 and "Choose an image file first" in nothing.get_data(as_text=True)


def test_an_upload_past_the_apps_request_limit_is_refused_on_the_form(signed_in, org):
    huge = b"\x89PNG\r\n\x1a\n" + b"0" * 6_000_000  # past MAX_CONTENT_LENGTH: werkzeug stops reading
    refused = signed_in.post(f"{PAGE}/logo", headers=HTMX, content_type="multipart/form-data",
                             data={"csrf_token": _token(signed_in), "logo": (_file(huge), "huge.png")})
    assert refused.status_code == 200 and "At most 200 KB" in refused.get_data(as_text=True)
    assert logo(organization_id=org.id) is None


def test_another_organizations_settings_are_untouched(signed_in, org, other_org, no_default):
    theirs = small_png(2, 2)
    update_embed_settings(organization_id=other_org, data={
        "frame_ancestors": "https://globex.example.com", "accent_color": "#ff0000", "logo": theirs})
    token = _token(signed_in)
    html = signed_in.get(PAGE).get_data(as_text=True)
    assert "globex" not in html and "#ff0000" not in html and "data-no-logo" in html
    assert signed_in.get(f"{PAGE}/logo").status_code == 404  # theirs is not served here

    signed_in.post(f"{PAGE}/origins", data={"csrf_token": token, "frame_ancestors": "https://acme.example.com"})
    signed_in.post(f"{PAGE}/accent", data={"csrf_token": token, "accent_color": "#00aa00"})
    signed_in.post(f"{PAGE}/logo/remove", data={"csrf_token": token, "remove_logo": "1"})

    other = embed_settings(organization_id=other_org)
    assert (other.own_frame_ancestors, other.accent_color) == (("https://globex.example.com",), "#ff0000")
    assert logo(organization_id=other_org) == (theirs, "image/png")
    assert embed_settings(organization_id=org.id).own_frame_ancestors == ("https://acme.example.com",)


@pytest.mark.parametrize(("path", "data"), [
    ("origins", {"frame_ancestors": "https://evil.example.com"}),
    ("accent", {"accent_color": "#000000"}),
    ("logo/remove", {"remove_logo": "1"}),
])
def test_every_form_needs_its_csrf_token(signed_in, org, path, data):
    update_embed_settings(organization_id=org.id, data={"logo": small_png()})
    before = embed_settings(organization_id=org.id)
    assert signed_in.post(f"{PAGE}/{path}", data=data).status_code == 400
    assert signed_in.post(f"{PAGE}/{path}", data={**data, "csrf_token": "forged"}).status_code == 400
    assert embed_settings(organization_id=org.id) == before


def test_an_upload_needs_its_csrf_token(signed_in, org):
    response = signed_in.post(f"{PAGE}/logo", content_type="multipart/form-data",
                              data={"logo": (_file(small_png()), "logo.png")})
    assert response.status_code == 400 and logo(organization_id=org.id) is None


def test_the_screens_need_a_signed_in_account_manager(client, org):
    assert client.get(PAGE).status_code == 302
    assert client.get(f"{PAGE}/logo").status_code == 302


def test_the_admin_screen_itself_is_never_framed(signed_in, org):
    update_embed_settings(organization_id=org.id, data={"frame_ancestors": "https://app.example.com"})
    response = signed_in.get(PAGE)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_portal_answers_with_the_origins_saved_here(signed_in, client, org, billed_customer, no_default):
    create_catalog(org.id)
    alice = billed_customer(org.id, "alice", name="Alice Corp", events=1)
    portal = client.application.test_client()  # the customer: no admin session
    assert "frame-ancestors 'none'" in portal.get(alice.portal_path()).headers["Content-Security-Policy"]

    signed_in.post(f"{PAGE}/origins", data={"csrf_token": _token(signed_in),
                                            "frame_ancestors": "https://App.Example.com\nhttp://localhost:5001"})
    framed = portal.get(alice.portal_path())
    assert "frame-ancestors https://app.example.com http://localhost:5001;" in framed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed.headers


def _file(data: bytes):
    import io

    return io.BytesIO(data)

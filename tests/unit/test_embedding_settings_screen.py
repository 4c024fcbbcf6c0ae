"""What the embedding settings screen explains (pure): which typed line is no origin and why, which origins are
plain http off the local machine, and how each theme adjusts an accent colour for contrast."""

from __future__ import annotations

import pytest

from billing.embedding import branding, origins
from billing.embedding.services import OriginRefusal, accent_checks, insecure_origins, origin_refusals


@pytest.mark.parametrize(("typed", "reason"), [
    ("example.com", "missing_scheme"),
    ("localhost:5001", "missing_scheme"),
    ("javascript:alert(1)", "missing_scheme"),
    ("ftp://example.com", "unsupported_scheme"),
    ("https://user:pw@example.com", "has_credentials"),
    ("https://example.com/path", "has_path"),
    ("https://example.com?x=1", "has_path"),
    ("https://example.com#top", "has_path"),
    ("https://example.com:99999", "invalid_port"),
    ("https://example.com:port", "invalid_port"),
    ("https://*.com", "misplaced_wildcard"),
    ("https://a.*.example.com", "misplaced_wildcard"),
    ("*", "keyword"),
    ("'self'", "keyword"),
    ("https://" + "a" * 300 + ".com", "too_long"),
    ("https://-bad-.com", "invalid_host"),
    ("https://exa_mple.com", "invalid_host"),
])
def test_each_refused_origin_says_why(typed, reason):
    with pytest.raises(origins.InvalidOrigin):
        origins.parse_origin(typed)  # the service refuses it: the reason only explains
    assert origin_refusals(typed) == [OriginRefusal(line=1, value=typed, reason=reason)]


def test_refusals_name_their_line_and_the_valid_lines_none():
    text = "https://ok.example.com\n\nftp://x.example.com, https://also.example.com\r\n  https://a.example.com/b  "
    assert origin_refusals(text) == [OriginRefusal(3, "ftp://x.example.com", "unsupported_scheme"),
                                     OriginRefusal(4, "https://a.example.com/b", "has_path")]
    assert origin_refusals("") == [] and origin_refusals("https://app.example.com\nhttp://localhost:5001") == []


def test_plain_http_is_insecure_except_on_the_local_machine():
    listed = ["http://shop.example.com", "https://app.example.com", "http://localhost:5001", "http://127.0.0.1",
              "http://[::1]:8080", "http://*.example.org", "http://localhost.example.com"]
    assert insecure_origins(listed) == ["http://shop.example.com", "http://*.example.org",
                                        "http://localhost.example.com"]


def test_a_readable_accent_is_used_as_chosen_in_both_themes_when_it_can_be():
    light, dark = accent_checks("#7a5af8")
    assert (light.theme, dark.theme) == ("light", "dark")
    assert not light.adjusted and light.accent == "#7a5af8"
    assert light.accent_contrast == pytest.approx(branding.contrast("#7a5af8", branding.LIGHT_BACKGROUND))


def test_an_unreadable_accent_is_adjusted_and_the_contrasts_say_why():
    light, dark = accent_checks("#ffff00")  # yellow: unreadable on white, fine on the dark background
    palette = branding.palette("#ffff00")
    assert light.adjusted and light.accent == palette.light.accent and light.chosen == "#ffff00"
    assert light.chosen_contrast < branding.MIN_CONTRAST <= light.accent_contrast
    assert not dark.adjusted and dark.accent == "#ffff00"
    assert light.on_accent_contrast >= branding.MIN_CONTRAST and dark.on_accent == palette.dark.on_accent

    navy_light, navy_dark = accent_checks("#101050")  # navy: lightened for the dark theme
    assert not navy_light.adjusted and navy_dark.adjusted
    assert branding.luminance(navy_dark.accent) > branding.luminance("#101050")


def test_no_accent_is_the_default():
    light, _ = accent_checks(None)
    assert light.chosen == branding.DEFAULT_ACCENT

"""The embedding settings' forms (allowed origins, accent colour, logo); flask-wtf adds and checks the CSRF token
of each. billing.embedding.services validates the values: its reasons are shown next to each field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import ColorField, HiddenField, StringField, TextAreaField

from billing.embedding import branding


class OriginsForm(FlaskForm):
    frame_ancestors = TextAreaField("Allowed origins")


class AccentForm(FlaskForm):
    """The text field is the colour saved; the picker only fills it in (kept in step by the live preview)."""

    accent_color = StringField("Accent colour")
    accent_picker = ColorField("Pick a colour")


class LogoForm(FlaskForm):
    logo = FileField("Logo")

    def image(self) -> bytes | None:
        """The uploaded bytes, read no further than one byte past the limit (enough for the service to refuse)."""
        upload = self.logo.data
        if upload is None or not getattr(upload, "filename", ""):
            return None
        return upload.stream.read(branding.MAX_LOGO_BYTES + 1)


class RemoveLogoForm(FlaskForm):
    remove_logo = HiddenField(default="1")

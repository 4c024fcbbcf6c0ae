"""An organization's embedding settings: the origins allowed to frame its screens, its accent colour and logo."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from billing.db import Base, JSONType, utcnow


class EmbedSettings(Base):
    """One row per organization that changed its embedding settings; none: the installation's defaults."""

    __tablename__ = "embed_settings"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    # Normalized origins (`origins.parse_origin`); empty: the installation's TALLY_FRAME_ANCESTORS apply.
    frame_ancestors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    accent_color: Mapped[str | None] = mapped_column(String(7))  # "#rrggbb"
    # A raster image only (PNG, JPEG, WebP, GIF; checked by its first bytes, `branding.logo_type`): an SVG can
    # carry scripts. Loaded only when served.
    logo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_content_type: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

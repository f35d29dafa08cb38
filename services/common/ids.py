"""Identifiers and opaque page tokens."""

from __future__ import annotations

import base64
import uuid

from services.common.errors import InvalidArgument


def new_id(prefix: str) -> str:
    """A short, sortable-enough, human-readable id such as `ds-3f9a1c2b7e4d`."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode() if offset else ""


def decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        if not raw.startswith("o:"):
            raise ValueError(raw)
        return max(0, int(raw[2:]))
    except Exception as exc:  # noqa: BLE001 - any malformed token is the caller's error
        raise InvalidArgument(f"invalid page_token {token!r}") from exc


def page_size(requested: int, default: int = 50, maximum: int = 1000) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or default, maximum)

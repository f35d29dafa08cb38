from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class IngestionSettings(Settings):
    max_upload_mb: int = 1024        # larger uploads get RESOURCE_EXHAUSTED before any byte is stored
    max_chunk_mb: int = 8
    topic_window_max_seconds: float = 300.0

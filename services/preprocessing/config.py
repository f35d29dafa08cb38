from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class PreprocessingSettings(Settings):
    decode_threads: int = 2          # threads decoding images (PIL releases the GIL while it decodes)
    max_input_mb: int = 4096         # larger dataset versions get RESOURCE_EXHAUSTED before they are read

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Settings


@dataclass
class MonitoringSettings(Settings):
    """Env `GRISTMILL_MONITORING_*` (then `GRISTMILL_*`). Alert rules per project override the defaults."""

    window_size: int = 500              # logged rows per drift window (AlertRules.window_size overrides)
    window_seconds: float = 0.0         # also close a window this old (0: by count only)
    min_window_rows: int = 30           # a time-closed window or RunDriftReport needs at least this many rows
    reference_rows: int = 1000          # rows kept from the train split (<= 1000: Evidently uses p-value tests)
    max_columns: int = 32               # inputs wider than this are reduced (PCA + row stats)
    pca_components: int = 16
    max_drift_share: float = 0.5        # default: dataset drift when this share of columns drifted
    min_labeled: int = 20               # labeled rows needed before accuracy / MAE can raise ModelDegraded
    recent_rows: int = 1000             # latency percentiles and throughput over this many recent rows
    store_html: bool = True             # store Evidently's HTML report as an artifact
    check_interval: float = 1.0         # seconds between window checks
    scrape_timeout: float = 1.0         # reading the predictor's /metrics
    retention_hours: float = 24 * 30    # logged predictions and unjoined feedback older than this are deleted (0: keep)
    preload_evidently: bool = True      # import Evidently in the background at start (a cold import takes seconds)

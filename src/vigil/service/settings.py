"""Settings of ``vigil serve``: defaults, a TOML config file, environment, command line.

Precedence, lowest first: built-in defaults, the config file (``--config FILE``, TOML, the same
names as the options, e.g. ``port = 9400``), ``VIGIL_*`` environment variables where documented,
then command-line options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9400


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start. ``data_dir`` holds the event log/store, the alert
    store, the API token hash and the watcher's positions."""

    data_dir: Path
    rule_paths: tuple[str, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # ingest
    max_request_bytes: int = 100 * 1024 * 1024
    # Events acknowledged but not yet in the store (kept in memory, a few KB each): past this,
    # writes are refused with 429 until the flush catches up, as Elasticsearch refuses them when
    # its write queue is full (shippers and the clients' bulk helpers back off and retry).
    max_unflushed_events: int = 250_000
    watch_paths: tuple[str, ...] = ()
    retention_days: float | None = None
    # API
    api_token: str | None = None  # plain token from VIGIL_API_TOKEN or the config file
    open_reads: bool = False  # reads without a token
    # scheduler
    run_timeout_seconds: float = 60.0
    tick_seconds: float = 1.0  # how often the scheduler looks for due rules
    # While events are coming in, the rule runs together take at most this share of the time
    # of one core (they pause between chunks of events), so that ingest keeps the CPU it needs;
    # 1 (or more) never pauses them.
    rule_share_under_load: float = 0.5
    extra: dict[str, object] = field(default_factory=dict)

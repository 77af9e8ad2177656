"""What the browser tests share: how Debian's chromium is started headless for Playwright."""

from __future__ import annotations

# Headless, no sandbox (containers run as root), and nothing that reaches out to the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

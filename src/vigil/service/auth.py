"""The API token: generated on first start (shown once, stored hashed), or given by
``VIGIL_API_TOKEN`` / the config file; accepted as ``Authorization: Bearer <token>`` and as
``Authorization: ApiKey <token>`` (what the official Elasticsearch clients send), and as the
password of ``Authorization: Basic`` (what Beats send for ``username``/``password``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

TOKEN_FILE = "api-token.sha256"


def hash_token(token: str) -> str:
    """The stored form of a token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_or_create_token(data_dir: Path, configured: str | None) -> tuple[str, str | None]:
    """(token hash, the new plain token if one was generated now - to show once).

    A configured token wins and is not stored. Otherwise the hash in ``data_dir`` is used; on
    first start a random token is generated and only its hash is written."""
    if configured:
        return hash_token(configured), None
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), None
    token = secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(hash_token(token) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return hash_token(token), token


def token_of(authorization: str | None) -> str | None:
    """The token carried by an ``Authorization`` header, or None.

    ``ApiKey`` values may be the token itself or, as the Elasticsearch clients encode an
    ``(id, key)`` pair, base64 of ``id:key`` - then the key part is the token. ``Basic``
    credentials (``username:password``, as Beats send them) carry the token as the password."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        # Beats and Logstash configured with ``username``/``password``: the password is the token.
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[1] if ":" in decoded else None
    if scheme.lower() == "apikey":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return value
        return decoded.split(":", 1)[1] if ":" in decoded else value
    return None


def check_token(authorization: str | None, token_hash: str | None) -> bool:
    """Whether the header carries the service's token (constant-time comparison)."""
    token = token_of(authorization)
    if token is None or token_hash is None:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)

"""API keys: generation, constant-time checking and log-safe fingerprints."""

import hashlib
import hmac
import secrets

MIN_KEY_LENGTH = 32


def generate_key() -> str:
    """Return a new random key (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def key_matches(candidate: str | None, keys: tuple[str, ...]) -> bool:
    """Compare a presented key with every valid key in constant time."""
    presented = (candidate or "").encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key.encode())
    return matched and bool(presented)


def fingerprint(key: str) -> str:
    """A short, non-reversible tag that identifies a key in logs."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]

"""API keys: issuing them, and recognising them on every request."""

from llmaas.auth.keys import ApiKey, IssuedKey, KeyLimits, KeyService

__all__ = ["ApiKey", "IssuedKey", "KeyLimits", "KeyService"]

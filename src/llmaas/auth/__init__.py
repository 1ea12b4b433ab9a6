"""API keys: issuing them, and recognising them on every request."""

from llmaas.auth.keys import ApiKey, IssuedKey, KeyLimits, KeyService
from llmaas.auth.throttle import FailedAuthentications, SharedFailedAuthentications

__all__ = ["ApiKey", "FailedAuthentications", "IssuedKey", "KeyLimits", "KeyService",
           "SharedFailedAuthentications"]

"""The errors the platform raises, one tree. Only `api/errors.py` turns them into HTTP; the embedded
workers (engines/workers/common.py) render theirs in the same shape.

    LlmaasError                     message, param, code
    ├── InvalidRequest              400  a malformed or unsupported request
    │   ├── ContextLengthExceeded   400  prompt + output do not fit the model's context
    │   ├── UnsupportedForModel     400  the model lacks the capability (chat on a base model, images)
    │   └── PromptInjectionDetected 400  the guardrail blocked the prompt (gateway/screening.py)
    ├── AuthenticationFailed        401  missing, unknown or revoked API key
    ├── PermissionDenied            403  the key may not use this model
    ├── NotFound                    404  no such tenant, tier or key
    │   └── ModelNotFound           404  no such model in the catalog
    ├── Conflict                    409  the name is taken
    ├── ModelRetired                410  the model was retired; the message names its successor
    ├── PayloadTooLarge             413  the body exceeds the configured limit
    ├── TooManyFailedAuthentications 429 rate_limit_exceeded: failed authentications from an address
    ├── RateLimited                 429  rate_limit_exceeded        (metering/meter.py)
    ├── QuotaExceeded               429  insufficient_quota         (metering/meter.py)
    ├── MeterUnavailable            503  Redis unreachable          (metering/meter.py)
    ├── EngineUnavailable           503  no healthy upstream, or all are saturated (retryable)
    ├── UpstreamFailed              502  the engine answered with something unusable
    ├── WorkerError                 4xx/5xx  an embedded worker's answer (engines/workers/common.py)
    └── InternalError               never a client's answer: at the HTTP boundary, a logged 500
        ├── CatalogError            the catalog cannot be used; also a ValueError (catalog/catalog.py)
        │   ├── OverrideError           an override that cannot apply (catalog/overrides.py)
        │   └── OverridesUnavailable    the overrides could not be read (catalog/overrides.py)
        ├── BudgetUnseeded          the shared store has no counter for a budget (metering/meter.py)
        └── TLSConfigError          a certificate, key or CA file that cannot be used, or a
                                    non-loopback address without TLS; `llmaas serve` refuses to start
"""

from __future__ import annotations

from llmaas.wire.multipart import FormError, FormTooLarge


class LlmaasError(Exception):
    status_code = 500
    type = "server_error"
    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequest(LlmaasError):
    status_code = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"


class PromptInjectionDetected(InvalidRequest):
    default_code = "prompt_injection_detected"


class UnsupportedForModel(InvalidRequest):
    default_code = "model_not_supported"


class AuthenticationFailed(LlmaasError):
    status_code = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(LlmaasError):
    status_code = 403
    type = "invalid_request_error"
    default_code = "model_not_allowed"


class NotFound(LlmaasError):
    status_code = 404
    type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class ModelRetired(LlmaasError):
    status_code = 410
    type = "invalid_request_error"
    default_code = "model_retired"


class Conflict(LlmaasError):
    status_code = 409
    type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLarge(LlmaasError):
    status_code = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class TooManyFailedAuthentications(LlmaasError):
    status_code = 429
    type = "requests"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EngineUnavailable(LlmaasError):
    status_code = 503
    type = "server_error"
    default_code = "engine_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UpstreamFailed(LlmaasError):
    status_code = 502
    type = "server_error"
    default_code = "upstream_error"


class InternalError(LlmaasError):
    """An error between the platform's own parts (the operator's catalog, the meter and the gateway),
    caught where it is raised for. None is a client's answer: one that reaches the HTTP boundary is
    answered and logged like any unexpected failure, never with its message."""


class TLSConfigError(InternalError, ValueError):
    """TLS cannot be set up as configured; the message names the file or setting and says why."""


def upload_refused(error: FormError) -> InvalidRequest | PayloadTooLarge:
    """The upload parser's refusal (llmaas.wire.multipart) as an error of this tree."""
    if isinstance(error, FormTooLarge):
        return PayloadTooLarge(error.message, param=error.param)
    return InvalidRequest(error.message, param=error.param)

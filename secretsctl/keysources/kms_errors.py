"""What a failed KMS call means, shared by the boto3 path and the fast path.

Both paths map an AWS error answer (code, message, HTTP status) the same
way, so a user sees the same report whichever path made the call.
"""
from __future__ import annotations

__all__ = ["CallError", "RETRY_CODES", "CAUSES", "answer_reason", "answer_retryable"]

RETRY_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException",
    "RequestThrottled", "SlowDown", "PriorRequestNotComplete", "RequestTimeout",
    "RequestTimeoutException", "KMSInternalException", "DependencyTimeoutException",
})
# Short causes for the per-key report (the code itself is always shown).
CAUSES = {
    "AccessDeniedException": "",
    "DisabledException": "KMS key is disabled",
    "KMSInvalidStateException": "KMS key is not usable (pending deletion or import?)",
    "InvalidCiphertextException": "wrong encryption context?",
    "IncorrectKeyException": "the data key was not wrapped by this KMS key",
    "NotFoundException": "KMS key or alias not found",
    "UnrecognizedClientException": "invalid AWS credentials",
    "InvalidSignatureException": "invalid AWS credentials",
    "ExpiredTokenException": "AWS credentials expired",
}


class CallError(Exception):
    """A failed KMS call of the fast path, already mapped (never holds key material).

    ``where`` is set when the endpoint *answered* (the report then says
    "from <where>"); transport failures name the endpoint in ``reason``.
    """

    def __init__(self, reason: str, *, retryable: bool = False, unreachable: bool = False,
                 where: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.unreachable = unreachable
        self.where = where


def answer_reason(code: str, message: str) -> str:
    """``Code (short cause)``; an unknown code shows AWS's own message (ARNs at most)."""
    code = code or "UnknownError"
    cause = CAUSES.get(code)
    if cause is None:
        cause = " ".join(message.split())[:160]
    return f"{code} ({cause})" if cause else code


def answer_retryable(code: str, status: int) -> bool:
    """Throttling, KMS-internal trouble, 429 and 5xx are worth another attempt."""
    return code in RETRY_CODES or status == 429 or 500 <= status < 600

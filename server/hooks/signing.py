"""Standard Webhooks 1.0 signatures: verifying a request, and the headers of a callback.

A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, one
or more space-separated `v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{raw body}"` keyed with
the secret's bytes. Any entry matching any of the hook's valid secrets passes; timestamps more
than five minutes away either way are refused. The check is done here rather than with
`standardwebhooks.Webhook.verify`, which decodes the body as text and raises on a malformed
entry instead of skipping it; the tests check it against signatures that package makes, and
callbacks are signed with the package itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from server.hooks.secret import secret_key_bytes

TOLERANCE_SECONDS = 5 * 60
MAX_SIGNATURES = 16
MAX_ID_LENGTH = 200
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DUMMY_KEY = b"\x00" * 32


class SignatureError(Exception):
    """Authentication failed; `str(err)` says why in words a sender can act on."""


def _entries(header: str) -> list[bytes]:
    signatures = []
    for entry in header.split()[:MAX_SIGNATURES]:
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            signatures.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return signatures


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, now: float | None = None) -> str:
    """Check the Standard Webhooks headers of a request against `secrets` (an empty list checks
    against a dummy key, so an unknown hook costs what a known one does); return the message id.
    """
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    header = headers.get("webhook-signature", "")
    if not (message_id and timestamp and header):
        raise SignatureError("Missing webhook-id, webhook-timestamp or webhook-signature header.")
    if len(message_id) > MAX_ID_LENGTH:
        raise SignatureError(f"webhook-id is longer than {MAX_ID_LENGTH} characters.")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("webhook-timestamp must be a Unix time in whole seconds.")
    skew = int(timestamp) - (time.time() if now is None else now)
    if abs(skew) > TOLERANCE_SECONDS:
        side = "old" if skew < 0 else "far in the future"
        raise SignatureError(f"webhook-timestamp is too {side}: it must be within five minutes of now.")
    signed = b"%s.%s.%s" % (message_id.encode(), timestamp.encode(), body)
    given = _entries(header)
    matched = False
    for key in [secret_key_bytes(s) for s in secrets] or [_DUMMY_KEY]:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        for signature in given:
            matched |= hmac.compare_digest(expected, signature)
    if not matched or not secrets:
        raise SignatureError("No webhook-signature entry matches this hook's secret.")
    return message_id


def bearer_matches(token: str, secrets: Sequence[str]) -> bool:
    """Whether `token` is one of `secrets`, compared in constant time (a dummy when none)."""
    matched = False
    for secret in secrets or ["whsec_" + "A" * 44]:
        matched |= hmac.compare_digest(token.encode(), secret.encode())
    return matched and bool(secrets)


def sign_headers(secret: str, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for an outgoing message (a callback), signed by the package."""
    moment = at or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }

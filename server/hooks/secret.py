"""Webhook secrets: made here, shown once, kept encrypted with a key derived from SECRET_KEY.

A hook's secret must be recoverable (HMAC verification and callback signing need it), so it is
encrypted rather than hashed: Fernet (AES-128-CBC + HMAC-SHA256) with a key that HKDF derives
from SECRET_KEY, so SECRET_KEY itself never serves as a cipher key and other uses of it stay
independent. Rotating SECRET_KEY is described in ARCHITECTURE.md (webhooks).
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.settings import Settings

PREFIX = "whsec_"
SECRET_BYTES = 32
_INFO = b"galaxy webhook secrets v1"


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the Standard Webhooks form."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for (base64 after the prefix)."""
    encoded = secret.removeprefix(PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Encrypts secrets with the current SECRET_KEY; decrypts with it or any older key given, so
    a deployment can change SECRET_KEY and re-encrypt its hooks (`reencrypt`) without downtime."""

    def __init__(self, secret_key: str, *older_keys: str) -> None:
        self._cipher = MultiFernet([_fernet(secret_key), *(_fernet(key) for key in older_keys)])

    def seal(self, secret: str) -> str:
        return self._cipher.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret; ValueError when it was sealed with a key this box does not have."""
        try:
            return self._cipher.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("webhook secret was encrypted with another SECRET_KEY") from None

    @classmethod
    def of(cls, settings: Settings) -> SecretBox:
        """The box of a deployment: SECRET_KEY, then SECRET_KEY_PREVIOUS."""
        return cls(settings.secret_key, *settings.secret_key_previous)

    def reencrypt(self, sealed: str) -> str:
        """The same secret sealed with the current key (for a SECRET_KEY rotation); ValueError
        when no key of this box opens it."""
        try:
            return self._cipher.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "a webhook secret was encrypted with a key that is neither SECRET_KEY nor a previous one"
            ) from None

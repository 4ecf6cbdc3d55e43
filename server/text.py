"""Text hygiene for everything people name: what a display name may hold, and how text that
leaves a workflow document is made safe for Postgres and for other people's screens.

Documents are written by any member over the WebSocket, so their strings are untrusted: a NUL
makes Postgres refuse the row (`text` and `jsonb` both reject it), and bidi overrides or
zero-width characters let one name pass for another.
"""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls, DEL, the Arabic letter mark, the Mongolian vowel separator, zero-width
# characters (space, non-joiner, joiner, word joiner, BOM), bidi marks, embeddings, overrides
# and isolates, and the line/paragraph separators.
_INVISIBLE = "\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
# A display name: no invisible or control characters, and not only whitespace.
DISPLAY_TEXT = rf"^(?=.*\S)[^{_INVISIBLE}]*$"
_INVISIBLE_RUN = re.compile(rf"[{_INVISIBLE}]+")
MAX_NAME = 200


def normalize_email(email: str) -> str:
    """The form every email is stored and looked up in: NFKC, case-folded, trimmed. So
    a fullwidth `ADA@Example.com` and `ada@example.com` are one account."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


def safe_name(value: object, fallback: str) -> str:
    """A name read from a document, fit for a `varchar(200)` column, a response and a re-import:
    runs of invisible or control characters become one space, it is cut to 200 characters, and
    a name with nothing visible left is `fallback`."""
    text = value if isinstance(value, str) else ""
    cleaned = _INVISIBLE_RUN.sub(" ", text)[:MAX_NAME]
    return cleaned if cleaned.strip() else fallback


def storable(text: str) -> str:
    """`text` with the one character Postgres cannot store (NUL) replaced by U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text

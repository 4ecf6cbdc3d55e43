"""Rules every state-changing API request obeys before any handler sees it.

- A body must be JSON (or a type the route lists in `opt["body_media_types"]`). HTML forms can
  post `text/plain` cross-site without a CORS preflight; JSON cannot, so this closes login and
  sign-up CSRF, where no session (and so no CSRF token) exists yet.
- Browsers label cross-site requests with `Sec-Fetch-Site`; such writes are refused outright.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from server.errors import Forbidden, GalaxyError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = {"exclude_from_auth": True}  # route `opt` of endpoints anyone may call
BODY_TYPES_OPT = "body_media_types"


class UnsupportedMediaType(GalaxyError):
    status_code = 415
    slug = "unsupported-media-type"


def _has_body(request: Request[Any, Any, Any]) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.strip() not in ("", "0")) or "transfer-encoding" in request.headers


async def enforce_request_rules(request: Request[Any, Any, Any]) -> None:
    if request.method in SAFE_METHODS or not request.url.path.startswith("/api/"):
        return
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden("Cross-site requests may not change anything here.")
    if _has_body(request):
        allowed = request.route_handler.opt.get(BODY_TYPES_OPT, ("application/json",))
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in allowed:
            raise UnsupportedMediaType(
                f"Send the body as {' or '.join(allowed)} (Content-Type was {media_type or 'missing'})."
            )

"""`POST /hooks/{hook_id}`: a webhook call starts a run of the hook's workflow.

In order: find the hook; read the body (WEBHOOK_MAX_BODY_BYTES, else 413); authenticate it by
Standard Webhooks signature or by the secret as a bearer token (else 401) — an unknown, deleted
or disabled hook is checked against a dummy secret first and then answers 404, so the two cost
the same; count it against the hook's rate limit (429 with Retry-After, before any run exists);
parse `{"inputs": {...}}` (415, 400, 422 naming the inputs); claim its idempotency key
(server/hooks/claims.py: a repeat answers 200 with the first run); start the run as the hook's
creator with trigger `webhook` (the run service validates and plans it: 422 listing problems,
nothing queued); answer 202, or with `?wait=N` wait on the run's events (server/hooks/waiter.py).
Every request to a hook that exists is written to its delivery log.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog
from litestar import Request
from litestar.response import Response

from collab.hub import Hub
from engine.events import RunStatus
from engine.spec import MAX_TEXT_LENGTH
from server.errors import BadRequest, Conflict, GalaxyError, Invalid, NotFound, PayloadTooLarge, Unauthorized
from server.hooks.claims import Claim, Claims
from server.hooks.deliveries import DeliveryLog
from server.hooks.results import run_result, run_status, status_url
from server.hooks.schemas import HookAnswer
from server.hooks.secret import SecretBox, new_secret
from server.hooks.signing import MAX_ID_LENGTH, SignatureError, bearer_matches, verify
from server.hooks.store import Delivery, HookStore, IntakeHook
from server.hooks.waiter import RunWaiter
from server.http_rules import UnsupportedMediaType
from server.ratelimit import RateLimiter
from server.runs.schemas import RunCreate
from server.runs.service import RunService
from server.settings import Settings

log = structlog.get_logger(__name__)

NOT_FOUND = "No such webhook, or it is disabled."
AUTH_HELP = "Sign the raw body with Standard Webhooks headers, or send 'Authorization: Bearer <hook secret>'."
MAX_INPUTS = 100
CLAIM_WAIT_SECONDS = 10.0
_json = msgspec.json.Decoder()


class HookIntake:
    """The intake of webhook calls (see the module docstring); one per web process."""

    def __init__(
        self,
        *,
        store: HookStore,
        box: SecretBox,
        claims: Claims,
        limiter: RateLimiter,
        runs: RunService,
        hub: Hub,
        waiter: RunWaiter,
        deliveries: DeliveryLog,
        settings: Settings,
    ) -> None:
        self.store = store
        self.box = box
        self.claims = claims
        self.limiter = limiter
        self.runs = runs
        self.hub = hub
        self.waiter = waiter
        self.deliveries = deliveries
        self.settings = settings
        self._dummy = (box.seal(new_secret()),)

    async def receive(self, request: Request[Any, Any, Any], hook_id: str, wait: int) -> Response[Any]:
        started = time.perf_counter()
        entry = Delivery(
            webhook=UUID(int=0),
            kind="intake",
            outcome="rejected",
            address=request.client.host if request.client else "",
            received_at=datetime.now(UTC),
        )
        hook = await self._find(hook_id)
        try:
            body = await self._read_body(request)
            # Decrypt and verify whether or not the hook exists: the answer takes as long either way.
            secrets = [self.box.open(sealed) for sealed in (hook.sealed if hook and hook.usable else self._dummy)]
            failure: SignatureError | None = None
            try:
                key = _authenticate(body, request.headers, secrets)
            except SignatureError as err:
                key, failure = None, err
            if hook is None or not hook.usable:
                raise NotFound(NOT_FOUND)
            entry.webhook = hook.id
            structlog.contextvars.bind_contextvars(hook_id=str(hook.id), workflow_id=str(hook.workflow_id))
            if failure is not None:
                raise Unauthorized(f"{failure} {AUTH_HELP}")
            entry.idempotency_key = key
            await self.limiter.hit("webhook", str(hook.id), limit=self.settings.webhook_rate_limit, window=60)
            inputs = _inputs(body, request.headers.get("content-type", ""))
            return await self._accept(request, hook, key, inputs, wait, entry, started)
        except GalaxyError as err:
            if hook is not None:
                entry.webhook = hook.id
                entry.reason = _why_unusable(hook) if isinstance(err, NotFound) else err.detail
                self._log(entry, err.status_code, started)
            raise

    async def _find(self, hook_id: str) -> IntakeHook | None:
        try:
            ident = UUID(hook_id)
        except ValueError:
            return None
        return await self.store.for_intake(ident)

    async def _read_body(self, request: Request[Any, Any, Any]) -> bytes:
        limit = self.settings.webhook_max_body_bytes
        too_large = PayloadTooLarge(f"The body is larger than this webhook accepts ({limit} bytes).")
        announced = request.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _accept(
        self,
        request: Request[Any, Any, Any],
        hook: IntakeHook,
        key: str | None,
        inputs: dict[str, str],
        wait: int,
        entry: Delivery,
        started: float,
    ) -> Response[Any]:
        claim: Claim | None = None
        if key is not None:
            claim, earlier = await self._claim(hook.id, key)
            if earlier is not None:
                entry.outcome, entry.run = "duplicate", earlier
                return await self._answer(request, hook, earlier, wait, entry, started, duplicate=True)
        try:
            live_state = await self.hub.unstored(str(hook.workflow_id))
            if hook.creator is None:  # `usable` already requires a creator who may run the workflow
                raise NotFound(NOT_FOUND)
            run_id = await self.runs.start(
                hook.workflow_id,
                hook.creator,
                RunCreate(scope="full", inputs=inputs),
                live_state,
                trigger="webhook",
                hook_id=hook.id,
            )
        except BaseException:
            if claim is not None:
                await self.claims.release(claim)
            raise
        if claim is not None:
            await self.claims.settle(claim, run_id)
        entry.outcome, entry.run = "accepted", run_id
        return await self._answer(request, hook, run_id, wait, entry, started, duplicate=False)

    async def _claim(self, hook_id: UUID, key: str) -> tuple[Claim | None, UUID | None]:
        """This request's claim on `key`, or the run an earlier request with it started."""
        for _ in range(3):
            claim = await self.claims.claim(hook_id, key)
            if claim.run_id is not None:
                return None, claim.run_id
            if claim.won:
                return claim, None
            settled = await self.claims.wait(claim, CLAIM_WAIT_SECONDS)
            if settled is not None:
                return None, settled
        raise Conflict("A delivery with this id is still being processed; send it again in a few seconds.")

    async def _answer(
        self,
        request: Request[Any, Any, Any],
        hook: IntakeHook,
        run_id: UUID,
        wait: int,
        entry: Delivery,
        started: float,
        *,
        duplicate: bool,
    ) -> Response[Any]:
        base = self.settings.public_url or str(request.base_url)
        pool = self.store.pool
        code = 200 if duplicate else 202
        if wait:

            async def finished() -> bool:
                status = await run_status(pool, run_id)
                return status is not None and status not in (RunStatus.QUEUED, RunStatus.RUNNING)

            await self.waiter.wait(hook.workflow_id, run_id, wait, finished)
            result = await run_result(pool, run_id, base)
            if result is not None and result.finished:
                self._log(entry, 200, started)
                return Response(result, status_code=200)
            status = result.status if result is not None else RunStatus.QUEUED
        else:
            status = (await run_status(pool, run_id) or RunStatus.QUEUED) if duplicate else RunStatus.QUEUED
        self._log(entry, code, started)
        answer = HookAnswer(run_id=run_id, status_url=status_url(base, run_id), status=status, duplicate=duplicate)
        return Response(answer, status_code=code)

    def _log(self, entry: Delivery, status_code: int, started: float) -> None:
        entry.status_code = status_code
        entry.latency_ms = int((time.perf_counter() - started) * 1000)
        self.deliveries.add(entry)


def _why_unusable(hook: IntakeHook) -> str:
    if not hook.sealed:
        return "The hook has no secret."
    if not hook.enabled:
        return "The hook is disabled."
    return "The hook's creator can no longer start runs of this workflow (removed, or now a viewer)."


def _authenticate(body: bytes, headers: Any, secrets: list[str]) -> str | None:
    """The request's idempotency key (None: it has none) once it proves it knows one of
    `secrets`, by a Standard Webhooks signature or as a bearer token; SignatureError otherwise."""
    if "webhook-signature" in headers or "authorization" not in headers:
        return verify(body, headers, secrets)
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if not (scheme.lower() == "bearer" and bearer_matches(token.strip(), secrets)):
        raise SignatureError("The bearer token is not this hook's secret.")
    key: str | None = headers.get("idempotency-key") or headers.get("webhook-id") or None
    if key is not None and len(key) > MAX_ID_LENGTH:
        raise SignatureError(f"Idempotency-Key is longer than {MAX_ID_LENGTH} characters.")
    return key


def _inputs(body: bytes, content_type: str) -> dict[str, str]:
    """The run inputs a body carries: `{"inputs": {"<name>": "<text>", ...}}` (other top-level
    fields are ignored, so an envelope may carry more; an empty body means no inputs)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"Send the body as application/json (Content-Type was {media_type}).")
    if not body.strip():
        return {}
    try:
        document = _json.decode(body)
    except msgspec.DecodeError as err:
        raise BadRequest(f"The body is not valid JSON: {err}.") from None
    if not isinstance(document, dict):
        raise Invalid('The body must be a JSON object such as {"inputs": {"topic": "..."}}.')
    inputs = document.get("inputs", {})
    if not isinstance(inputs, dict):
        raise Invalid('"inputs" must be an object mapping input names to text.')
    if len(inputs) > MAX_INPUTS:
        raise Invalid(f"At most {MAX_INPUTS} inputs may be given; this body has {len(inputs)}.")
    not_text = sorted(name for name, value in inputs.items() if not isinstance(value, str))
    if not_text:
        kinds = ", ".join(f"{name} ({_kind(inputs[name])})" for name in not_text)
        raise Invalid(f"Inputs must be text; these are not: {kinds}.")
    too_long = sorted(name for name, value in inputs.items() if len(value) > MAX_TEXT_LENGTH)
    if too_long:
        raise Invalid(f"Inputs may hold at most {MAX_TEXT_LENGTH} characters; too long: {', '.join(too_long)}.")
    with_nul = sorted(name for name, value in inputs.items() if "\x00" in value)
    if with_nul:
        raise Invalid(f"Inputs may not contain NUL characters: {', '.join(with_nul)}.")
    return inputs


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "number", float: "number", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )

"""Standard Webhooks verification against signatures the `standardwebhooks` package makes, the
secret box, and which addresses a callback may reach."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from server.hooks.addresses import Target, UnsafeUrl, check_form, refuse
from server.hooks.secret import SecretBox, new_secret, secret_key_bytes
from server.hooks.signing import SignatureError, bearer_matches, sign_headers, verify

BODY = b'{"inputs": {"topic": "otters"}}'


def signed(secret: str, body: bytes = BODY, *, msg_id: str = "msg_1", at: datetime | None = None) -> dict[str, str]:
    moment = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body.decode()),
    }


def test_secrets_have_the_standard_form() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret_key_bytes(secret)) == 32
    assert new_secret() != secret


def test_a_signature_made_by_the_package_verifies() -> None:
    secret = new_secret()
    assert verify(BODY, signed(secret), [secret]) == "msg_1"


def test_any_matching_entry_passes_and_malformed_entries_are_skipped() -> None:
    secret, other = new_secret(), new_secret()
    headers = signed(secret)
    wrong = signed(other)["webhook-signature"]
    headers["webhook-signature"] = f"v2,abc {wrong} v1 v1,%%% nonsense {headers['webhook-signature']}"
    assert verify(BODY, headers, [secret]) == "msg_1"


def test_the_previous_secret_verifies_when_given() -> None:
    old, new = new_secret(), new_secret()
    assert verify(BODY, signed(old), [new, old]) == "msg_1"
    with pytest.raises(SignatureError, match="matches"):
        verify(BODY, signed(old), [new])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: h.update({"webhook-signature": signed(new_secret())["webhook-signature"]}), "matches"),
        (lambda h: h.pop("webhook-id"), "Missing"),
        (lambda h: h.pop("webhook-signature"), "Missing"),
        (lambda h: h.update({"webhook-timestamp": "12.5"}), "whole seconds"),
        (lambda h: h.update({"webhook-id": "x" * 201}), "longer"),
    ],
)
def test_refusals_say_why(change, reason) -> None:  # type: ignore[no-untyped-def]
    secret = new_secret()
    headers = signed(secret)
    change(headers)
    with pytest.raises(SignatureError, match=reason):
        verify(BODY, headers, [secret])


def test_a_tampered_body_fails() -> None:
    secret = new_secret()
    with pytest.raises(SignatureError):
        verify(BODY.replace(b"otters", b"badgers"), signed(secret), [secret])


def test_timestamps_more_than_five_minutes_away_are_refused() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    assert verify(BODY, signed(secret, at=now - timedelta(minutes=4)), [secret])
    with pytest.raises(SignatureError, match="too old"):
        verify(BODY, signed(secret, at=now - timedelta(minutes=6)), [secret])
    with pytest.raises(SignatureError, match="future"):
        verify(BODY, signed(secret, at=now + timedelta(minutes=6)), [secret])


def test_no_secret_never_verifies() -> None:
    secret = new_secret()
    with pytest.raises(SignatureError):
        verify(BODY, signed(secret), [])
    assert not bearer_matches(secret, [])
    assert bearer_matches(secret, [new_secret(), secret]) and not bearer_matches(secret[:-1], [secret])


def test_outgoing_headers_verify_with_the_package() -> None:
    secret = new_secret()
    body = '{"type": "run.finished"}'
    headers = sign_headers(secret, "msg_run", body)
    Webhook(secret).verify(body.encode(), headers)  # raises if wrong


def test_the_box_opens_what_it_sealed_and_survives_a_key_change() -> None:
    secret = new_secret()
    old_box = SecretBox("k" * 40)
    sealed = old_box.seal(secret)
    assert secret not in sealed and old_box.open(sealed) == secret
    with pytest.raises(ValueError, match="another SECRET_KEY"):
        SecretBox("n" * 40).open(sealed)
    rotating = SecretBox("n" * 40, "k" * 40)
    assert rotating.open(sealed) == secret
    assert SecretBox("n" * 40).open(rotating.reencrypt(sealed)) == secret


@pytest.mark.parametrize(
    ("address", "private_allowed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.10.10", True),
        ("100.64.0.1", True),
        ("fd12::1", True),
        ("::ffff:127.0.0.1", True),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
    ],
)
def test_addresses_that_callbacks_may_not_reach(address: str, private_allowed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert refuse(ip, allow_private=False)
    assert (refuse(ip, allow_private=True) == "") is private_allowed


def test_public_addresses_are_fine() -> None:
    assert refuse(ipaddress.ip_address("93.184.216.34"), allow_private=False) == ""
    assert refuse(ipaddress.ip_address("2606:4700::1111"), allow_private=False) == ""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/", "https"),
        ("https:///nohost", "no host"),
        ("https://user:pw@example.com/", "user name"),
        ("https://127.0.0.1/cb", "this machine"),
        ("https://[::1]:8443/cb", "this machine"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://example.com:99999/", "not a valid URL"),
    ],
)
def test_callback_urls_refused_by_form(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_form(url, allow_http=False, allow_private=False)


def test_settings_let_local_receivers_through() -> None:
    assert check_form("http://127.0.0.1:9000/cb", allow_http=True, allow_private=True)
    with pytest.raises(UnsafeUrl, match="metadata"):
        check_form("http://169.254.169.254/", allow_http=True, allow_private=True)


def test_the_connection_goes_to_the_checked_address() -> None:
    target = Target(url="https://hooks.example.com/in?x=1", scheme="https", host="hooks.example.com", port=443,
                    address="2606:4700::1111")  # fmt: skip
    assert target.pinned_url() == "https://[2606:4700::1111]:443/in?x=1"


def test_secret_key_bytes_ignore_missing_padding() -> None:
    raw = bytes(range(32))
    encoded = base64.b64encode(raw).decode()
    assert secret_key_bytes("whsec_" + encoded) == raw == secret_key_bytes("whsec_" + encoded.rstrip("="))

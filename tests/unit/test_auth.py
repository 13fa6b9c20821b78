"""Cookie parsing, the rotation allow-list, and what the client sends (over httpx's MockTransport)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import pytest

from tzbackup_gui.errors import MalformedCookieError, ServiceError
from tzbackup_gui.service import Pacer, RetryPolicy, ShapesClient
from tzbackup_gui.service.auth import (
    DEFAULT_COOKIE_NAME,
    SessionCredential,
    parse_cookie_input,
    rotated_credential,
)

TOKEN = "AbC123~xyz.%2Bq%2F" + "k" * 40 + "=="
LEGACY = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0.." + "z" * 60


# --- parsing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        TOKEN,
        f"  {TOKEN}\n",
        f'"{TOKEN}"',
        f"{DEFAULT_COOKIE_NAME}={TOKEN}",
        f"Cookie: _ga=GA1.1.1; {DEFAULT_COOKIE_NAME}={TOKEN}; datadome=abcdef",
        f"_ga=GA1.1.1; {DEFAULT_COOKIE_NAME}={TOKEN}",
    ],
)
def test_three_input_forms_give_the_session_cookie_only(text: str) -> None:
    cred = parse_cookie_input(text)
    assert cred.cookies == {DEFAULT_COOKIE_NAME: TOKEN}
    assert cred.header_value() == f"{DEFAULT_COOKIE_NAME}={TOKEN}"
    assert not cred.is_legacy


def test_bare_base64_value_with_padding_is_a_value_not_a_pair() -> None:
    value = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy=="
    assert parse_cookie_input(value).cookies == {DEFAULT_COOKIE_NAME: value}


def test_legacy_appsession_single_and_split() -> None:
    single = parse_cookie_input(f"appSession={LEGACY}; other=1")
    assert single.cookies == {"appSession": LEGACY} and single.is_legacy
    half = len(LEGACY) // 2
    split = parse_cookie_input(f"appSession.0={LEGACY[:half]}; appSession.1={LEGACY[half:]}")
    assert split.cookies == {"appSession.0": LEGACY[:half], "appSession.1": LEGACY[half:]}
    assert split.header_value() == f"appSession.0={LEGACY[:half]}; appSession.1={LEGACY[half:]}"


def test_one_half_of_split_legacy_cookie_is_refused() -> None:
    with pytest.raises(MalformedCookieError, match=r"appSession\.1"):
        parse_cookie_input(f"appSession.0={LEGACY}")


def test_talk_site_cookies_only_name_the_wanted_cookie_and_site() -> None:
    secret = "s3cr3t-talk-value-" + "q" * 30
    text = f"Cookie: talk_session={secret}; cf_clearance=abc123; _ga=GA1"
    with pytest.raises(MalformedCookieError) as err:
        parse_cookie_input(text)
    message = str(err.value)
    assert DEFAULT_COOKIE_NAME in message and "https://shapes.inc" in message and "talk.shapes.inc" in message
    assert secret not in message and secret not in repr(err.value)


@pytest.mark.parametrize("value", ["q7Z", "x" * 31, "y" * 513, "has space" + "z" * 40, 'quo"te' + "z" * 40])
def test_bad_values_are_refused_without_echoing_them(value: str) -> None:
    for text in (value, f"{DEFAULT_COOKIE_NAME}={value}"):
        with pytest.raises(MalformedCookieError) as err:
            parse_cookie_input(text)
        assert value not in str(err.value) and value not in repr(err.value)
        assert err.value.hint  # tells the user where to get the right one


def test_boundary_lengths_are_accepted() -> None:
    for n in (32, 512):
        assert parse_cookie_input("a" * n).cookies[DEFAULT_COOKIE_NAME] == "a" * n


def test_empty_input_is_refused() -> None:
    with pytest.raises(MalformedCookieError):
        parse_cookie_input("   ")


def test_credential_repr_and_str_hide_the_value() -> None:
    cred = SessionCredential.from_value(TOKEN)
    assert TOKEN not in repr(cred) and TOKEN not in str(cred) and TOKEN not in f"{cred}"
    assert cred.secrets() == (TOKEN,)
    assert parse_cookie_input(cred.serialize()) == cred


# --- rotation allow-list -------------------------------------------------------------------------------


def test_rotation_takes_only_our_cookie() -> None:
    cred = SessionCredential.from_value(TOKEN)
    new_value = "N" * 40
    headers = [
        "datadome=evil123; Max-Age=31536000; Path=/",
        "_cfuvid=zzz; Path=/",
        f"{DEFAULT_COOKIE_NAME}={new_value}; Path=/; HttpOnly; Secure; SameSite=Lax",
    ]
    rotated = rotated_credential(cred, headers)
    assert rotated is not None and rotated.cookies == {DEFAULT_COOKIE_NAME: new_value}


@pytest.mark.parametrize(
    "header",
    [
        "datadome=evil; Path=/",
        f"{DEFAULT_COOKIE_NAME}={TOKEN}; Path=/",  # same value: no rotation
        f"{DEFAULT_COOKIE_NAME}=; Max-Age=0",  # a deletion is not a rotation
        f"{DEFAULT_COOKIE_NAME}={'D' * 40}; Max-Age=0",
        f"{DEFAULT_COOKIE_NAME}={'D' * 40}; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "appSession=" + "L" * 40,  # a cookie we do not hold
    ],
)
def test_no_rotation(header: str) -> None:
    assert rotated_credential(SessionCredential.from_value(TOKEN), [header]) is None


# --- what goes over the wire (MockTransport) -------------------------------------------------------------


class Recorder:
    """A mock service: records request headers, answers JSON with configurable Set-Cookie headers."""

    def __init__(self, set_cookies: list[list[str]]) -> None:
        self.requests: list[httpx.Request] = []
        self.set_cookies = set_cookies

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        n = len(self.requests) - 1
        headers = [("set-cookie", v) for v in (self.set_cookies[n] if n < len(self.set_cookies) else [])]
        if request.url.host == "files.example.test":
            return httpx.Response(200, content=b"\x89PNG", headers=headers)
        return httpx.Response(200, json={"id": "u1"}, headers=headers)


def _client(http: httpx.AsyncClient, **kwargs: object) -> ShapesClient:
    return ShapesClient(
        http, SessionCredential.from_value(TOKEN), base_url="https://api.example.test",
        files_base_url="https://files.example.test", pacer=Pacer(0), retry=RetryPolicy(base_delay=0),
        **kwargs,  # type: ignore[arg-type]
    )


def test_foreign_set_cookie_is_never_sent_back_and_rotation_is_used() -> None:
    new_value = "R" * 48
    rec = Recorder([
        ["datadome=evil123; Path=/; Max-Age=999", "_cfuvid=zzz; Path=/"],
        [f"{DEFAULT_COOKIE_NAME}={new_value}; Path=/; Secure; HttpOnly", "datadome=again; Path=/"],
        [],
    ])
    rotations: list[SessionCredential] = []

    async def run() -> ShapesClient:
        async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
            client = _client(http, on_rotate=rotations.append)
            for _ in range(3):
                await client.me()
            assert len(http.cookies) == 0
            return client

    client = asyncio.run(run())
    cookies = [r.headers.get_list("cookie") for r in rec.requests]
    assert cookies == [
        [f"{DEFAULT_COOKIE_NAME}={TOKEN}"],
        [f"{DEFAULT_COOKIE_NAME}={TOKEN}"],
        [f"{DEFAULT_COOKIE_NAME}={new_value}"],
    ]
    assert all("datadome" not in (r.headers.get("cookie") or "") for r in rec.requests)
    assert [c.cookies for c in rotations] == [{DEFAULT_COOKIE_NAME: new_value}]
    assert client.credential.cookies == {DEFAULT_COOKIE_NAME: new_value}
    assert all(r.headers["accept"] == "application/json" for r in rec.requests)
    assert all("Mozilla/5.0" in r.headers["user-agent"] for r in rec.requests)


def test_files_host_gets_no_cookie_and_other_hosts_are_refused() -> None:
    rec = Recorder([])

    async def run() -> tuple[bytes, ShapesClient]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
            client = _client(http)
            data = await client.download("https://files.example.test/api/files/avatar_1.png")
            for bad in ("https://evil.example.test/x.png", "https://files.example.test.evil.test/a.png",
                        "file:///etc/passwd", "http://api.example.test/a.png"):
                with pytest.raises(ServiceError) as err:
                    await client.download(bad)
                assert TOKEN not in str(err.value)
            return data, client

    data, client = asyncio.run(run())
    assert data == b"\x89PNG"
    assert len(rec.requests) == 1 and client.requests_made == 1
    assert "cookie" not in rec.requests[0].headers


def test_download_from_the_service_origin_carries_the_cookie() -> None:
    rec = Recorder([])

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
            await _client(http).download("https://api.example.test/static/a.png")

    asyncio.run(run())
    assert rec.requests[0].headers["cookie"] == f"{DEFAULT_COOKIE_NAME}={TOKEN}"


def test_slug_is_url_encoded_in_the_path() -> None:
    rec = Recorder([])

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
            await _client(http).get_profile("zoë/../x?y")

    asyncio.run(run())
    assert rec.requests[0].url.raw_path.decode() == "/api/shapes/username/" + quote("zoë/../x?y", safe="")

"""The sandbox service over real loopback HTTP (plain httpx): data, auth, variants, faults, rotation,
mutations, hooks, control endpoints, CLI."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tzbackup_gui.sandbox import DEMO_USER_ID, OTHER_USER_ID, SESSION_COOKIE, SandboxServer, SandboxState
from tzbackup_gui.sandbox.state import RequestRecord
from tzbackup_gui.service.auth import parse_cookie_input, rotated_credential

JSON = dict[str, Any]


def _auth(sb: SandboxServer, cookie: str | None = None) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={cookie if cookie is not None else sb.cookie}"}


def get(client: httpx.Client, sb: SandboxServer, path: str, cookie: str | None = None,
        **params: Any) -> httpx.Response:
    """GET with an explicit Cookie header (never the client's jar)."""
    client.cookies.clear()
    return client.get(path, params=params or None, headers=_auth(sb, cookie))


def shape_id(sb: SandboxServer, slug: str = "lilith") -> str:
    return sb.state.get(slug).id


def walk_memories(client: httpx.Client, sb: SandboxServer, slug: str = "lilith") -> list[JSON]:
    """Every memory, newest first, by following has_next."""
    out: list[JSON] = []
    page = 1
    while True:
        body = get(client, sb, f"/api/memory/{shape_id(sb, slug)}", page=page, limit=20).json()
        out.extend(body["items"])
        if not body["pagination"]["has_next"]:
            return out
        page += 1


# ---------------------------------------------------------------------------------------- data
def test_users_and_shape_lists(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    me = get(sandbox_http, sandbox, "/api/users/me").json()
    assert me["id"] == DEMO_USER_ID == sandbox.demo_user["id"]
    info = get(sandbox_http, sandbox, "/api/users/info").json()
    assert info["uuid"] == DEMO_USER_ID and info["email"]
    own = get(sandbox_http, sandbox, "/api/shapes", category="self").json()
    assert isinstance(own, list)
    slugs = [s["username"] for s in own]
    assert {"lilith", "echo-new", "dr.ada.lovelace", "zoë-✨", "captain-nemo"} == set(slugs)
    assert "public-oracle" not in slugs
    assert all({"id", "name", "username", "avatar"} <= set(s) for s in own)
    assert {s["id"] for s in info["shapes"]} == {s["id"] for s in own}
    recent = get(sandbox_http, sandbox, "/api/shapes", category="recent").json()
    assert [s["username"] for s in recent] == ["public-oracle"]
    counts = {p.slug: len(p.memories) for p in sandbox.state.personalities.values()}
    assert counts["lilith"] >= 2500 and counts["echo-new"] == 0
    assert any(" " in p.name and "." in p.name for p in sandbox.state.personalities.values())


def test_full_profile_for_owner(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    r = get(sandbox_http, sandbox, "/api/shapes/username/lilith")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    p = r.json()
    assert p["username"] == "lilith" and p["name"] == "Lilith" and p["id"] == shape_id(sandbox)
    assert len(p) + len(p["shape_settings"]) >= 170
    assert p["user_id"] == [DEMO_USER_ID]
    for key in ("jailbreak", "user_prompt", "personality_traits", "engine_model", "stm_window",
                "ltm_enabled", "voice_model", "image_model", "created_ts"):
        assert key in p
    assert p["avatar"].startswith(sandbox.files_base_url + "/api/files/avatar_")
    co_owned = get(sandbox_http, sandbox, "/api/shapes/username/captain-nemo").json()
    assert co_owned["user_id"] == [OTHER_USER_ID, DEMO_USER_ID]  # an array; the demo user is not first


def test_encoded_slugs_and_unknown_slug(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    r = get(sandbox_http, sandbox, "/api/shapes/username/" + quote("zoë-✨", safe=""))
    assert r.status_code == 200 and r.json()["username"] == "zoë-✨"
    ada = get(sandbox_http, sandbox, "/api/shapes/username/dr.ada.lovelace").json()
    assert ada["name"] == "Dr. Ada Lovelace"
    r = get(sandbox_http, sandbox, "/api/shapes/username/nobody-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert sandbox.state.request_log[0].path == "/api/shapes/username/zoë-✨"  # logged decoded


def test_not_owned_gets_public_subset_with_id(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    p = get(sandbox_http, sandbox, "/api/shapes/username/public-oracle").json()
    assert p["id"] == shape_id(sandbox, "public-oracle")
    assert OTHER_USER_ID in p["user_id"] and DEMO_USER_ID not in p["user_id"]
    assert "jailbreak" not in p and "user_prompt" not in p and "engine_model" not in p
    assert len(p) < 30


def test_avatar_served_without_auth(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    url = sandbox.state.get("lilith").profile["avatar"]
    r = sandbox_http.get(url)  # no cookie at all
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n") and r.content.endswith(b"IEND\xaeB`\x82")
    other = sandbox_http.get(sandbox.state.get("echo-new").profile["avatar"]).content
    assert other != r.content
    assert sandbox_http.get(f"{sandbox.files_base_url}/api/files/avatar_nope.png").status_code == 404


def test_seed_is_deterministic() -> None:
    a, b, c = SandboxState(1), SandboxState(1), SandboxState(2)
    ids_a = [m["id"] for m in a.get("lilith").memories]
    assert ids_a == [m["id"] for m in b.get("lilith").memories]
    assert ids_a != [m["id"] for m in c.get("lilith").memories]
    assert a.get("lilith").profile == b.get("lilith").profile


def test_memory_objects_follow_the_documented_shape(sandbox: SandboxServer) -> None:
    mems = sandbox.state.get("lilith").memories
    m = mems[0]
    assert set(m) == {"id", "shape_id", "senders", "result", "summary_type", "deleted", "group",
                      "created_at", "metadata"}
    assert set(m["metadata"]) == {"start_ts", "end_ts", "created_at", "senders", "discord_channel_id",
                                  "discord_guild_id", "msg_ids", "group", "shape_id"}
    first, last = m["id"].split("/")
    assert m["metadata"]["msg_ids"][0] == first and m["metadata"]["msg_ids"][-1] == last
    assert m["metadata"]["start_ts"] < m["metadata"]["end_ts"] < m["created_at"]
    keys = [(x["created_at"], x["id"]) for x in mems]
    assert keys == sorted(keys)
    ties = sum(1 for x, y in itertools.pairwise(mems) if x["created_at"] == y["created_at"])
    assert 1 <= ties < 50


def test_fifty_thousand_memories_generate_fast(sandbox: SandboxServer) -> None:
    start = time.perf_counter()
    p = sandbox.state.add_personality("huge", "Huge", memories=50_000)
    elapsed = time.perf_counter() - start
    assert len(p.memories) == 50_000 and len({m["id"] for m in p.memories}) == 50_000
    assert elapsed < 5.0, elapsed


# ---------------------------------------------------------------------------------------- auth
@pytest.mark.parametrize("cookie_header", [None, f"{SESSION_COOKIE}=" + "x" * 40, "appSession=" + "y" * 40,
                                           "other=1"])
def test_missing_or_wrong_cookie_is_401(sandbox: SandboxServer, sandbox_http: httpx.Client,
                                        cookie_header: str | None) -> None:
    headers = {} if cookie_header is None else {"Cookie": cookie_header}
    for path in ("/api/users/info", "/api/users/me", f"/api/memory/{shape_id(sandbox)}"):
        r = sandbox_http.get(path, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
        assert r.headers["content-type"] == "application/json" and r.headers["cf-ray"]
    assert [rec.authenticated for rec in sandbox.state.request_log] == [False] * 3


def test_sandbox_cookie_is_a_valid_credential(sandbox: SandboxServer) -> None:
    cred = parse_cookie_input(sandbox.cookie)
    assert cred.secrets() == (sandbox.cookie,)
    header = f"Cookie: a=b; {SESSION_COOKIE}={sandbox.cookie}"
    assert parse_cookie_input(header).secrets() == (sandbox.cookie,)


def test_legacy_app_session_cookie(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    value = sandbox.state.legacy_session()
    assert sandbox_http.get("/api/users/info", headers={"Cookie": f"appSession={value}"}).status_code == 200
    split = f"appSession.0={value[:30]}; appSession.1={value[30:]}"
    assert sandbox_http.get("/api/users/info", headers={"Cookie": split}).status_code == 200
    assert parse_cookie_input(f"appSession={value}").names == ("appSession",)


def test_cf_ray_everywhere_and_datadome_cookie_now_and_then(sandbox: SandboxServer,
                                                            sandbox_http: httpx.Client) -> None:
    set_cookies: list[str] = []
    for _ in range(12):
        r = get(sandbox_http, sandbox, "/api/users/info")
        assert r.headers["cf-ray"].endswith("-FRA")
        set_cookies += r.headers.get_list("set-cookie")
    assert set_cookies and all(c.startswith("datadome=") for c in set_cookies)
    cred = parse_cookie_input(sandbox.cookie)
    assert rotated_credential(cred, set_cookies) is None  # a client must ignore them


# ------------------------------------------------------------------------------------ memories
def test_memory_pages_newest_first_and_complete(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    mems = sandbox.state.get("lilith").memories
    walked = walk_memories(sandbox_http, sandbox)
    assert [m["id"] for m in walked] == [m["id"] for m in reversed(mems)]
    first = get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}", page=1, limit=20).json()
    assert first["pagination"] == {"page": 1, "has_next": True, "total": len(mems)}
    assert first["items"][0] == mems[-1]  # exactly the stored object, created_at in both places


def test_memory_limit_capped_page_past_end_and_unknown_shape(sandbox: SandboxServer,
                                                             sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    assert len(get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1, limit=1000).json()["items"]) == 20
    small = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=2, limit=7).json()
    stored = sandbox.state.get("lilith").memories
    assert [m["id"] for m in small["items"]] == [m["id"] for m in stored[-14:-7]][::-1]
    past = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=500, limit=20).json()
    assert past["items"] == [] and past["pagination"]["has_next"] is False
    assert get(sandbox_http, sandbox, "/api/memory/00000000-0000-4000-8000-000000000000").status_code == 404
    assert get(sandbox_http, sandbox, f"/api/memory/{sid}", page=0).status_code == 400
    empty = get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox, 'echo-new')}", page=1).json()
    assert empty["items"] == [] and empty["pagination"]["total"] == 0


@pytest.mark.parametrize(("pagination", "include_total", "check"), [
    ("has_next", True, lambda b: b["pagination"] == {"page": 2, "has_next": True, "total": 2600}),
    ("has_next", False, lambda b: b["pagination"] == {"page": 2, "has_next": True}),
    ("total_pages", True, lambda b: b["pagination"] == {"total_pages": 130, "total": 2600}),
    ("total_pages", False, lambda b: b["pagination"] == {"total_pages": 130}),
    ("totalPages", True, lambda b: b["totalPages"] == 130 and b["total"] == 2600 and "pagination" not in b),
    ("meta", False, lambda b: b["meta"] == {"pagination": {"total_pages": 130, "page": 2}}),
    ("meta", True, lambda b: b["meta"]["pagination"]["total"] == 2600),
    ("none", True, lambda b: set(b) == {"items"}),
])
def test_pagination_variants(sandbox: SandboxServer, sandbox_http: httpx.Client, pagination: str,
                             include_total: bool, check: Any) -> None:
    sandbox.state.set_variant(pagination=pagination, include_total=include_total)
    body = get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}", page=2, limit=20).json()
    assert len(body["items"]) == 20
    assert check(body), body | {"items": "..."}


def test_items_key_variants(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    expected = [m["id"] for m in sandbox.state.get("lilith").memories[-20:]][::-1]
    sandbox.state.set_variant(items_key="memories")
    body = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1).json()
    assert "items" not in body and [m["id"] for m in body["memories"]] == expected
    sandbox.state.set_variant(items_key="bare")
    body = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1).json()
    assert isinstance(body, list) and [m["id"] for m in body] == expected


def test_created_at_variants(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    sandbox.state.set_variant(created_at="metadata")
    items = get(sandbox_http, sandbox, f"/api/memory/{sid}").json()["items"]
    assert all("created_at" not in m and "created_at" in m["metadata"] for m in items)
    sandbox.state.set_variant(created_at="top")
    items = get(sandbox_http, sandbox, f"/api/memory/{sid}").json()["items"]
    assert all("created_at" in m and "created_at" not in m["metadata"] for m in items)
    assert "created_at" in sandbox.state.get("lilith").memories[-1]["metadata"]  # stored copy untouched


def test_empty_memories_as_404_variant(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_variant(empty_memories="404")
    assert get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox, 'echo-new')}").status_code == 404
    assert get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}").status_code == 200


def test_set_variant_rejects_unknown_values(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="pagination"):
        sandbox.state.set_variant(pagination="cursor")
    with pytest.raises(TypeError):
        sandbox.state.set_variant(colour="blue")


# ------------------------------------------------------------------------- story, training, user
@pytest.mark.parametrize(("envelope", "extract"), [
    ("bare", lambda b: b),
    ("items", lambda b: b["items"]),
    ("story", lambda b: b["story"]),
    ("knowledge", lambda b: b["knowledge"]),
    ("single", lambda b: [b]),
])
def test_story_envelopes(sandbox: SandboxServer, sandbox_http: httpx.Client, envelope: str,
                         extract: Any) -> None:
    sandbox.state.set_variant(story_envelope=envelope)
    stored = sandbox.state.get("lilith").story
    entries = extract(get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox)}/story").json())
    assert entries == (stored[:1] if envelope == "single" else stored)
    assert {e["story_type"] for e in stored} == {"general", "command", "relationship"}
    assert get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox, 'echo-new')}/story").status_code == 404


def test_training_and_user_personalization(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    assert get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox)}/training").json() == []
    ada = get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox, 'dr.ada.lovelace')}/training").json()
    assert len(ada) == 2
    sandbox.state.set_variant(story_envelope="story")
    wrapped = get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox, 'dr.ada.lovelace')}/training")
    assert wrapped.json() == {"training": ada}
    user = get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox)}/user").json()
    assert user["preferred_name"] and user["backstory"]
    assert get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox, 'echo-new')}/user").json() == {}
    assert get(sandbox_http, sandbox, f"/api/shapes/{shape_id(sandbox, 'zoë-✨')}/user").status_code == 404
    assert get(sandbox_http, sandbox, "/api/shapes/not-a-shape/story").status_code == 404


# ------------------------------------------------------------------------------------------ chat
def test_chat_history_pages_backwards_with_strict_before_ts(sandbox: SandboxServer,
                                                             sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    chat = sandbox.state.get("lilith").chat
    first = get(sandbox_http, sandbox, f"/api/shapes/{sid}/chat/history", limit=500, shape_id=sid).json()
    assert isinstance(first, list) and first == chat[-50:]  # newest batch, capped at 50
    # the oldest message of the newest batch shares its ts with the next older one
    boundary = min(m["ts"] for m in first)
    assert chat[-51]["ts"] == boundary
    seen: list[JSON] = list(first)
    before = boundary
    while True:
        batch = get(sandbox_http, sandbox, f"/api/shapes/{sid}/chat/history", limit=50, shape_id=sid,
                    before_ts=repr(before)).json()
        if not batch:
            break
        assert all(m["ts"] < before for m in batch)
        seen = batch + seen
        before = min(m["ts"] for m in batch)
    # strict '<' loses the message that shared the boundary ts: exactly what clients must guard against
    assert len(seen) == len(chat) - 1 and chat[-51] not in seen
    assert any(m["message"] is None or m["reply"] is None for m in chat)


# ---------------------------------------------------------------------------------------- faults
@pytest.mark.parametrize("retry_after", ["2", formatdate(time.time() + 3, usegmt=True), None])
def test_rate_limit(sandbox: SandboxServer, sandbox_http: httpx.Client, retry_after: str | None) -> None:
    sandbox.state.set_fault("rate_limit", count=2, retry_after=retry_after)
    for _ in range(2):
        r = get(sandbox_http, sandbox, "/api/users/info")
        assert r.status_code == 429 and r.headers.get("retry-after") == retry_after
        assert r.headers["content-type"] == "application/json"
    assert get(sandbox_http, sandbox, "/api/users/info").status_code == 200
    assert [rec.fault for rec in sandbox.state.request_log] == ["rate_limit", "rate_limit", None]
    assert [rec.status for rec in sandbox.state.request_log] == [429, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_burst(sandbox: SandboxServer, sandbox_http: httpx.Client, status: int) -> None:
    sandbox.state.set_fault("server_error", count=3, status=status)
    codes = [get(sandbox_http, sandbox, "/api/users/me").status_code for _ in range(4)]
    assert codes == [status] * 3 + [200]


def test_fault_after_and_path_contains(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    sandbox.state.set_fault("server_error", count=1, after=2, path_contains="/api/memory/")
    codes = [get(sandbox_http, sandbox, "/api/users/me").status_code]
    codes += [get(sandbox_http, sandbox, f"/api/memory/{sid}", page=p).status_code for p in (1, 2, 3, 4)]
    assert codes == [200, 200, 200, 500, 200]


def test_fault_without_count_lasts_until_cleared(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_fault("server_error", count=None, status=503)
    assert [get(sandbox_http, sandbox, "/api/users/me").status_code for _ in range(5)] == [503] * 5
    sandbox.state.clear_faults()
    assert get(sandbox_http, sandbox, "/api/users/me").status_code == 200


def test_unknown_fault_or_parameter_is_rejected(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.state.set_fault("meteor")
    with pytest.raises(ValueError, match="no parameter"):
        sandbox.state.set_fault("drop", seconds=3)
    with pytest.raises(ValueError, match="vendor"):
        sandbox.state.set_fault("bot_wall", vendor="akamai")


def test_slow(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_fault("slow", seconds=0.3)
    start = time.perf_counter()
    r = get(sandbox_http, sandbox, "/api/users/me")
    assert r.status_code == 200 and r.json()["id"] == DEMO_USER_ID
    assert time.perf_counter() - start >= 0.3
    with httpx.Client(base_url=sandbox.base_url, timeout=0.1) as impatient:
        sandbox.state.set_fault("slow", seconds=0.5)
        with pytest.raises(httpx.ReadTimeout):
            impatient.get("/api/users/me", headers=_auth(sandbox))


def test_drop_closes_without_answer(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_fault("drop", path_contains="/api/memory/")
    with pytest.raises(httpx.RemoteProtocolError):
        get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}")
    assert sandbox.state.request_log[-1].status == 0 and sandbox.state.request_log[-1].fault == "drop"
    assert get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}").status_code == 200


def test_truncated_json(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_fault("truncated_json")
    r = get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content) > 100
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}").json()["items"]


@pytest.mark.parametrize(("vendor", "status", "header"), [
    ("cloudflare", 403, ("cf-mitigated", "challenge")),
    ("datadome", 403, ("x-datadome", "protected")),
    ("perimeterx", 403, ("x-px-block", "1")),
    ("html", 200, None),
])
def test_bot_walls(sandbox: SandboxServer, sandbox_http: httpx.Client, vendor: str, status: int,
                   header: tuple[str, str] | None) -> None:
    sandbox.state.set_fault("bot_wall", vendor=vendor)
    r = get(sandbox_http, sandbox, "/api/users/info")
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().lower().startswith(("<!doctype html", "<html"))
    if header:
        assert r.headers[header[0]] == header[1]
    if vendor == "datadome":
        assert r.headers["x-datadome-cid"]
    assert get(sandbox_http, sandbox, "/api/users/info").status_code == 200


def test_login_redirect(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_fault("login_redirect")
    r = get(sandbox_http, sandbox, "/api/users/info")
    assert r.status_code == 302 and not r.is_success
    assert r.headers["location"] == "/login?redirect=%2Fapi%2Fusers%2Finfo"


def _without_items(body: Any) -> Any:
    """A memory-page body with its item list left out (everything the pagination says stays)."""
    if isinstance(body, list):
        return "bare"
    return {k: v for k, v in body.items() if k not in ("items", "memories")}


@pytest.mark.parametrize(("items_key", "pagination", "include_total"), [
    ("items", "has_next", False), ("items", "has_next", True), ("items", "total_pages", True),
    ("memories", "totalPages", True), ("items", "meta", False), ("bare", "none", False),
])
def test_empty_page_keeps_the_pagination(sandbox: SandboxServer, sandbox_http: httpx.Client, items_key: str,
                                         pagination: str, include_total: bool) -> None:
    sid = shape_id(sandbox)
    sandbox.state.set_variant(items_key=items_key, pagination=pagination, include_total=include_total)
    real = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=3).json()
    sandbox.state.set_fault("empty_page")
    r = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=3)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert _without_items(body) == _without_items(real)
    assert (body if items_key == "bare" else body[items_key]) == []
    assert len(real if items_key == "bare" else real[items_key]) == 20
    assert sandbox.state.request_log[-1].fault == "empty_page"
    again = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=3).json()
    assert again == real  # count=1: the next request is answered normally


def test_empty_page_counts_only_memory_pages(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    sandbox.state.set_fault("empty_page", count=2, after=1)
    assert get(sandbox_http, sandbox, "/api/shapes/username/lilith").json()["id"] == sid  # not a memory page
    pages = [get(sandbox_http, sandbox, f"/api/memory/{sid}", page=p).json() for p in (1, 2, 3, 4)]
    counts = [len(body["items"]) for body in pages]
    assert counts == [20, 0, 0, 20]
    assert [rec.fault for rec in sandbox.state.request_log] == [None, None, "empty_page", "empty_page", None]
    page = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=2).json()["pagination"]
    assert page == {"page": 2, "has_next": True, "total": len(sandbox.state.get("lilith").memories)}


def test_empty_page_leaves_an_error_answer_alone(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_fault("empty_page")
    r = get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox)}", cookie="not-a-valid-session-value")
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"


def test_not_found_fault(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    sandbox.state.set_fault("not_found", count=1, after=1, path_contains="/api/memory/")
    r1 = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1)
    r2 = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=2)
    r3 = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=3)
    assert [r1.status_code, r2.status_code, r3.status_code] == [200, 404, 200]
    assert r2.headers["content-type"] == "application/json"
    assert r2.json()["error"] == "Not Found" and r2.json()["statusCode"] == 404
    unknown = get(sandbox_http, sandbox, "/api/memory/00000000-0000-4000-8000-000000000000").json()
    assert set(r2.json()) == set(unknown)  # shaped like the sandbox's own 404
    assert [rec.fault for rec in sandbox.state.request_log] == [None, "not_found", None, None]
    assert sandbox.state.request_log[1].status == 404
    sandbox.state.set_fault("not_found")
    assert get(sandbox_http, sandbox, "/api/shapes/username/lilith").status_code == 404
    assert get(sandbox_http, sandbox, "/api/shapes/username/lilith").status_code == 200


def test_new_faults_over_the_control_endpoint(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    assert control(sandbox_http, "set_fault", name="empty_page", count=1, after=1).json()["ok"]
    assert control(sandbox_http, "set_fault", name="not_found", count=1,
                   path_contains="/api/users/").json()["ok"]
    assert get(sandbox_http, sandbox, "/api/users/me").status_code == 404
    assert len(get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1).json()["items"]) == 20
    assert get(sandbox_http, sandbox, f"/api/memory/{sid}", page=2).json()["items"] == []
    assert control(sandbox_http, "set_fault", name="empty_page", status=500).status_code == 400


def test_expire_after_then_new_session(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    old = sandbox.cookie
    sandbox.state.set_fault("expire_after", requests=3)
    codes = [get(sandbox_http, sandbox, "/api/users/me", cookie=old).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 401, 401]
    dead = get(sandbox_http, sandbox, "/api/users/me", cookie=old)
    assert dead.json()["message"] == "missing or invalid session"
    fresh = sandbox.state.new_session()
    assert fresh != old and sandbox.cookie == fresh
    assert get(sandbox_http, sandbox, "/api/users/me", cookie=fresh).status_code == 200
    assert get(sandbox_http, sandbox, "/api/users/me", cookie=old).status_code == 401


# -------------------------------------------------------------------------------------- rotation
def test_rotation_keeps_previous_value_valid(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.rotate_every = 2
    c0 = sandbox.cookie
    first = get(sandbox_http, sandbox, "/api/users/me", cookie=c0)
    assert not [h for h in first.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)]
    r = get(sandbox_http, sandbox, "/api/users/me", cookie=c0)
    rotations = [h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)]
    assert len(rotations) == 1
    assert rotations[0].endswith("; Path=/; Max-Age=604800; HttpOnly; Secure; SameSite=Lax")
    cred = rotated_credential(parse_cookie_input(c0), r.headers.get_list("set-cookie"))
    assert cred is not None
    c1 = cred.secrets()[0]
    assert c1 == sandbox.cookie != c0
    # both the old and the new value work for a while (one generation of grace)
    assert get(sandbox_http, sandbox, "/api/users/me", cookie=c0).status_code == 200
    r = get(sandbox_http, sandbox, "/api/users/me", cookie=c1)  # 4th request: rotation to c2
    c2 = sandbox.cookie
    assert c2 not in (c0, c1) and f"{SESSION_COOKIE}={c2};" in r.headers["set-cookie"]
    assert get(sandbox_http, sandbox, "/api/users/me", cookie=c1).status_code == 200
    assert get(sandbox_http, sandbox, "/api/users/me", cookie=c0).status_code == 401  # two generations old


def test_rotation_from_constructor_and_401_does_not_count() -> None:
    with SandboxServer(port=0, rotate_every=1) as sb, httpx.Client(base_url=sb.base_url) as client:
        assert client.get("/api/users/me").status_code == 401
        assert sb.state.sessions.rotations == 0
        r = client.get("/api/users/me", headers=_auth(sb))
        assert sb.state.sessions.rotations == 1 and sb.cookie in r.headers["set-cookie"]


# ------------------------------------------------------------------------------------- mutations
def test_add_edit_delete_reset(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    st = sandbox.state
    before = walk_memories(sandbox_http, sandbox, "dr.ada.lovelace")
    new_ids = st.add_memories("dr.ada.lovelace", 5)
    assert len(new_ids) == 5
    page1 = get(sandbox_http, sandbox, f"/api/memory/{shape_id(sandbox, 'dr.ada.lovelace')}").json()
    assert [m["id"] for m in page1["items"][:5]] == new_ids[::-1]
    assert page1["items"][4]["created_at"] > before[0]["created_at"]

    target = before[40]["id"]
    st.edit_memory("dr.ada.lovelace", target, "Edited: Ada and the user fixed the difference engine.")
    st.delete_memory("dr.ada.lovelace", before[0]["id"])
    st.delete_memory("dr.ada.lovelace", before[1]["id"], soft=True)
    after = {m["id"]: m for m in walk_memories(sandbox_http, sandbox, "dr.ada.lovelace")}
    assert len(after) == len(before) + 5 - 1
    assert before[0]["id"] not in after and after[before[1]["id"]]["deleted"] is True
    assert after[target]["result"].startswith("Edited:")
    with pytest.raises(KeyError):
        st.edit_memory("dr.ada.lovelace", before[0]["id"], "gone")

    st.reset_memories("dr.ada.lovelace")
    assert walk_memories(sandbox_http, sandbox, "dr.ada.lovelace") == []
    later = st.add_memories("dr.ada.lovelace", 1)
    assert st.get("dr.ada.lovelace").memories[0]["created_at"] > page1["items"][0]["created_at"]
    st.reset_all()
    assert [m["id"] for m in walk_memories(sandbox_http, sandbox, "dr.ada.lovelace")] == [
        m["id"] for m in before]
    assert later[0] not in st.get("dr.ada.lovelace").memory_index


def test_add_rename_remove_personality(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    st = sandbox.state
    p = st.add_personality("../etc", "Hostile / Name", memories=45)
    r = get(sandbox_http, sandbox, "/api/shapes/username/" + quote("../etc", safe=""))
    assert r.json()["id"] == p.id and len(walk_memories(sandbox_http, sandbox, "../etc")) == 45
    own = get(sandbox_http, sandbox, "/api/shapes", category="self").json()
    assert "../etc" in [s["username"] for s in own]
    st.rename_personality("../etc", "renamed")
    assert get(sandbox_http, sandbox, "/api/shapes/username/renamed").json()["id"] == p.id
    assert get(sandbox_http, sandbox, "/api/shapes/username/" + quote("../etc", safe="")).status_code == 404
    stranger = st.add_personality("stranger", owned=False)
    assert get(sandbox_http, sandbox, "/api/shapes/username/stranger").json()["user_id"] == [OTHER_USER_ID]
    st.remove_personality("renamed")
    assert get(sandbox_http, sandbox, f"/api/memory/{p.id}").status_code == 404
    assert stranger.id not in [s["id"] for s in get(sandbox_http, sandbox, "/api/shapes",
                                                     category="self").json()]


# ----------------------------------------------------------------------------------- hooks, log
def test_hook_mutates_mid_run(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    st = sandbox.state
    sid = shape_id(sandbox)
    seen: list[RequestRecord] = []

    def hook(record: RequestRecord) -> None:
        seen.append(record)
        if record.path.startswith("/api/memory/") and record.query.get("page") == "2":
            st.add_memories("lilith", 3)  # a mutation from inside a hook: no deadlock

    st.hooks.append(hook)
    page1 = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1).json()["items"]
    page2 = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=2).json()["items"]
    # three newer memories pushed everything down: page 2 now starts with the last 3 items of page 1
    assert [m["id"] for m in page2[:3]] == [m["id"] for m in page1[-3:]]
    assert [r.status for r in seen] == [200, 200]  # records are completed after the answer
    assert seen[1].query == {"page": "2"} and st.count() == 2 and st.count("/api/users") == 0
    assert st.hook_errors == []


def test_broken_hook_is_recorded_not_fatal(sandbox: SandboxServer, sandbox_http: httpx.Client,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def broken(record: RequestRecord) -> None:
        raise RuntimeError("boom")

    sandbox.state.hooks.append(broken)
    assert get(sandbox_http, sandbox, "/api/users/me").status_code == 200
    assert [str(e) for e in sandbox.state.hook_errors] == ["boom"]
    assert "boom" in capsys.readouterr().err


def test_request_log_and_clear(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox)
    get(sandbox_http, sandbox, f"/api/memory/{sid}", page=3, limit=20)
    sandbox_http.get("/api/users/me")
    log = sandbox.state.request_log
    assert [(r.method, r.path, r.query, r.status) for r in log] == [
        ("GET", f"/api/memory/{sid}", {"page": "3", "limit": "20"}, 200), ("GET", "/api/users/me", {}, 401)]
    assert log[0].ts <= log[1].ts and log[0].authenticated and not log[1].authenticated
    sandbox.state.clear_log()
    assert sandbox.state.count() == 0


# --------------------------------------------------------------------------------- control (HTTP)
def control(client: httpx.Client, op: str, **body: Any) -> httpx.Response:
    return client.post(f"/__sandbox/{op}", json=body)


def test_control_endpoints(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sid = shape_id(sandbox, "zoë-✨")
    r = control(sandbox_http, "add_memories", slug="zoë-✨", n=2)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    ids = r.json()["result"]
    assert len(ids) == 2 and ids[-1] == sandbox.state.get("zoë-✨").memories[-1]["id"]
    assert control(sandbox_http, "edit_memory", slug="zoë-✨", memory_id=ids[0], text="changed").json()["ok"]
    assert control(sandbox_http, "delete_memory", slug="zoë-✨", memory_id=ids[1], soft=True).json()["ok"]
    items = get(sandbox_http, sandbox, f"/api/memory/{sid}").json()["items"]
    assert items[0]["deleted"] is True and items[1]["result"] == "changed"

    assert control(sandbox_http, "set_variant", items_key="bare").json()["result"]["items_key"] == "bare"
    assert isinstance(get(sandbox_http, sandbox, f"/api/memory/{sid}").json(), list)
    control(sandbox_http, "set_fault", name="rate_limit", retry_after=None)
    assert get(sandbox_http, sandbox, "/api/users/me").status_code == 429
    control(sandbox_http, "set_fault", name="server_error", count=None)
    control(sandbox_http, "clear_faults")
    assert get(sandbox_http, sandbox, "/api/users/me").status_code == 200

    r = control(sandbox_http, "add_personality", slug="bench", name="Bench", memories=300)
    added = r.json()["result"]
    assert added["memories"] == 300 and sandbox.state.get("bench").id == added["id"]
    fresh = control(sandbox_http, "new_session").json()["result"]
    assert fresh == sandbox.cookie
    control(sandbox_http, "set_rotation", every=1)
    assert sandbox.state.rotate_every == 1
    control(sandbox_http, "reset_memories", slug="bench")
    assert sandbox.state.get("bench").memories == []
    control(sandbox_http, "reset_all")
    assert "bench" not in sandbox.state.personalities

    log = sandbox_http.get("/__sandbox/log").json()["result"]
    # control requests are not logged
    assert [e["path"] for e in log] == [f"/api/memory/{sid}"] * 2 + ["/api/users/me"] * 2
    info = sandbox_http.get("/__sandbox/info").json()["result"]
    assert info["cookie"] == sandbox.cookie and {p["slug"] for p in info["personalities"]} >= {"lilith"}
    control(sandbox_http, "clear_log")
    assert sandbox_http.get("/__sandbox/log").json()["result"] == []


def test_control_errors(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    assert control(sandbox_http, "format_disk").status_code == 404
    assert control(sandbox_http, "add_memories", slug="lilith").status_code == 400  # missing n
    assert control(sandbox_http, "set_fault", name="meteor").status_code == 400
    assert control(sandbox_http, "delete_memory", slug="nobody", memory_id="x").status_code == 404
    r = sandbox_http.post("/__sandbox/reset_all", content=b"[1, 2]")
    assert r.status_code == 400 and r.json()["ok"] is False


# ------------------------------------------------------------------------------ server mechanics
def test_page_latency_about_a_millisecond(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    """Keep-alive + TCP_NODELAY: without NODELAY a request costs ~44 ms (Nagle + delayed ACK)."""
    sid = shape_id(sandbox)
    headers = _auth(sandbox)
    times = []
    for page in range(1, 61):
        start = time.perf_counter()
        r = sandbox_http.get(f"/api/memory/{sid}", params={"page": page, "limit": 20}, headers=headers)
        times.append(time.perf_counter() - start)
        assert len(r.json()["items"]) == 20
    assert statistics.median(times) < 0.015, statistics.median(times)


def test_keep_alive_reuses_one_connection(sandbox: SandboxServer) -> None:
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # client side untouched
        stream = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(f"GET /api/users/me HTTP/1.1\r\nHost: x\r\nCookie: {SESSION_COOKIE}={sandbox.cookie}"
                         "\r\n\r\n".encode())
            status = stream.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert json.loads(stream.read(length))["id"] == DEMO_USER_ID


def test_stop_is_quick_and_frees_the_port() -> None:
    sb = SandboxServer(port=0).start()
    port = sb.port
    idle = httpx.Client(base_url=sb.base_url)
    assert idle.get("/api/users/me", headers=_auth(sb)).status_code == 200  # an open keep-alive connection
    start = time.perf_counter()
    sb.stop()
    assert time.perf_counter() - start < 1.0
    with SandboxServer(port=port) as again:
        assert again.port == port
        assert httpx.get(f"{again.base_url}/api/users/me", headers=_auth(again)).status_code == 200
    idle.close()


def test_concurrent_requests(sandbox: SandboxServer) -> None:
    sid = shape_id(sandbox)
    errors: list[BaseException] = []

    def worker(first: int) -> None:
        try:
            with httpx.Client(base_url=sandbox.base_url) as c:
                for page in range(first, first + 10):
                    r = c.get(f"/api/memory/{sid}", params={"page": page}, headers=_auth(sandbox))
                    assert r.status_code == 200 and len(r.json()["items"]) == 20
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i * 10 + 1,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and sandbox.state.count() == 40


def test_cli_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tzbackup_gui.sandbox", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        base_url = lines[0].split()[-1]
        cookie = lines[2].split("=", 1)[1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        r = httpx.get(f"{base_url}/api/users/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert r.status_code == 200 and r.json()["id"] == DEMO_USER_ID
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
    assert code == 0


def test_memory_page_count_matches_total_pages(sandbox: SandboxServer, sandbox_http: httpx.Client) -> None:
    sandbox.state.set_variant(pagination="total_pages")
    sid = shape_id(sandbox, "captain-nemo")
    first = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=1).json()
    pages = first["pagination"]["total_pages"]
    assert pages == math.ceil(260 / 20)
    last = get(sandbox_http, sandbox, f"/api/memory/{sid}", page=pages).json()["items"]
    assert last and last[-1]["id"] == sandbox.state.get("captain-nemo").memories[0]["id"]

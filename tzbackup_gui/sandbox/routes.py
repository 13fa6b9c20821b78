"""The data API of the sandbox: faults first, then auth, then the endpoint, shaped by the current variant.

:func:`answer` runs under the state's lock and returns a :class:`Response`; it never touches a socket and
never sleeps (a ``slow`` fault only sets ``Response.delay``). Work per request is O(page size): memories are
served by slicing the chronological list from its end.
"""

from __future__ import annotations

import bisect
import json
import math
from typing import Any
from urllib.parse import unquote

from .data import SandboxPersonality, public_subset
from .faults import fault_response
from .response import Response, json_bytes, json_response
from .state import RequestRecord, SandboxState, Variant

__all__ = ["answer"]

JSON = dict[str, Any]
MAX_MEMORY_LIMIT = 20
MAX_CHAT_LIMIT = 50


def answer(state: SandboxState, method: str, raw_path: str, query: dict[str, str], cookie: str,
           record: RequestRecord) -> Response:
    """The full answer to one non-control request (call with ``state.lock`` held)."""
    fault = state.faults.take(record.path)
    if fault is not None:
        replaced = fault_response(fault, record.path)
        if replaced is not None:
            replaced.fault = fault.name
            return replaced
    resp = _authorized(state, method, raw_path, query, cookie, record)
    if fault is not None:
        resp.fault = fault.name
        if fault.name == "slow":
            resp.delay = float(fault.params.get("seconds", 1.0))
        elif fault.name == "truncated_json":
            resp.status = 200
            resp.content_type = "application/json"
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        elif fault.name == "empty_page":
            _empty_the_page(resp)
    return resp


def _empty_the_page(resp: Response) -> None:
    """``empty_page``: keep a 200 memory page exactly as it was (variant, pagination, headers) but with no
    items, the way a real service sometimes answers mid-list. Error answers (401, 404...) are left alone."""
    if resp.status != 200 or resp.content_type != "application/json":
        return
    body = json.loads(resp.body)
    if isinstance(body, list):
        body = []
    elif isinstance(body, dict):
        for key in ("items", "memories"):
            if isinstance(body.get(key), list):
                body[key] = []
    resp.body = json_bytes(body)


def _authorized(state: SandboxState, method: str, raw_path: str, query: dict[str, str], cookie: str,
                record: RequestRecord) -> Response:
    if raw_path.startswith("/files/"):
        return _file(state, raw_path)
    if not raw_path.startswith("/api/"):
        return _not_found()
    if not state.sessions.authenticate(cookie):
        return _unauthorized("missing or invalid session" if cookie else "not signed in")
    still_valid, rotated = state.sessions.after_authenticated()
    if not still_valid:
        return _unauthorized("session expired")
    record.authenticated = True
    if method != "GET":
        resp = json_response(405, {"error": "Method Not Allowed"}, [("Allow", "GET")])
    else:
        resp = _route(state, raw_path, query)
    if rotated is not None:
        resp.headers.append(("Set-Cookie", state.sessions.set_cookie_header(rotated)))
    return resp


def _unauthorized(detail: str) -> Response:
    return json_response(401, {"error": "Unauthorized", "message": detail, "statusCode": 401})


def _not_found(what: str = "Not Found") -> Response:
    return json_response(404, {"error": "Not Found", "message": what, "statusCode": 404})


def _bad_request(what: str) -> Response:
    return json_response(400, {"error": "Bad Request", "message": what, "statusCode": 400})


def _route(state: SandboxState, raw_path: str, query: dict[str, str]) -> Response:
    parts = raw_path.rstrip("/").split("/")[2:]  # drop "" and "api"
    if parts == ["users", "me"]:
        return json_response(200, state.demo_user)
    if parts == ["users", "info"]:
        return json_response(200, _user_info(state))
    if parts == ["shapes"]:
        return _shape_list(state, query.get("category", "self"))
    if len(parts) >= 3 and parts[:2] == ["shapes", "username"]:
        return _profile(state, unquote("/".join(parts[2:])))
    if len(parts) == 2 and parts[0] == "memory":
        return _memory_page(state, unquote(parts[1]), query)
    if len(parts) >= 3 and parts[0] == "shapes":
        p = state.by_id(unquote(parts[1]))
        if p is None:
            return _not_found("shape not found")
        rest = parts[2:]
        if rest == ["story"]:
            return _envelope(p.story, state.variant.story_envelope, "story")
        if rest == ["training"]:
            return _envelope(p.training, state.variant.story_envelope, "training")
        if rest == ["user"]:
            return _not_found() if p.user_data is None else json_response(200, p.user_data)
        if rest == ["chat", "history"]:
            return _chat(p, query, state.variant)
    return _not_found()


# --------------------------------------------------------------------------------------- endpoints
def _summary(p: SandboxPersonality) -> JSON:
    keys = ("id", "name", "username", "avatar", "created_ts", "search_description", "user_count",
            "message_count", "enabled", "is_public")
    return {k: p.profile.get(k) for k in keys}


def _user_info(state: SandboxState) -> JSON:
    user = state.demo_user
    owned = state.owned_personalities()
    return {
        "uuid": user["id"], "id": user["id"], "email": user["email"], "username": user["username"],
        "display_name": user["displayName"], "plan": user.get("plan"),
        "shapes": [{"id": p.id, "username": p.slug, "name": p.name} for p in owned],
        "shape_count": len(owned),
    }


def _shape_list(state: SandboxState, category: str) -> Response:
    if category == "self":
        return json_response(200, [_summary(p) for p in state.owned_personalities()])
    if category == "recent":
        recent = [p for p in state.personalities.values() if not p.owned]
        return json_response(200, [_summary(p) for p in recent])
    return _bad_request(f"unknown category {category!r}")


def _profile(state: SandboxState, slug: str) -> Response:
    p = state.personalities.get(slug)
    if p is None:
        return _not_found("shape not found")
    return json_response(200, p.profile if p.owned else public_subset(p.profile))


def _int_param(query: dict[str, str], name: str, default: int) -> int | None:
    try:
        return int(query.get(name, default))
    except ValueError:
        return None


def _memory_page(state: SandboxState, shape_id: str, query: dict[str, str]) -> Response:
    p = state.by_id(shape_id)
    if p is None:
        return _not_found("shape not found")
    page, limit = _int_param(query, "page", 1), _int_param(query, "limit", MAX_MEMORY_LIMIT)
    if page is None or limit is None or page < 1:
        return _bad_request("page and limit must be positive integers")
    limit = MAX_MEMORY_LIMIT if limit < 1 else min(limit, MAX_MEMORY_LIMIT)  # silently capped
    variant = state.variant
    mems = p.memories
    total = len(mems)
    if total == 0 and variant.empty_memories == "404":
        return _not_found("no memories")
    start = (page - 1) * limit
    end = min(start + limit, total)
    chunk = mems[total - end : total - start][::-1] if start < total else []
    items = [_shape_memory(m, variant.created_at) for m in chunk]
    return json_response(200, _page_body(items, variant, page, end < total, total, math.ceil(total / limit)))


def _shape_memory(m: JSON, created_at: str) -> JSON:
    """A memory as this variant serves it: ``created_at`` in both places, only in metadata, or only on top."""
    if created_at == "both":
        return m
    if created_at == "metadata":
        return {k: v for k, v in m.items() if k != "created_at"}
    out = dict(m)
    out["metadata"] = {k: v for k, v in m["metadata"].items() if k != "created_at"}
    return out


def _page_body(items: list[JSON], v: Variant, page: int, has_next: bool, total: int, pages: int) -> Any:
    if v.items_key == "bare":
        return items
    body: JSON = {v.items_key: items}
    if v.pagination == "has_next":
        body["pagination"] = {"page": page, "has_next": has_next}
        if v.include_total:
            body["pagination"]["total"] = total
    elif v.pagination == "total_pages":
        body["pagination"] = {"total_pages": pages}
        if v.include_total:
            body["pagination"]["total"] = total
    elif v.pagination == "totalPages":
        body["totalPages"] = pages
        if v.include_total:
            body["total"] = total
    elif v.pagination == "meta":
        body["meta"] = {"pagination": {"total_pages": pages, "page": page}}
        if v.include_total:
            body["meta"]["pagination"]["total"] = total
    return body


def _envelope(entries: list[JSON], envelope: str, kind: str) -> Response:
    """Story / training in one of the envelopes seen; no story entries at all answers 404."""
    if not entries and (kind == "story" or envelope == "single"):
        return _not_found(f"no {kind}")
    if envelope == "bare":
        return json_response(200, entries)
    if envelope == "items":
        return json_response(200, {"items": entries})
    if envelope == "single":
        return json_response(200, entries[0])
    key = envelope if kind == "story" else "training"
    return json_response(200, {key: entries})


def _chat(p: SandboxPersonality, query: dict[str, str], variant: Variant) -> Response:
    """The newest ``limit`` messages older than ``before_ts`` (strictly), oldest first within the batch.
    Variants: ``chat_before_ts="ignored"`` always answers the newest batch; ``chat_ts="string"`` sends
    each ``ts`` as a numeric string."""
    limit = _int_param(query, "limit", MAX_CHAT_LIMIT)
    if limit is None:
        return _bad_request("limit must be an integer")
    limit = MAX_CHAT_LIMIT if limit < 1 else min(limit, MAX_CHAT_LIMIT)
    msgs = p.chat
    end = len(msgs)
    if query.get("before_ts"):
        try:
            before = float(query["before_ts"])
        except ValueError:
            return _bad_request("before_ts must be a number")
        if variant.chat_before_ts == "honoured":
            end = bisect.bisect_left(msgs, before, key=lambda m: float(m["ts"]))
    batch = msgs[max(0, end - limit) : end]
    if variant.chat_ts == "string":
        batch = [{**m, "ts": str(float(m["ts"]))} for m in batch]
    return json_response(200, batch)


def _file(state: SandboxState, raw_path: str) -> Response:
    name = unquote(raw_path.rsplit("/", 1)[-1])
    if raw_path.startswith("/files/api/files/avatar_") and name.endswith(".png"):
        avatar_id = name[len("avatar_") : -len(".png")]
        for p in state.personalities.values():
            if p.avatar_id == avatar_id:
                return Response(200, p.avatar_png, [("Cache-Control", "public, max-age=31536000")],
                                content_type="image/png")
    if raw_path.startswith("/files/api/files/"):
        for p in state.personalities.values():
            if name in p.files:
                data, content_type = p.files[name]
                return Response(200, data, [("Cache-Control", "public, max-age=31536000")],
                                content_type=content_type)
    return _not_found("file not found")

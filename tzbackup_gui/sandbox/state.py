"""The sandbox's mutable world: personalities, sessions, faults, response variants, the request log.

One :class:`threading.RLock` guards everything. Hooks run outside it (see ``server.py``), so a hook may
call any mutation method.
"""

from __future__ import annotations

import pickle
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .data import (
    BASE_TS,
    DEMO_USER_ID,
    HISTORY_SPAN,
    OTHER_USER_ID,
    SandboxPersonality,
    build_personality,
    demo_user,
    make_chat,
    make_memories,
    other_user,
    seed_personalities,
)
from .faults import Fault, FaultSet
from .sessions import Sessions

__all__ = ["RequestRecord", "SandboxState", "Variant"]

JSON = dict[str, Any]

_CHOICES: dict[str, tuple[str, ...]] = {
    "items_key": ("items", "memories", "bare"),
    "pagination": ("has_next", "total_pages", "totalPages", "meta", "none"),
    "created_at": ("both", "metadata", "top"),
    "story_envelope": ("bare", "items", "story", "knowledge", "single"),
    "empty_memories": ("empty", "404"),
    "chat_before_ts": ("honoured", "ignored"),
    "chat_ts": ("float", "string"),
}


@dataclass
class RequestRecord:
    """One request the sandbox saw (control requests are not logged). ``status`` 0 = dropped / not yet
    answered (hooks see the record before the answer exists)."""

    method: str
    path: str
    query: dict[str, str]
    status: int = 0
    ts: float = field(default_factory=time.time)
    #: the fault that answered this request, if any
    fault: str | None = None
    #: True when the request carried a valid session
    authenticated: bool = False
    #: the path exactly as it arrived on the wire, still percent-encoded (``path`` is decoded): tests use it
    #: to check that no client or proxy normalised a segment such as ``%2E%2E`` away
    raw_path: str = ""

    def to_json(self) -> JSON:
        return {"method": self.method, "path": self.path, "query": self.query, "status": self.status,
                "ts": self.ts, "fault": self.fault, "authenticated": self.authenticated,
                "raw_path": self.raw_path}


@dataclass(frozen=True)
class Variant:
    """How responses are shaped (the drift seen between 2025 and 2026). The default is the 2026 form with
    ``created_at`` in both places, like the documented example."""

    items_key: str = "items"
    pagination: str = "has_next"
    include_total: bool = True
    created_at: str = "both"
    story_envelope: str = "bare"
    #: what the memory endpoint answers for a personality without memories: an empty page or 404
    empty_memories: str = "empty"
    #: chat history: "ignored" answers the newest batch whatever ``before_ts`` says (a broken server)
    chat_before_ts: str = "honoured"
    #: chat history: ``ts`` as a JSON number ("float") or as a numeric string ("string")
    chat_ts: str = "float"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")


Hook = Callable[[RequestRecord], None]

_FILES_PLACEHOLDER = "http://sandbox.invalid/files"
_SEED_CACHE: dict[int, tuple[bytes, tuple[Any, ...]]] = {}
_SEED_CACHE_LOCK = threading.Lock()


def _seeded(seed: int, files_base_url: str) -> tuple[dict[str, SandboxPersonality], random.Random]:
    """The seeded personalities and the generator positioned after them.

    Generated once per seed and kept pickled (a fresh copy is ~3x cheaper than generating again, which adds
    up over hundreds of tests that each start a sandbox); the files URL is filled in per server.
    """
    with _SEED_CACHE_LOCK:
        if seed not in _SEED_CACHE:
            rng = random.Random(seed)
            generated = seed_personalities(rng, _FILES_PLACEHOLDER)
            _SEED_CACHE[seed] = (pickle.dumps(generated, protocol=pickle.HIGHEST_PROTOCOL), rng.getstate())
        blob, rng_state = _SEED_CACHE[seed]
    personalities: dict[str, SandboxPersonality] = pickle.loads(blob)
    for p in personalities.values():
        p.profile["avatar"] = p.profile["avatar"].replace(_FILES_PLACEHOLDER, files_base_url)
        if isinstance(p.profile.get("banner"), str):
            p.profile["banner"] = p.profile["banner"].replace(_FILES_PLACEHOLDER, files_base_url)
        for msg in p.chat:
            if msg["voice_reply_url"]:
                msg["voice_reply_url"] = msg["voice_reply_url"].replace(_FILES_PLACEHOLDER, files_base_url)
    rng = random.Random()
    rng.setstate(rng_state)
    return personalities, rng


class SandboxState:
    """Thread-safe state of one sandbox. See docs/INTERNALS.md, section "Sandbox"."""

    def __init__(self, seed: int = 1, *, files_base_url: str = "http://127.0.0.1/files",
                 rotate_every: int | None = None) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.files_base_url = files_base_url.rstrip("/")
        self.demo_user: JSON = demo_user()
        self.other_user: JSON = other_user()
        self.sessions = Sessions(rotate_every=rotate_every)
        self.faults = FaultSet()
        self.variant = Variant()
        self.request_log: list[RequestRecord] = []
        self.hooks: list[Hook] = []
        #: exceptions raised by hooks (printed too): a test can assert this stays empty
        self.hook_errors: list[BaseException] = []
        self.personalities: dict[str, SandboxPersonality] = {}
        self._by_id: dict[str, SandboxPersonality] = {}
        self._rng = random.Random(seed)
        self._responses = 0
        self.reset_all()

    # ------------------------------------------------------------------------------------ sessions
    @property
    def cookie(self) -> str:
        """The newest session value (rotation and :meth:`new_session` update it)."""
        with self.lock:
            return self.sessions.newest

    @property
    def rotate_every(self) -> int | None:
        return self.sessions.rotate_every

    @rotate_every.setter
    def rotate_every(self, value: int | None) -> None:
        with self.lock:
            self.sessions.rotate_every = value or None

    def new_session(self, *, revoke_old: bool = False) -> str:
        """Issue a fresh valid cookie and clear a pending ``expire_after``."""
        with self.lock:
            return self.sessions.new_session(revoke_old=revoke_old)

    def legacy_session(self) -> str:
        """Issue a valid legacy ``appSession`` cookie value."""
        with self.lock:
            return self.sessions.legacy_session()

    # ---------------------------------------------------------------------------------------- data
    def reset_all(self) -> None:
        """Back to the seeded demo data (sessions, faults, variants and the log are left alone)."""
        with self.lock:
            self.personalities, self._rng = _seeded(self.seed, self.files_base_url)
            self._by_id = {p.id: p for p in self.personalities.values()}

    def get(self, slug: str) -> SandboxPersonality:
        with self.lock:
            try:
                return self.personalities[slug]
            except KeyError:
                raise KeyError(f"no sandbox personality {slug!r}") from None

    def by_id(self, shape_id: str) -> SandboxPersonality | None:
        with self.lock:
            return self._by_id.get(shape_id)

    def owned_personalities(self) -> list[SandboxPersonality]:
        with self.lock:
            return [p for p in self.personalities.values() if p.owned]

    def add_personality(self, slug: str, name: str | None = None, *, memories: int = 0, owned: bool = True,
                        chat: int = 0, story: int = 0) -> SandboxPersonality:
        """Add (or replace) a personality with *memories* generated memories."""
        owners = (DEMO_USER_ID,) if owned else (OTHER_USER_ID,)
        with self.lock:
            personality = build_personality(
                self._rng, slug, name if name is not None else slug, owners=owners,
                files_base_url=self.files_base_url, memories=memories, chat=chat, story=story,
            )
            self.remove_personality(slug, missing_ok=True)
            self.personalities[slug] = personality
            self._by_id[personality.id] = personality
            return personality

    def remove_personality(self, slug: str, *, missing_ok: bool = False) -> None:
        with self.lock:
            old = self.personalities.pop(slug, None)
            if old is None and not missing_ok:
                raise KeyError(f"no sandbox personality {slug!r}")
            if old is not None:
                self._by_id.pop(old.id, None)

    def rename_personality(self, slug: str, new_slug: str, name: str | None = None) -> SandboxPersonality:
        """Change a personality's username (slug), keeping its id: a rename as the service does it."""
        with self.lock:
            p = self.get(slug)
            del self.personalities[slug]
            p.slug = new_slug
            p.profile["username"] = new_slug
            if name is not None:
                p.profile["name"] = name
            self.personalities[new_slug] = p
            return p

    def add_memories(self, slug: str, n: int) -> list[str]:
        """Add *n* memories newer than every existing one; returns their ids, oldest first."""
        with self.lock:
            p = self.get(slug)
            new = make_memories(self._rng, p.id, p.name, n, start=p.clock)
            if new:
                p.clock = new[-1]["created_at"]
            p.memories.extend(new)
            for m in new:
                p.memory_index[m["id"]] = m
            return [m["id"] for m in new]

    def edit_memory(self, slug: str, memory_id: str, text: str) -> None:
        """Change a memory's text (``result``), as an owner's edit does."""
        with self.lock:
            self._memory(slug, memory_id)["result"] = text

    def delete_memory(self, slug: str, memory_id: str, *, soft: bool = False) -> None:
        """Delete a memory; ``soft`` keeps serving it with ``deleted: true``."""
        with self.lock:
            p = self.get(slug)
            memory = self._memory(slug, memory_id)
            if soft:
                memory["deleted"] = True
                return
            del p.memory_index[memory_id]
            for i in range(len(p.memories) - 1, -1, -1):
                if p.memories[i] is memory:
                    del p.memories[i]
                    break

    def reset_memories(self, slug: str) -> None:
        """The ``/reset`` command: the personality's long-term memory is wiped."""
        with self.lock:
            p = self.get(slug)
            p.memories.clear()
            p.memory_index.clear()

    # --------------------------------------------------------------------------------------- profile
    def edit_profile(self, slug: str, changes: JSON | None = None, *,
                     remove: list[str] | tuple[str, ...] = (), bump_updated: bool = True) -> JSON:
        """An owner's edit in the shape editor: set fields (dotted names reach into objects, e.g.
        ``shape_settings.status``), drop fields, and bump ``updated_ts`` as a save does. Returns the
        profile."""
        with self.lock:
            p = self.get(slug)
            for name, value in (changes or {}).items():
                *parents, key = name.split(".")
                target = p.profile
                for part in parents:
                    target = target.setdefault(part, {})
                target[key] = value
            for name in remove:
                *parents, key = name.split(".")
                target = p.profile
                for part in parents:
                    target = target.get(part, {})
                target.pop(key, None)
            if bump_updated:
                previous = float(p.profile.get("updated_ts") or 0)
                p.profile["updated_ts"] = round(max(time.time(), previous + 1), 6)
            return p.profile

    def tick_profile(self, slug: str, users: int = 1, messages: int = 17) -> None:
        """Use of the personality between two fetches: its counters grow (``user_count``,
        ``message_count``); nothing a creator edited changes. Tests call it from a hook to make every
        profile fetch differ, as on the real service."""
        with self.lock:
            profile = self.get(slug).profile
            profile["user_count"] = int(profile.get("user_count") or 0) + users
            profile["message_count"] = int(profile.get("message_count") or 0) + messages

    # ------------------------------------------------------------------------------------------ chat
    def add_chat(self, slug: str, n: int) -> list[str]:
        """Add *n* chat messages newer than every existing one; returns their ids, oldest first."""
        with self.lock:
            p = self.get(slug)
            last = float(p.chat[-1]["ts"]) if p.chat else BASE_TS + HISTORY_SPAN
            new = make_chat(self._rng, p.name, n, start=last, files_base_url=self.files_base_url,
                            tie_at_batch=n)
            p.chat.extend(new)
            return [m["id"] for m in new]

    def edit_chat(self, slug: str, message_id: str, *, message: str | None = None,
                  reply: str | None = None) -> None:
        """Change a stored chat message's text (``message`` and/or ``reply``; ``None`` = leave as is)."""
        with self.lock:
            msg = self._chat_message(slug, message_id)
            if message is not None:
                msg["message"] = message
            if reply is not None:
                msg["reply"] = reply

    def regenerate_chat(self, slug: str, message_id: str, reply: str) -> None:
        """A regenerated reply: the current reply joins ``regenerated_replies`` and *reply* replaces it."""
        with self.lock:
            msg = self._chat_message(slug, message_id)
            if msg.get("reply") is not None:
                msg["regenerated_replies"] = [*(msg.get("regenerated_replies") or []), msg["reply"]]
            msg["reply"] = reply

    def tie_chat(self, slug: str, start: int, count: int) -> float:
        """Give the *count* messages from index *start* (chronological; negative counts from the end) one
        shared ``ts`` (the newest of them), so the history stays sorted. Returns that ts."""
        with self.lock:
            chat = self.get(slug).chat
            first = start if start >= 0 else len(chat) + start
            group = chat[first : first + count]
            if first < 0 or len(group) != count or count < 1:
                raise ValueError(f"no {count} chat messages from index {start} in {slug!r}")
            shared = float(group[-1]["ts"])
            for msg in group:
                msg["ts"] = shared
            return shared

    def _chat_message(self, slug: str, message_id: str) -> JSON:
        for msg in reversed(self.get(slug).chat):  # edits are usually recent: search from the newest end
            if msg["id"] == message_id:
                return msg
        raise KeyError(f"no chat message {message_id!r} in {slug!r}")

    def _memory(self, slug: str, memory_id: str) -> JSON:
        try:
            return self.get(slug).memory_index[memory_id]
        except KeyError:
            raise KeyError(f"no memory {memory_id!r} in {slug!r}") from None

    # ------------------------------------------------------------------------------ faults, variants
    def set_fault(self, name: str, *, count: int | None = 1, after: int = 0, path_contains: str | None = None,
                  **params: Any) -> None:
        """Arm a fault (see faults.py). ``expire_after(requests=N)`` starts the session countdown."""
        fault = Fault(name, count=count, after=after, path_contains=path_contains, params=dict(params))
        with self.lock:
            if name == "expire_after":
                self.sessions.expire_remaining = int(params.get("requests", 0))
            else:
                self.faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every fault and a pending session expiry."""
        with self.lock:
            self.faults.clear()
            self.sessions.expire_remaining = None

    def set_variant(self, **kwargs: Any) -> Variant:
        """Set the whole response variant; options not given return to their defaults."""
        variant = Variant(**kwargs)
        with self.lock:
            self.variant = variant
        return variant

    # ----------------------------------------------------------------------------------------- log
    def begin_request(self, method: str, path: str, query: dict[str, str],
                      raw_path: str = "") -> RequestRecord:
        """Log a request before it is answered (``path`` decoded, ``raw_path`` as sent)."""
        record = RequestRecord(method, path, query, raw_path=raw_path or path)
        with self.lock:
            self.request_log.append(record)
        return record

    def clear_log(self) -> None:
        with self.lock:
            self.request_log.clear()

    def count(self, path_prefix: str = "/api/memory/") -> int:
        """How many logged requests have a path starting with *path_prefix*."""
        with self.lock:
            return sum(1 for r in self.request_log if r.path.startswith(path_prefix))

    def run_hooks(self, record: RequestRecord) -> None:
        """Call every hook (outside the lock, so hooks may mutate the state)."""
        with self.lock:
            hooks = list(self.hooks)
        for hook in hooks:
            try:
                hook(record)
            except Exception as exc:  # a broken hook must not take the server down
                import traceback

                traceback.print_exc()
                with self.lock:
                    self.hook_errors.append(exc)

    def next_response_number(self) -> int:
        with self.lock:
            self._responses += 1
            return self._responses

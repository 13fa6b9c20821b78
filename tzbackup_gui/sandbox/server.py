"""The sandbox HTTP server: stdlib ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread.

HTTP/1.1 keep-alive with exact ``Content-Length``; ``TCP_NODELAY`` on every accepted socket (without it a
keep-alive request costs ~44 ms of Nagle + delayed ACK instead of ~1 ms). Every response carries a
``cf-ray`` header, and now and then an unrelated ``Set-Cookie: datadome=...`` that clients must ignore.

A client hanging up mid-request or mid-response (a cancelled run, a killed process) is routine here and is
dropped quietly; any other error in a handler still prints its traceback.

With ``stable_urls=True`` (the demo) the files URLs in profiles and chat are root-relative
(``/files/api/files/...``): the client resolves them against the service URL, which lands them under the
files URL (so no cookie is sent), and they stay the same whatever port the sandbox got, so a demo backup
after a restart records no fake profile or chat changes. The default keeps absolute URLs, as the real
service sends them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from .llm import LLM_PREFIX, LlmStream, answer_llm
from .response import Response, json_response
from .routes import answer
from .state import SandboxState

__all__ = ["FILES_PATH", "HANG_UPS", "SandboxServer", "serve_forever_cli"]

JSON = dict[str, Any]
#: where the files route lives on the sandbox (the real service has a host of its own for files)
FILES_PATH = "/files"
#: one response in this many carries an unrelated bot-manager cookie
DATADOME_EVERY = 5
#: control operations reachable over HTTP (POST /__sandbox/<op>, JSON body = keyword arguments)
CONTROL_OPS = frozenset({
    "add_memories", "edit_memory", "delete_memory", "reset_memories", "reset_all", "set_fault",
    "clear_faults", "set_variant", "add_personality", "remove_personality", "rename_personality",
    "new_session", "legacy_session", "clear_log", "set_rotation",
    "add_chat", "edit_chat", "regenerate_chat", "tie_chat", "edit_profile", "tick_profile",
})


#: what a client hanging up looks like from the server's side of the socket
HANG_UPS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _Server(ThreadingHTTPServer):
    """Threading server that sets TCP_NODELAY and can close its open keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state_factory: Any) -> None:
        super().__init__(address, _Handler)
        self.open_sockets: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        self.sandbox_state: SandboxState = state_factory(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet when the client hung up (nothing is wrong with the sandbox then); otherwise the usual
        traceback on stderr, so a real bug in a route stays visible."""
        if isinstance(sys.exc_info()[1], HANG_UPS):
            return
        super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.open_lock:
            self.open_sockets.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self.open_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self.open_lock:
            sockets = list(self.open_sockets)
            self.open_sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = 120  # idle keep-alive connections end eventually

    @property
    def state(self) -> SandboxState:
        return cast(_Server, self.server).sandbox_state

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log lives in ``state.request_log``."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if split.path.startswith("/__sandbox/"):
            self._write(self._control(split.path[len("/__sandbox/") :], body))
            return
        state = self.state
        if split.path.startswith(LLM_PREFIX):  # the made-up chat endpoint of Talk (llm.py)
            llm = answer_llm(state, self.command, split.path, self.headers.get("Authorization", ""), body)
            self._write_stream(llm) if isinstance(llm, LlmStream) else self._write(llm)
            return
        record = state.begin_request(self.command, unquote(split.path), query, raw_path=split.path)
        state.run_hooks(record)
        with state.lock:
            resp = answer(state, self.command, split.path, query, self.headers.get("Cookie", ""), record)
            record.status, record.fault = (0 if resp.drop else resp.status), resp.fault
        if resp.delay > 0:
            time.sleep(resp.delay)
        if resp.drop:
            self.close_connection = True
            return
        self._write(resp)

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("cf-ray", f"{secrets.token_hex(8)}-FRA")
        for name, value in resp.headers:
            self.send_header(name, value)
        if self.state.next_response_number() % DATADOME_EVERY == 0:
            self.send_header("Set-Cookie", f"datadome={secrets.token_urlsafe(24)}; Max-Age=31536000; "
                                           "Path=/; Secure; SameSite=Lax")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _write_stream(self, stream: LlmStream) -> None:
        """Write an SSE answer in chunked transfer encoding, one event per chunk (flushed, so the client sees
        each as it comes). A client that hangs up (a stopped turn) is counted in ``streams_cut``."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for n, event in enumerate(stream.events):
                if n and stream.delay > 0:
                    time.sleep(stream.delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except HANG_UPS:
            self.close_connection = True
            with stream.llm.lock:
                stream.llm.streams_cut += 1

    # ----------------------------------------------------------------------------------- control
    def _control(self, op: str, body: bytes) -> Response:
        """``/__sandbox/<op>``: loopback only; JSON in, ``{"ok": ..., "result"|"error": ...}`` out."""
        if not self.client_address[0].startswith("127.") and self.client_address[0] != "::1":
            return json_response(403, {"ok": False, "error": "control endpoints are loopback-only"})
        try:
            kwargs = json.loads(body or b"{}")
            if not isinstance(kwargs, dict):
                raise ValueError("the JSON body must be an object")
            return json_response(200, {"ok": True, "result": self._control_op(op, kwargs)})
        except LookupError as exc:
            return json_response(404, {"ok": False, "error": str(exc)})
        except (TypeError, ValueError) as exc:
            return json_response(400, {"ok": False, "error": str(exc)})

    def _control_op(self, op: str, kwargs: JSON) -> Any:
        state = self.state
        if self.command == "GET" and op == "log":
            with state.lock:
                return [r.to_json() for r in state.request_log]
        if self.command == "GET" and op == "info":
            return _info(state)
        if self.command != "POST" or op not in CONTROL_OPS:
            raise LookupError(f"no control operation {self.command} {op!r}")
        if op == "set_rotation":
            state.rotate_every = kwargs.get("every")
            return None
        result = getattr(state, op)(**kwargs)
        if op == "add_personality":
            return {"slug": result.slug, "id": result.id, "name": result.name,
                    "memories": len(result.memories)}
        if op in ("remove_personality", "rename_personality"):
            return None
        if op == "set_variant":
            return vars(result)
        return result


def _info(state: SandboxState) -> JSON:
    with state.lock:
        return {
            "cookie": state.cookie,
            "rotate_every": state.rotate_every,
            "demo_user": state.demo_user,
            "personalities": [
                {"slug": p.slug, "id": p.id, "name": p.name, "owned": p.owned, "memories": len(p.memories)}
                for p in state.personalities.values()
            ],
        }


class SandboxServer:
    """A local stand-in for shapes.inc. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self, port: int = 0, seed: int = 1, *, rotate_every: int | None = None, stable_urls: bool = False
    ) -> None:
        def make_state(bound_port: int) -> SandboxState:
            files = FILES_PATH if stable_urls else f"http://127.0.0.1:{bound_port}{FILES_PATH}"
            return SandboxState(seed, files_base_url=files, rotate_every=rotate_every)

        self._httpd = _Server(("127.0.0.1", port), make_state)
        self._thread: threading.Thread | None = None

    @classmethod
    def demo(cls) -> SandboxServer:
        """The sandbox of ``--demo``, the same for the GUI and the CLI (they share the demo data dir): seed 1,
        any free port, root-relative files URLs so a backup does not change with the port."""
        return cls(port=0, seed=1, stable_urls=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def files_base_url(self) -> str:
        """The files URL to configure a client with (the URLs in served data may be root-relative)."""
        return f"{self.base_url}{FILES_PATH}"

    @property
    def state(self) -> SandboxState:
        return self._httpd.sandbox_state

    @property
    def cookie(self) -> str:
        """The newest valid ``__Secure-better-auth.session_token`` value."""
        return self.state.cookie

    @property
    def demo_user(self) -> JSON:
        return self.state.demo_user

    def start(self) -> SandboxServer:
        """Serve in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"sandbox-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and free the port (quick: ~50 ms)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_open_connections()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve_forever_cli(port: int, *, seed: int = 1, rotate_every: int | None = None) -> int:
    """``tzbackup sandbox``: serve until Ctrl+C, after printing the URLs and the demo cookie. Returns 0."""
    with SandboxServer(port=port, seed=seed, rotate_every=rotate_every) as sb:
        lines = [
            f"tzbackup sandbox listening on {sb.base_url}",
            f"  files URL:  {sb.files_base_url}",
            f"  cookie:     __Secure-better-auth.session_token={sb.cookie}",
            "  personalities: " + ", ".join(
                f"{p.slug} ({len(p.memories)} memories{'' if p.owned else ', not owned'})"
                for p in sb.state.personalities.values()),
            "",
            "Use it from another terminal, for example:",
            f"  TZBACKUP_COOKIE='{sb.cookie}' tzbackup --base-url {sb.base_url} \\",
            f"      --files-base-url {sb.files_base_url} --delay 0 list",
            f"Control it over HTTP: GET {sb.base_url}/__sandbox/info, POST {sb.base_url}/__sandbox/<op>",
        ]
        if rotate_every:
            lines.append(f"The cookie rotates every {rotate_every} requests; "
                         "GET /__sandbox/info shows the newest.")
        lines.append("Press Ctrl+C to stop.")
        print("\n".join(lines), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nsandbox stopped", file=sys.stderr)
    return 0


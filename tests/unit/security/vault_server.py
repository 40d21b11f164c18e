"""A small HTTP server on 127.0.0.1 that speaks Vault's KV version 2 read API, for tests.

No `vault` binary is packaged by Debian or PyPI here, so hvac is tested against this: GET
/v1/<mount>/data/<path> with an X-Vault-Token header answers like Vault does (200 with
data.data and data.metadata, 403 for a wrong token, 404 for a missing path). `fail_next` makes
the next N requests answer 503 (sealed), to test retries. It counts the requests it served.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeVault:
    token: str
    secrets: dict[tuple[str, str], dict[str, object]]  # (mount, path) -> data
    requests: int = 0
    fail_next: int = 0
    address: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, token: str | None) -> tuple[int, dict[str, object]]:
        with self._lock:
            self.requests += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"errors": ["Vault is sealed"]}
        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        mount, marker, rest = path.removeprefix("/v1/").partition("/data/")
        data = self.secrets.get((mount, rest)) if marker else None
        if data is None:
            return 404, {"errors": []}
        metadata = {"created_time": "2026-11-28T09:00:00Z", "custom_metadata": None, "deletion_time": "",
                    "destroyed": False, "version": 1}
        return 200, {"request_id": "r1", "lease_id": "", "renewable": False, "lease_duration": 0,
                     "data": {"data": data, "metadata": metadata}, "wrap_info": None, "warnings": None, "auth": None}


@contextmanager
def serve_vault(vault: FakeVault) -> Iterator[FakeVault]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            status, body = vault.answer(self.path.split("?")[0], self.headers.get("X-Vault-Token"))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    vault.address = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield vault
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

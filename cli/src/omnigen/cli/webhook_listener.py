"""A local webhook receiver for people developing an integration (`omnigen webhooks listen`)
and for the tests: an HTTP server on 127.0.0.1 that verifies every delivery with the Standard
Webhooks library's own verifier, keeps what arrived and answers what `respond` says (204 by
default; 401 for a signature that does not verify). It can be stopped and started again on the
same port, to play a receiver that is down for a while."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: str
    verified_with: int | None  # the index of the secret that verified it; None: none did
    payload: dict[str, Any] | None
    error: str | None
    at: float  # time.time() when it arrived
    status: int  # what the listener answered


Responder = Callable[[Received], int]


def verify(
    secrets: list[str], body: str, headers: dict[str, str]
) -> tuple[int | None, Any, str | None]:
    """(index of the secret that verified, the payload, None) or (None, None, why not)."""
    error = "no secret configured"
    for index, secret in enumerate(secrets):
        try:
            return index, Webhook(secret).verify(body, headers), None
        except WebhookVerificationError as exc:
            error = str(exc)
    return None, None, error


class WebhookListener:
    def __init__(
        self,
        secrets: list[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        respond: Responder | None = None,
        on_delivery: Callable[[Received], None] | None = None,
    ) -> None:
        self.secrets = list(secrets)
        self.host = host
        self.port = port
        self.respond = respond
        self.on_delivery = on_delivery
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def verified(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.verified_with is not None]

    def delivered_ids(self) -> list[str]:
        """The ids of deliveries answered with a 2xx, in arrival order."""
        with self._lock:
            return [r.webhook_id for r in self.received if 200 <= r.status < 300]

    def start(self) -> WebhookListener:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length).decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                index, payload, error = verify(listener.secrets, body, headers)
                received = Received(
                    webhook_id=headers.get("webhook-id", ""),
                    timestamp=headers.get("webhook-timestamp", ""),
                    signature=headers.get("webhook-signature", ""),
                    body=body,
                    verified_with=index,
                    payload=payload if isinstance(payload, dict) else None,
                    error=error,
                    at=time.time(),
                    status=0,
                )
                status = 401 if index is None else 204
                if index is not None and listener.respond is not None:
                    status = listener.respond(received)
                received = Received(**{**received.__dict__, "status": status})
                with listener._lock:
                    listener.received.append(received)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if listener.on_delivery is not None:
                    listener.on_delivery(received)

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused until `start` again, on the same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebhookListener:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def describe(received: Received) -> str:
    """One delivery as a line or two, for `omnigen webhooks listen`."""
    mark = "verified" if received.verified_with is not None else f"NOT VERIFIED ({received.error})"
    head = f"{received.webhook_id}  {mark}  -> {received.status}"
    if received.payload is None:
        return head
    return f"{head}\n{json.dumps(received.payload, indent=2)}"

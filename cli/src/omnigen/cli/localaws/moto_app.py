"""moto's server app with one fidelity fix: DynamoDB requests are applied one at a time.

Real DynamoDB applies each UpdateItem/PutItem atomically (a condition and `version = version + 1`
see the latest write). moto's threaded server runs them concurrently without a lock, so
concurrent updates can be lost inside the emulator; our race tests would then test moto, not
our code. SQS, SNS and S3 stay concurrent (long polls must not block everything else).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedDynamoDB:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


def build_app() -> WsgiApp:
    return SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))


def make_moto_server(host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, build_app(), threaded=True, request_handler=MotoRequestHandler)


class ThreadedServer:
    """The same app served from a thread of this process (the embedded default)."""

    def __init__(self, host: str, port: int) -> None:
        self._server = make_moto_server(host, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server with atomic DynamoDB writes")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    make_moto_server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()

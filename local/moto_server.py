"""moto's server on loopback, answering one request at a time.

DynamoDB applies a conditional write atomically; moto's threaded server does not (two
concurrent conditional updates can both pass). Serialising requests gives the archiver's
conditional writes the atomicity they have in AWS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Self

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class MotoServer:
    """A subclass may answer some requests itself (`answer`), outside moto and its lock."""

    def __init__(self) -> None:
        moto = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            own = self.answer(environ, start_response)
            if own is not None:
                return own
            with lock:  # one at a time
                return list(moto(environ, start_response))

        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        """The answer to a request this server gives itself; None: moto's."""
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

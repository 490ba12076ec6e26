"""moto's server on loopback, answering one request at a time.

DynamoDB applies a conditional write atomically; moto's threaded server does not (two
concurrent conditional updates can both pass). Serialising requests gives the archiver's
conditional writes the atomicity they have in AWS.

`written`, if given, is told the path (`/<bucket>/<key>`) of every object a PUT stored, the moment
moto has stored it: S3's LastModified is to the second only, too coarse for a replay in which a
wall second is a simulated minute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Self
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class MotoServer:
    """A subclass may answer some requests itself (`answer`), outside moto and its lock."""

    def __init__(self, written: Callable[[str], None] | None = None) -> None:
        moto = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            own = self.answer(environ, start_response)
            if own is not None:
                return own
            statuses: list[str] = []

            def started(status: str, *rest: Any) -> Any:
                statuses.append(status)
                return start_response(status, *rest)

            with lock:  # one at a time
                answer = list(moto(environ, started))
                if written is not None and _put_object(environ, statuses):
                    written(environ.get("PATH_INFO", ""))
                return answer

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


def _put_object(environ: dict[str, Any], statuses: list[str]) -> bool:
    """Whether moto has just stored an object whole (a PutObject, not a part or a sub-resource
    such as its tags: botocore names the operation in an `x-id` query parameter)."""
    if environ.get("REQUEST_METHOD") != "PUT" or not statuses or not statuses[0].startswith("200"):
        return False
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return set(query) <= {"x-id"} and query.get("x-id", ["PutObject"]) == ["PutObject"]

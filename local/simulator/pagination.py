"""Opaque, tamper-evident `nextToken`s and keyset paging.

A token names the sort key of the last item served, signed with HMAC-SHA256 (per-server secret)
over the operation and the request's other parameters (all but `nextToken` and `maxResults`,
so a client may change the page size mid-listing, as AWS allows). A token from another
server, operation, stage, session, participant or filter, or an edited one, is refused.
Keyset paging (rather than offsets) keeps a listing exact while sessions start or expire.
Tokens are URL-safe base64, within the model's pattern `[a-zA-Z0-9+/=_-]*` and 1024 chars.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Key = Any  # str, int or a tuple of them: the ascending sort key of an item in API order
_MAC_BYTES = 16
_UNBOUND = ("nextToken", "maxResults")


class InvalidToken(ValueError):
    """A nextToken this server did not issue for this request."""


def _freeze(value: Any) -> Key:
    return tuple(_freeze(item) for item in value) if isinstance(value, list) else value


class Tokens:
    """Issues and checks nextTokens bound to one request's parameters."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def _mac(self, operation: str, request: dict[str, Any], payload: bytes) -> bytes:
        bound = {name: value for name, value in request.items() if name not in _UNBOUND}
        message = b"\0".join(
            [operation.encode(), json.dumps(bound, sort_keys=True).encode(), payload]
        )
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, operation: str, request: dict[str, Any], last_key: Key) -> str:
        payload = json.dumps(last_key, separators=(",", ":")).encode()
        raw = self._mac(operation, request, payload) + payload
        return base64.urlsafe_b64encode(raw).decode("ascii")

    def resolve(self, operation: str, request: dict[str, Any], token: str) -> Key:
        """The key a token carries; InvalidToken unless issued here for this request."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError) as error:
            raise InvalidToken("nextToken is not a token this service issued") from error
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) < _MAC_BYTES or not hmac.compare_digest(
            mac, self._mac(operation, request, payload)
        ):
            raise InvalidToken("nextToken was not issued for this request")
        return _freeze(json.loads(payload))


def position(token: str) -> str:
    """What page a token asks for, without its signature: the same for the same page of the same
    listing on any server (a malformed token is its own position)."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError):
        return token
    return raw[_MAC_BYTES:].decode("utf-8", "replace") if len(raw) > _MAC_BYTES else token


def page(
    items: Sequence[T], after: Key | None, limit: int, key: Callable[[T], Key] | None = None
) -> tuple[list[T], Key | None]:
    """Items after key `after` (None: from the start), at most `limit`, and the key to resume
    from (None on the last page). `items` must be sorted ascending by `key`; without `key`,
    an item's key is its position."""
    if after is None:
        start = 0
    elif key is None:
        start = int(after) + 1
    else:
        start = bisect_right(items, after, key=key)
    chunk = list(items[start : start + limit])
    if start + limit >= len(items):
        return chunk, None
    return chunk, (start + limit - 1 if key is None else key(chunk[-1]))

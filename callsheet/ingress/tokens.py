"""Bearer tokens of the HTTP ingress: one or more per producer, kept hashed in a KV bucket.

``callsheet token create PRODUCER`` makes a token and shows it once; the bucket
``{stream}_TOKENS`` keeps only its SHA-256 (the key) and the producer it speaks
for (the value), so a copy of the bucket gives no token away. A token is 32
random bytes, so a plain hash is as strong as a slow one would be; a lookup is
one KV get, so revoking takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Annotated, Final

import msgspec
from msgspec import Meta
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from callsheet.events.envelope import Id
from callsheet.projections.snapshots import find_bucket, open_bucket

__all__ = ["TOKEN_PREFIX", "TokenError", "TokenRecord", "Tokens", "check_producer", "token_bucket"]

TOKEN_PREFIX: Final = "cst_"
"""Every token starts so, to be recognised in a leaked file or a log."""
_MAX_TOKEN_CHARS: Final = 128


class TokenError(ValueError):
    """A producer name a token cannot be made for."""


class TokenRecord(msgspec.Struct, kw_only=True, frozen=True):
    """What the bucket keeps for a token (never the token itself)."""

    producer: Annotated[Id, Meta(description="The producer the token speaks for.")]
    created_at: Annotated[datetime, Meta(description="When the token was made.")]
    hint: Annotated[str, Meta(description="The token's first characters, to tell tokens apart.")]


_record_decoder = msgspec.json.Decoder(TokenRecord)
_producer_decoder = msgspec.json.Decoder(Id)


def token_bucket(stream: str) -> str:
    """The KV bucket holding the tokens of the log ``stream``."""
    return f"{stream}_TOKENS"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_producer(producer: str) -> str:
    """Return ``producer`` if it is a valid producer id (as the envelope's ``producer``).

    Raises:
        TokenError: It is empty, longer than an id may be, or not text.
    """
    try:
        return _producer_decoder.decode(msgspec.json.encode(producer))
    except msgspec.ValidationError as exc:
        raise TokenError(f"producer {producer[:40]!r} is not a valid id: {exc}") from None


class Tokens:
    """The tokens of one log, in the bucket ``token_bucket(stream)``.

    Args:
        nc: Connection.
        stream: The log's stream name.
        replicas: Replicas of the bucket, if it is created.
    """

    def __init__(self, nc: Client, stream: str, *, replicas: int = 1) -> None:
        self._nc = nc
        self.bucket = token_bucket(stream)
        self._replicas = replicas
        self._kv: KeyValue | None = None

    async def _open(self, *, create: bool) -> KeyValue | None:
        if self._kv is None:
            if create:
                self._kv = await open_bucket(self._nc, self.bucket, replicas=self._replicas)
            else:
                self._kv = await find_bucket(self._nc, self.bucket)
        return self._kv

    async def create(self, producer: str) -> str:
        """Make a new token for ``producer`` and return it (it is not kept).

        Raises:
            TokenError: ``producer`` is not a valid producer id.
        """
        check_producer(producer)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            producer=producer, created_at=datetime.now(UTC), hint=token[: len(TOKEN_PREFIX) + 4]
        )
        kv = await self._open(create=True)
        assert kv is not None
        await kv.create(_digest(token), msgspec.json.encode(record))
        return token

    async def producer_of(self, token: str) -> str | None:
        """The producer ``token`` speaks for, or None if it is no valid token."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        kv = await self._open(create=False)
        if kv is None:
            return None
        try:
            entry = await kv.get(_digest(token))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return _record_decoder.decode(entry.value).producer

    async def records(self) -> list[tuple[str, TokenRecord]]:
        """Every token's key (its hash) and record, oldest first."""
        kv = await self._open(create=False)
        if kv is None:
            return []
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        found = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                continue  # revoked meanwhile
            if entry.value:
                found.append((key, _record_decoder.decode(entry.value)))
        return sorted(found, key=lambda item: item[1].created_at)

    async def revoke(self, producer: str) -> int:
        """Revoke every token of ``producer``; return how many there were."""
        kv = await self._open(create=False)
        if kv is None:
            return 0
        revoked = 0
        for key, record in await self.records():
            if record.producer == producer:
                await kv.purge(key)
                revoked += 1
        return revoked

"""Client keys: creation (shown once), hashed storage, revocation, and authentication.

Client keys have 256 bits of entropy, so a plain SHA-256 is a safe, fast storage hash (no
slow KDF needed: there is no low-entropy password to brute-force). Authentication runs on every
request, so verified keys are cached for `cache_ttl` seconds; a revoke through the gateway
drops the cache entry at once, and a revoke by another process (the CLI on the same database)
takes effect within the TTL.

A token that is not shaped like a client key (`pbpm-` and 43 URL-safe characters, what
`new_secret` makes) is refused before the cache and the database are consulted: 15 KB junk
keys used to cost a query each and a cache entry each (139 MB in 4 s, issue 9). The cache is
keyed by the SHA-256 digest (no secret is kept in memory) and is a bounded LRU.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pbpm_desktop.core.access.secrets import MasterKey, new_secret
from pbpm_desktop.core.errors import GatewayError
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.models import ApiKey
from pbpm_desktop.core.timeutil import parse_utc

log = logging.getLogger(__name__)

CLIENT_PREFIX = "pbpm-"
DISPLAY_PREFIX_LEN = 12  # "pbpm-" + 7 characters
#: what `new_secret(CLIENT_PREFIX)` makes: the prefix and token_urlsafe(32), 43 characters
_CLIENT_KEY_SHAPE = re.compile(r"pbpm-[A-Za-z0-9_-]{43}")
CLIENT_KEY_LEN = len(CLIENT_PREFIX) + 43
#: cache entries (verified and unknown keys): ~300 bytes each, so a few MB at most
CACHE_MAX_ENTRIES = 10_000
#: Tortoise's IntField is 32-bit signed on every database it supports (key ids, policy ints)
MAX_DB_INT = 2**31 - 1
MAX_NAME_LEN = 200  # ApiKey.name / ApiKey.email columns


def looks_like_client_key(token: str) -> bool:
    """Could `token` be a client key at all? (Checked before any hashing or database work.)"""
    return len(token) == CLIENT_KEY_LEN and _CLIENT_KEY_SHAPE.fullmatch(token) is not None


class KeyServiceError(GatewayError):
    """A key operation failed; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An immutable snapshot of a client key, safe to cache and to show (no secret)."""

    id: int
    prefix: str
    name: str
    email: str
    created_at: datetime
    revoked_at: datetime | None
    models: frozenset[str]
    expires_at: datetime | None
    rpm: int | None
    tokens_per_day: int | None
    max_streams: int | None
    #: may use Ollama cloud models (DESIGN.md §3): they run on the owner's ollama.com account
    cloud: bool = False

    @property
    def owner(self) -> str:
        return self.email or self.name

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)

    def allows_model(self, model: str) -> bool:
        if not self.models:
            return True
        return model in self.models or model.removesuffix(":latest") in self.models

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "email": self.email,
            "owner": self.owner,
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at),
            "status": "revoked" if self.revoked_at else ("expired" if self.expired else "active"),
            "models": sorted(self.models),
            "expires_at": _iso(self.expires_at),
            "rpm": self.rpm,
            "tokens_per_day": self.tokens_per_day,
            "max_streams": self.max_streams,
            "cloud": self.cloud,
        }

    @classmethod
    def from_row(cls, row: ApiKey) -> KeyInfo:
        return cls(
            id=row.id,
            prefix=row.prefix,
            name=row.name,
            email=row.email,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            models=frozenset(m for m in row.models.split(",") if m),
            expires_at=row.expires_at,
            rpm=row.rpm,
            tokens_per_day=row.tokens_per_day,
            max_streams=row.max_streams,
            cloud=bool(row.cloud),
        )


MASTER = "master"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


POLICY_FIELDS = ("models", "expires_at", "rpm", "tokens_per_day", "max_streams", "cloud")
#: what PATCH /admin/keys/{id} may change: the policy, and who the key is for
EDITABLE_FIELDS = ("name", "email", *POLICY_FIELDS)


def parse_policy(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate policy fields from a query or JSON body; raise KeyServiceError(400) if wrong."""
    out: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        if name not in raw:
            continue
        value = raw[name]
        if value in (None, ""):
            out[name] = {"models": "", "cloud": False}.get(name)
            continue
        try:
            if name == "cloud":
                out[name] = _parse_bool(value)
            elif name == "models":
                items = value.split(",") if isinstance(value, str) else list(value)
                out[name] = ",".join(sorted({str(m).strip() for m in items if str(m).strip()}))
            elif name == "expires_at":
                when = parse_utc(value).astimezone(UTC)  # year 1 +05:00: OverflowError
                if not 1970 <= when.year <= 9998:  # the database and every clock can hold it
                    raise ValueError
                out[name] = when
            else:
                number = int(value)
                if number < 0 or number > MAX_DB_INT:
                    raise ValueError
                out[name] = number
        except (TypeError, ValueError, OverflowError) as exc:
            hint = (
                "an ISO 8601 date between 1970 and 9998"
                if name == "expires_at"
                else f"a non-negative integer up to {MAX_DB_INT}"
            )
            if name == "cloud":
                hint = "true or false"
            if name == "models":
                hint = "a comma list or JSON list of model names"
            raise KeyServiceError(400, f"'{name}' must be {hint}, got {value!r}") from exc
    return out


def _parse_bool(value: Any) -> bool:
    """A JSON bool, or a query-string spelling of one (true/false, 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError(value)


class KeyService:
    """Client keys in the database, with the cache that keeps lookups off the hot path.

    The cache is keyed by the key's SHA-256 digest (a hit costs one hash of 48 bytes and one
    dict lookup; the master-key comparison can be skipped: the master key is never stored)
    and holds at most `max_entries`, least recently used out first. A key in use is re-read
    in the background during the last `refresh_ahead` seconds of its entry, so busy keys
    never wait on the database, while a revoke by another process is still seen within
    `cache_ttl`.
    """

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        cache_ttl: float = 5.0,
        max_entries: int = CACHE_MAX_ENTRIES,
    ) -> None:
        self.db = db
        self.master = master
        self.cache_ttl = cache_ttl
        self.max_entries = max_entries
        self.db_lookups = 0  # database reads for authentication (tests, diagnostics)
        self._cache: OrderedDict[str, tuple[float, KeyInfo | None]] = OrderedDict()
        self._master_digest = hash_key(master.value).encode()
        self._generation = 0  # bumped by every change, so a racing read is not cached
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def refresh_ahead(self) -> float:
        return min(1.0, self.cache_ttl / 5)

    def is_master(self, token: str) -> bool:
        """Constant-time comparison (of digests, so lengths leak nothing either)."""
        return hmac.compare_digest(hash_key(token).encode(), self._master_digest)

    def cached(self, token: str) -> KeyInfo | None:
        """The client key for `token` if a fresh cache entry has it (never the master key)."""
        if not looks_like_client_key(token):
            return None
        return self._cached(hash_key(token))

    def _cached(self, digest: str) -> KeyInfo | None:
        hit = self._cache.get(digest)
        if hit is None:
            return None
        expires, info = hit
        now = time.monotonic()
        if expires <= now:
            return None
        if expires - now < self.refresh_ahead and digest not in self._refreshing:
            self._refresh_soon(digest)
        return info

    async def lookup(self, token: str) -> KeyInfo | None:
        """The client key for `token` (None if unknown). Cached; revoked keys are returned too.

        A token not shaped like a client key is unknown without a database read or a cache
        entry, whatever its size.
        """
        if not looks_like_client_key(token):
            return None
        digest = hash_key(token)
        info = self._cached(digest)  # one clock reading decides: fresh entry or a database read
        if info is not None:
            self._cache.move_to_end(digest)
            return info
        hit = self._cache.get(digest)
        if hit is not None and hit[1] is None and hit[0] > time.monotonic():
            return None  # a fresh "unknown" entry
        return await self._load(digest)

    async def _load(self, digest: str) -> KeyInfo | None:
        for _ in range(3):
            generation = self._generation
            self.db_lookups += 1
            with self.db.bound():
                row = await ApiKey.get_or_none(key_hash=digest)
            info = KeyInfo.from_row(row) if row else None
            if generation == self._generation:
                break  # no revoke or policy change raced with the read: safe to cache
        else:
            return info
        self._cache[digest] = (time.monotonic() + self.cache_ttl, info)
        self._cache.move_to_end(digest)
        while len(self._cache) > self.max_entries:  # bounded under a flood of random keys
            self._cache.popitem(last=False)
        return info

    def _refresh_soon(self, digest: str) -> None:
        self._refreshing.add(digest)
        task = asyncio.get_running_loop().create_task(self._refresh(digest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, digest: str) -> None:
        try:
            await self._load(digest)
        except Exception as exc:  # keep the entry until it expires; a request then retries
            log.debug("key cache refresh failed (%s)", type(exc).__name__)
        finally:
            self._refreshing.discard(digest)

    def _forget(self, key_id: int) -> None:
        self._generation += 1
        for digest, (_, info) in list(self._cache.items()):
            if info is not None and info.id == key_id:
                del self._cache[digest]

    async def create(self, name: str, email: str = "", **policy: Any) -> tuple[KeyInfo, str]:
        name = (name or "").strip()
        email = (email or "").strip()
        if not name:
            raise KeyServiceError(400, "a key needs a 'name' (who or what will use it)")
        for label, value in (("name", name), ("email", email)):
            if len(value) > MAX_NAME_LEN:
                raise KeyServiceError(
                    400, f"'{label}' is {len(value)} characters; at most {MAX_NAME_LEN} fit"
                )
        fields = parse_policy(policy)
        secret = new_secret(CLIENT_PREFIX)
        with self.db.bound():
            row = await ApiKey.create(
                key_hash=hash_key(secret),
                prefix=secret[:DISPLAY_PREFIX_LEN],
                name=name,
                email=email,
                **fields,
            )
        return KeyInfo.from_row(row), secret

    async def get(self, key_id: int) -> KeyInfo:
        with self.db.bound():
            row = await ApiKey.get_or_none(id=key_id)
        if row is None:
            raise KeyServiceError(404, f"no key with id {key_id}; `GET /admin/keys` lists them")
        return KeyInfo.from_row(row)

    async def list(self) -> list[KeyInfo]:
        with self.db.bound():
            rows = await ApiKey.all().order_by("id")
        return [KeyInfo.from_row(r) for r in rows]

    async def revoke(self, key_id: int) -> KeyInfo:
        with self.db.bound():
            row = await ApiKey.get_or_none(id=key_id)
            if row is None:
                raise KeyServiceError(404, f"no key with id {key_id}; `GET /admin/keys` lists them")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                await row.save(update_fields=["revoked_at"])
        self._forget(key_id)
        return KeyInfo.from_row(row)

    async def update(
        self, key_id: int, *, name: str | None = None, email: str | None = None, **policy: Any
    ) -> KeyInfo:
        """Change a key's policy fields and, when given, its name and email."""
        fields = parse_policy(policy)
        if name is not None:
            if not str(name).strip():
                raise KeyServiceError(400, "a key needs a 'name' (who or what will use it)")
            fields["name"] = str(name).strip()
        if email is not None:
            fields["email"] = str(email).strip()
        with self.db.bound():
            row = await ApiKey.get_or_none(id=key_id)
            if row is None:
                raise KeyServiceError(404, f"no key with id {key_id}; `GET /admin/keys` lists them")
            if fields:
                for name, value in fields.items():
                    setattr(row, name, value)
                await row.save(update_fields=list(fields))
        self._forget(key_id)
        return KeyInfo.from_row(row)

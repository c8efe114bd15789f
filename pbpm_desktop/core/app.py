"""The composition root: builds the core's parts, starts and stops them in order.

`serve` runs it on the main thread; the desktop app runs the same object on a `LoopThread`
and calls its coroutine methods through the Qt bridge. All methods below run on the gateway
loop; none of them touch Qt.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiohttp import web

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.access.key_rows import check_models, keys_with_usage
from pbpm_desktop.core.access.keys import KeyService
from pbpm_desktop.core.access.policy import PolicyEnforcer
from pbpm_desktop.core.access.secrets import MasterKey, load_master_key, make_private_dir
from pbpm_desktop.core.accounting.audit import AuditWriter
from pbpm_desktop.core.accounting.metrics import GatewayMetrics
from pbpm_desktop.core.contracts import (
    GatewayState,
    KeyRow,
    OllamaStatus,
    UsageBucket,
    UsageTotalRow,
    VramSnapshot,
)
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.exposure import ExposureReport, check_ollama_exposure, lan_address
from pbpm_desktop.core.gc_freeze import freeze_startup_objects
from pbpm_desktop.core.http.app import create_app
from pbpm_desktop.core.http.context import GatewayContext
from pbpm_desktop.core.http.server import (
    ConnectionCap,
    GatewayRunner,
    effective_cap,
    raise_fd_limit,
)
from pbpm_desktop.core.pause import PauseController
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.tls import fingerprint, server_context
from pbpm_desktop.core.upstream.client import OllamaClient
from pbpm_desktop.core.upstream.health import OllamaHealth
from pbpm_desktop.core.vram.manager import VramManager

log = logging.getLogger(__name__)

AIOHTTP_KEEPALIVE_S = 3630.0  # aiohttp's own default, used when KEEPALIVE_TIMEOUT_S is 0
AUDIT_JOURNAL = "audit-journal.ndjson"


class GatewayService:
    """One gateway: database, key service, audit writer, Ollama client, VRAM manager, HTTP."""

    def __init__(
        self,
        settings: Settings,
        *,
        master_key: MasterKey | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.events = events or EventBus()
        self.master = master_key
        self.state = GatewayState.STOPPED
        self.port: int | None = None
        #: is Ollama answering, and which version (polled while serving; core/upstream/health.py)
        self.ollama_health = OllamaHealth(settings.ollama_url, self.events)
        self._runner: web.AppRunner | None = None
        #: what has started, to be undone in reverse order by `stop` (each part pushes its own
        #: clean-up as it starts, so a start that fails half-way undoes exactly what ran)
        self._started = AsyncExitStack()
        self.db: Database | None = None
        self.context: GatewayContext | None = None
        #: SHA-256 fingerprint of the served certificate while serving HTTPS
        self.tls_fingerprint: str | None = None
        #: the latest exposure self-check (core/exposure.py), run at every start
        self.exposure: ExposureReport | None = None
        #: Prometheus metrics; outlive restarts, so counters keep counting across them
        self.metrics = GatewayMetrics(self.events, self._metrics_state, self._is_known_model)

    # --- life cycle -------------------------------------------------------------------------

    async def open_storage(self) -> None:
        """Database and keys only (what the CLI's `keys`/`usage` commands need)."""
        make_private_dir(self.settings.data_dir)  # it holds emails, key hashes, addresses
        if self.master is None:
            self.master = load_master_key(self.settings.data_dir, self.settings.master_api_key)
        if self.db is None:
            db = Database(self.settings.database_url)
            await db.open()
            self.db = db
            self._started.push_async_callback(self._close_db)

    async def start(self) -> None:
        """Start everything; if any part fails (port taken, say), undo what had started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        # a bad certificate or key stops start-up before anything else has started
        ssl_context = server_context(self.settings)
        self.tls_fingerprint = fingerprint(self.settings.tls_cert or "") if ssl_context else None
        await self.open_storage()
        assert self.db is not None and self.master is not None
        s = self.settings
        ollama = self._new_ollama_client()
        self._started.push_async_callback(ollama.close)
        await ollama.start()
        # the journal keeps what a SIGKILL would lose (core/accounting/journal.py)
        audit = AuditWriter(self.db, self.events, journal=s.data_dir / AUDIT_JOURNAL)
        self._started.push_async_callback(audit.stop)
        await audit.start()
        keys = KeyService(self.db, self.master)
        policy = PolicyEnforcer(audit, self._tokens_since, s.quota_reserve_tokens)
        vram = VramManager(ollama, s, self.events)
        pause = PauseController(vram, self.events, s.shutdown_grace_s)
        self.context = GatewayContext(
            s, keys, audit, ollama, vram, policy, self.events, pause, self.metrics
        )
        self._started.callback(setattr, self, "context", None)
        self._started.push_async_callback(vram.stop)
        await vram.start()
        await self._start_http(ssl_context)
        self._started.push_async_callback(pause.stop)  # before the HTTP layer: ends the waits
        self.ollama_health.url = s.ollama_url  # a restart may have changed it
        self._background(self.ollama_health.watch(ollama), "ollama-monitor")
        self._background(self._warn_exposure(), "exposure-check")
        self.state = GatewayState.SERVING
        self.events.publish(ev.GATEWAY_STATE, {"state": self.state, "url": self.url})

    async def _start_http(self, ssl_context: ssl.SSLContext | None = None) -> None:
        assert self.context is not None
        app = create_app(self.context)
        cap = effective_cap(self.settings.max_connections_per_client, raise_fd_limit())
        self._runner = GatewayRunner(
            app,
            cap=ConnectionCap(cap),
            head_timeout=self.settings.keepalive_timeout_s,
            handler_cancellation=True,
            # on stop, requests still streaming get this long to finish before being cut
            shutdown_timeout=self.settings.shutdown_grace_s,
            # idle connections and request heads that never finish are closed after this
            keepalive_timeout=self.settings.keepalive_timeout_s or AIOHTTP_KEEPALIVE_S,
            access_log=logging.getLogger("pbpm_desktop.access")
            if self.settings.access_log
            else None,
        )
        await self._runner.setup()
        self._started.push_async_callback(self._close_http)
        site = web.TCPSite(
            self._runner,
            self.settings.host,
            self.settings.port,
            backlog=1024,
            ssl_context=ssl_context,
        )
        try:
            await site.start()
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot listen on {self.settings.host}:{self.settings.port} ({exc.strerror}); "
                "is another gateway running? Choose another port with PBPM_PORT or --port",
            ) from exc
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        freeze_startup_objects()

    async def stop(self) -> None:
        """Undo what started, newest first: background tasks, pause waits, the HTTP layer
        (requests still streaming get SHUTDOWN_GRACE_S), VRAM, the audit (flushed), the
        Ollama pool, the database. Every step runs even if an earlier one fails."""
        await self._started.aclose()
        if self.state != GatewayState.STOPPED:
            self.state = GatewayState.STOPPED
            self.events.publish(ev.GATEWAY_STATE, {"state": self.state, "url": None})

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._started.callback(task.cancel)

    async def _close_http(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _close_db(self) -> None:
        if self.db is not None:
            db, self.db = self.db, None
            await db.close()

    async def restart(self, settings: Settings | None = None) -> None:
        """Apply new settings by restarting the gateway (a few hundred ms; no data lost)."""
        await self.stop()
        if settings is not None:
            self.settings = settings
        await self.start()

    # --- addresses ----------------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        if self.port is None or (self.state == GatewayState.STOPPED and self._runner is None):
            return None
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_fingerprint else "http"

    def urls(self) -> list[str]:
        """Local URL first, then the LAN address when listening on all interfaces."""
        if self.url is None:
            return []
        out = [self.url]
        if self.settings.host in ("0.0.0.0", "::", ""):
            lan = lan_address()
            if lan:
                out.append(f"{self.scheme}://{lan}:{self.port}")
        return out

    # --- Ollama status ------------------------------------------------------------------------

    async def check_ollama(self) -> OllamaStatus:
        """Ask Ollama for its version now (the Overview page's "Check again")."""
        return await self.ollama_health.check(self._ctx().ollama)

    def ollama_status(self) -> OllamaStatus:
        return self.ollama_health.status()

    # --- operations for the UI and CLI ----------------------------------------------------------

    def _ctx(self) -> GatewayContext:
        if self.context is None:
            raise RuntimeError("the gateway is stopped; start it first")
        return self.context

    async def create_key(self, name: str, email: str = "", **policy: Any) -> dict[str, Any]:
        await self._check_models(policy)
        info, secret = await self._keys().create(name, email, **policy)
        self.events.publish(ev.KEYS_CHANGED, {"id": info.id, "action": "created"})
        return {"api_key": secret, **info.to_dict()}

    async def revoke_key(self, key_id: int) -> dict[str, Any]:
        info = await self._keys().revoke(key_id)
        self.events.publish(ev.KEYS_CHANGED, {"id": info.id, "action": "revoked"})
        return info.to_dict()

    async def update_key(self, key_id: int, **changes: Any) -> dict[str, Any]:
        """What PATCH /admin/keys/{id} does: new policy fields, name or email for a key."""
        await self._check_models(changes)
        info = await self._keys().update(key_id, **changes)
        self.events.publish(ev.KEYS_CHANGED, {"id": info.id, "action": "updated"})
        return info.to_dict()

    async def _check_models(self, policy: dict[str, Any]) -> None:
        """An allow-list names installed models only, whether the gateway runs or not."""
        if self.context is not None:
            await check_models(self.context.vram, policy)
            return
        if not policy.get("models"):
            return
        # storage only (the CLI's `keys create`): ask Ollama itself, as a running gateway would
        ollama = self._new_ollama_client()
        await ollama.start()
        try:
            await check_models(VramManager(ollama, self.settings, self.events), policy)
        finally:
            await ollama.close()

    def _new_ollama_client(self) -> OllamaClient:
        s = self.settings
        return OllamaClient(
            s.ollama_url,
            connect_timeout=s.connect_timeout_s,
            first_byte_timeout=s.first_byte_timeout_s,
            idle_timeout=s.idle_timeout_s,
        )

    async def list_keys(self) -> list[KeyRow]:
        await self._flush_audit()
        return await keys_with_usage(self._keys())

    async def usage_records(self, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        await self._flush_audit()
        return await self._db().usage.records(limit=limit, **filters)

    async def usage_totals(self, group_by: str, **filters: Any) -> list[UsageTotalRow]:
        await self._flush_audit()
        # the store's rows are plain dicts of exactly these columns (core/store/queries.py)
        return cast(list[UsageTotalRow], await self._db().usage.totals(group_by, **filters))

    async def usage_series(
        self, since: datetime, bucket: str = "hour", **filters: Any
    ) -> list[UsageBucket]:
        await self._flush_audit()
        series = await self._db().usage.series(since, bucket, **filters)
        return cast(list[UsageBucket], series)

    async def today(self) -> dict[str, int]:
        """Requests and tokens since 00:00 UTC (the Overview page's counters)."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = await self.usage_totals("model", since=midnight)
        return {
            "requests": sum(r["requests"] for r in rows),
            "tokens": sum(r["total_tokens"] for r in rows),
        }

    async def preload(self, model: str) -> dict[str, Any]:
        vram = self._ctx().vram
        return await vram.preload(await vram.resolve(model))

    async def unload(self, model: str) -> dict[str, Any]:
        vram = self._ctx().vram
        return await vram.unload(await vram.resolve(model))

    def vram_snapshot(self) -> dict[str, Any]:
        """The JSON shape of `vram_state()` (CLI, tests, /admin/status)."""
        return self._ctx().vram.snapshot()

    def vram_state(self) -> VramSnapshot:
        return self._ctx().vram.state()

    # --- pause, exposure, metrics (issue 13) ------------------------------------------------

    async def pause(
        self, free_vram: bool = True, minutes: float | None = None, wait: bool = False
    ) -> dict[str, Any]:
        """Pause sharing (the tray's "Pause sharing and free the GPU"); see core/pause.py."""
        pause = self._pause()
        status = await pause.pause(free_vram=free_vram, minutes=minutes)
        return await pause.wait_freed() if wait else status

    async def resume(self) -> dict[str, Any]:
        return await self._pause().resume()

    def pause_status(self) -> dict[str, Any]:
        return self._pause().status()

    async def check_exposure(self, addresses: list[str] | None = None) -> ExposureReport:
        """Is Ollama reachable on this machine's LAN addresses? (also run at every start)"""
        self.exposure = await check_ollama_exposure(self.settings.ollama_url, addresses)
        self.events.publish(ev.EXPOSURE, self.exposure.to_dict())
        return self.exposure

    async def _warn_exposure(self) -> None:
        try:
            report = await self.check_exposure()
        except Exception:  # a self-check must never take the gateway down
            log.exception("exposure self-check failed")
            return
        warning = report.warning()
        if warning:
            log.warning("SECURITY: %s", warning)

    def _pause(self) -> PauseController:
        return self._ctx().pause

    def _metrics_state(self) -> dict[str, Any] | None:
        """What the metrics' scrape-time gauges read (None while stopped)."""
        ctx = self.context
        if ctx is None:
            return None
        audit = ctx.audit
        return {
            "vram": ctx.vram.snapshot(),
            "paused": ctx.pause.paused,
            "audit": {
                "pending": audit.pending,
                "written": audit.written,
                "dropped": audit.dropped,
                "failed_flushes": audit.failed_flushes,
            },
        }

    def _is_known_model(self, model: str) -> bool:
        """May the metrics use this model name as a label: installed or configured?"""
        ctx = self.context
        if ctx is not None and model in ctx.vram.installed:
            return True
        return model in self.settings.always_on_models

    async def _flush_audit(self) -> None:
        if self.context is not None:
            await self.context.audit.flush()

    async def _tokens_since(self, key_id: int, since: datetime) -> int:
        return await self._db().usage.tokens_since(key_id, since)

    def _keys(self) -> KeyService:
        """The running gateway's key service (its cache must see revokes), or one for the CLI."""
        if self.context is not None:
            return self.context.keys
        return KeyService(self._db(), self._master())

    def _db(self) -> Database:
        if self.db is None:
            raise RuntimeError("storage is not open")
        return self.db

    def _master(self) -> MasterKey:
        assert self.master is not None
        return self.master


def since_range(label: str) -> datetime:
    """Start of a "24h" / "7d" / "30d" range."""
    span = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}[label]
    return datetime.now(UTC) - span

"""Pause sharing: the owner takes the GPU back for a game or a render (DESIGN.md §3).

`POST /admin/pause`, the tray's "Pause sharing and free the GPU" and `GatewayService.pause`
all end here. While sharing is paused:

* new inference (and preload) is refused with 503, `Retry-After` and a message that says the
  owner paused sharing; requests already queued for a swap are refused the same way;
* requests already running finish; any still running `SHUTDOWN_GRACE_S` after the pause are
  cut, so "free the GPU" has an upper bound however long a client streams;
* with `free_vram`, once they have ended every model Ollama holds is unloaded, always-on and
  models loaded outside the gateway too, and the VRAM reconcile pass reloads nothing;
* with `minutes`, sharing resumes by itself; resuming reloads the always-on models.

State lives here, on the gateway loop; `VramManager.set_paused` carries the part the VRAM
policy needs (no always-on reloads, the state in the published snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.access.policy import PolicyRefusal
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.upstream.client import OllamaError
from pbpm_desktop.core.vram.manager import VramManager

log = logging.getLogger(__name__)

#: Retry-After when the pause has no end time: clients retry in a minute, not in a hot loop
OPEN_ENDED_RETRY_S = 60
#: the longest pause accepted in `minutes` (a week); longer means "until I resume"
MAX_PAUSE_MINUTES = 7 * 24 * 60
#: once streams are cut after the grace period, how long to wait for them to unwind
CUT_SETTLE_S = 5.0


class SharingPaused(PolicyRefusal):
    """503 + Retry-After: the owner paused sharing (the error middleware renders it)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(503, message, retry_after)


@dataclass
class _Pause:
    since: datetime
    until: datetime | None
    free_vram: bool


class PauseController:
    """Whether sharing is paused, and the work of pausing and resuming."""

    def __init__(self, vram: VramManager, events: EventBus, grace_s: float) -> None:
        self.vram = vram
        self.events = events
        self.grace_s = grace_s
        self._pause: _Pause | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the gateway's, set on first use
        self._idle = asyncio.Event()
        self._idle.set()
        self._freeing: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self.vram_freed = False
        self.unloaded: list[str] = []
        self.error: str | None = None

    @property
    def paused(self) -> bool:
        return self._pause is not None

    # -- the gate ---------------------------------------------------------------------------

    def refusal(self) -> SharingPaused:
        pause = self._pause
        until = pause.until if pause is not None else None
        if until is None:
            retry = OPEN_ENDED_RETRY_S
            when = "until they resume it"
        else:
            retry = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
            when = f"until {until.strftime('%H:%M')} UTC"
        return SharingPaused(
            "the owner of this workstation paused sharing to use the GPU themselves "
            f"({when}); try again later",
            retry,
        )

    def guard(self) -> _Running:
        """`with pause.guard():` around one inference request: refused while paused, else
        counted as running. Running requests are what a pause waits for (and cuts after
        SHUTDOWN_GRACE_S). A plain class, not a generator: it runs on every request."""
        return _Running(self)

    def enter(self) -> asyncio.Task[Any] | None:
        """Count the current request as running (pass the result to `leave` when it ends);
        raises SharingPaused while paused."""
        if self._pause is not None:
            raise self.refusal()
        loop = self._loop
        if loop is None:  # once: on Python 3.11 each lookup of the running loop is a getpid()
            loop = self._loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:  # not in a task (never the case under aiohttp): nothing to track
            return None
        self._running.add(task)
        self._idle.clear()
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> None:
        if task is None:
            return
        self._running.discard(task)
        if not self._running:
            self._idle.set()

    # -- pause / resume ---------------------------------------------------------------------

    async def pause(self, free_vram: bool = False, minutes: float | None = None) -> dict[str, Any]:
        """Pause now (or change the running pause); returns at once with the new status.

        `wait_freed()` waits for the GPU to be free. Pausing again while paused keeps
        `free_vram` if either call asked for it and restarts the timer from now.
        """
        if minutes is not None and not (0 < minutes <= MAX_PAUSE_MINUTES):
            raise ValueError(
                f"'minutes' must be more than 0 and at most {MAX_PAUSE_MINUTES} (a week); "
                "leave it out to pause until you resume"
            )
        now = datetime.now(UTC)
        previous = self._pause
        free_vram = free_vram or (previous is not None and previous.free_vram)
        until = now + timedelta(minutes=minutes) if minutes is not None else None
        self._pause = _Pause(previous.since if previous else now, until, free_vram)
        self.vram.set_paused(self.status())
        self.vram.refuse_waiting(self.refusal())
        self._cancel(self._timer)
        self._timer = None
        if until is not None:
            self._timer = asyncio.create_task(self._resume_at(until), name="pause-timer")
        if free_vram and self._freeing is None:
            self.vram_freed, self.unloaded, self.error = False, [], None
            self._freeing = asyncio.create_task(self._free_vram(), name="pause-free-vram")
        log.warning(
            "sharing paused%s%s: new requests get 503",
            " and freeing the GPU" if free_vram else "",
            f" until {until.isoformat(timespec='seconds')}" if until else "",
        )
        return self._publish()

    async def wait_freed(self) -> dict[str, Any]:
        """Wait until a `free_vram` pause has emptied the GPU (or failed to); the status."""
        task = self._freeing
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        return self.status()

    async def resume(self) -> dict[str, Any]:
        """Accept inference again and reload the always-on models."""
        if self._pause is None:
            return self.status()
        self._pause = None
        if self._timer is not asyncio.current_task():
            self._cancel(self._timer)
        self._timer = None
        self._cancel(self._freeing)
        self._freeing = None
        self.vram.set_paused(None)
        log.info("sharing resumed")
        self._publish()
        await self.vram.reconcile()  # reloads missing always-on models (DESIGN.md §4)
        return self._publish()

    async def stop(self) -> None:
        """Gateway shutdown: drop the timers; the paused state is not kept across starts."""
        for task in (self._timer, self._freeing):
            self._cancel(task)
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._timer = self._freeing = None

    def status(self) -> dict[str, Any]:
        pause = self._pause
        return {
            "paused": pause is not None,
            "since": pause.since.isoformat() if pause else None,
            "until": pause.until.isoformat() if pause and pause.until else None,
            "free_vram": bool(pause and pause.free_vram),
            "vram_freed": bool(pause and pause.free_vram and self.vram_freed),
            "unloaded": list(self.unloaded) if pause else [],
            "running": len(self._running),
            "error": self.error if pause else None,
        }

    # -- internals --------------------------------------------------------------------------

    async def _resume_at(self, until: datetime) -> None:
        await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))
        await self.resume()

    async def _free_vram(self) -> None:
        """Let running requests finish (at most SHUTDOWN_GRACE_S), then unload everything."""
        try:
            try:
                async with asyncio.timeout(self.grace_s):
                    await self._idle.wait()
            except TimeoutError:
                running = list(self._running)
                log.warning(
                    "pause: %d request(s) still running after SHUTDOWN_GRACE_S=%gs; cutting "
                    "them to free the GPU",
                    len(running),
                    self.grace_s,
                )
                for task in running:
                    task.cancel()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CUT_SETTLE_S):
                        await self._idle.wait()
            self.unloaded = await self.vram.unload_everything("sharing paused")
            self.vram_freed = True
            log.info("pause: GPU freed (unloaded %s)", ", ".join(self.unloaded) or "nothing")
        except OllamaError as exc:
            self.error = f"could not unload every model: {exc.message}"
            log.warning("pause: %s", self.error)
        finally:
            if self._freeing is asyncio.current_task():
                self._freeing = None
            if self._pause is not None:
                self._publish()

    def _publish(self) -> dict[str, Any]:
        status = self.status()
        if self._pause is not None:
            self.vram.set_paused(status)
        self.events.publish(ev.PAUSE_STATE, status)
        return status

    @staticmethod
    def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()


class _Running:
    """What `PauseController.guard()` returns: enter counts the request, exit uncounts it."""

    __slots__ = ("_controller", "_task")

    def __init__(self, controller: PauseController) -> None:
        self._controller = controller
        self._task: asyncio.Task[Any] | None = None

    def __enter__(self) -> None:
        self._task = self._controller.enter()

    def __exit__(self, *exc: object) -> None:
        self._controller.leave(self._task)

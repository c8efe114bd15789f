"""What request handlers need from the core, stored on the aiohttp app under one typed key."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from pbpm_desktop.core.access.guard import AuthGuard
from pbpm_desktop.core.access.keys import KeyService
from pbpm_desktop.core.access.policy import PolicyEnforcer
from pbpm_desktop.core.accounting.audit import AuditWriter
from pbpm_desktop.core.accounting.metrics import GatewayMetrics
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.pause import PauseController
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.upstream.client import OllamaClient
from pbpm_desktop.core.vram.manager import VramManager


@dataclass
class GatewayContext:
    settings: Settings
    keys: KeyService
    audit: AuditWriter
    ollama: OllamaClient
    vram: VramManager
    policy: PolicyEnforcer
    events: EventBus
    pause: PauseController
    metrics: GatewayMetrics
    guard: AuthGuard = field(default_factory=AuthGuard)  # failed authentications per address


CONTEXT = web.AppKey("pbpm_context", GatewayContext)


def context_of(request: web.Request) -> GatewayContext:
    return request.app[CONTEXT]

"""Regenerate docs/screenshots/*.png: every dashboard page against the demo backend.

Runs offscreen (QT_QPA_PLATFORM=offscreen), in a throw-away data directory, so it never
touches real keys or usage. It starts the real app controller in demo mode (the simulator,
a week of seeded history, live synthetic traffic), preloads two on-demand models so the VRAM
plot shows a swap, then renders each page with `QWidget.grab()`.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--warmup 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PBPM_NO_KEYRING", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qasync
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QWidget

from pbpm_desktop.config import Settings
from pbpm_desktop.qt.app import make_app
from pbpm_desktop.qt.controller import AppController
from pbpm_desktop.qt.dialogs import KeyCreatedDialog
from pbpm_desktop.qt.pages.keys import KeysPage
from pbpm_desktop.qt.pages.models import ModelsPage
from pbpm_desktop.qt.pages.overview import OverviewPage
from pbpm_desktop.qt.pages.requests import RequestsPage
from pbpm_desktop.qt.pages.settings import SettingsPage
from pbpm_desktop.qt.pages.usage import UsagePage
from pbpm_desktop.qt.tray import TrayMenu

SIZE = (1240, 800)


async def settle(seconds: float) -> None:
    """Let the Qt and gateway loops run (data arrives, charts redraw)."""
    await asyncio.sleep(seconds)


def save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path}")


async def some_traffic(url: str, secrets: list[str]) -> None:
    """A few requests from the extra keys (runs on the gateway loop, like a LAN client)."""
    import aiohttp

    async def chat(secret: str, model: str) -> None:
        body = {"model": model, "messages": [{"role": "user", "content": "Summarise this."}]}
        headers = {"Authorization": f"Bearer {secret}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(f"{url}/api/chat", json=body) as resp:
                await resp.read()

    jobs = [chat(secrets[0], "llama3.2:3b") for _ in range(6)]
    jobs += [chat(secrets[1], "llama3.2:3b") for _ in range(3)]
    await asyncio.gather(*jobs)


async def shoot(out: Path, warmup: float) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="pbpm-shots-"))
    settings = Settings(
        data_dir=data_dir, host="0.0.0.0", port=0, master_api_key=None, heavy_keep_alive="30m"
    )
    controller = AppController(
        settings,
        demo=True,
        tray_available=False,
        config_file=data_dir / "config.toml",
        autostart_file=data_dir / "autostart.desktop",
        poll_ms=1000,
    )
    await controller.start()
    window = controller.window
    assert window is not None and controller.ctx is not None
    window.resize(*SIZE)
    ctx = controller.ctx
    bridge, service = ctx.bridge, ctx.bridge.service
    # a couple of named keys besides the demo one, so the Keys page looks lived in
    secrets = []
    for name, email in (("alice-laptop", "alice@lab.local"), ("ci-runner", "")):
        secrets.append((await bridge.call(service.create_key, name, email))["api_key"])
    await bridge.call(some_traffic, service.url, secrets)
    revoked = await bridge.call(service.create_key, "old-notebook", "bob@lab.local")
    await bridge.call(service.revoke_key, revoked["id"])

    window.show_page(ModelsPage)
    await settle(warmup / 3)
    await bridge.call(service.preload, "qwen2.5:7b")
    await settle(warmup / 3)
    swap = asyncio.ensure_future(bridge.call(service.preload, "qwen2.5-coder:32b"))
    await settle(warmup / 3)
    await swap
    await settle(2)
    save(window, out / "models.png")

    for cls, name in (
        (OverviewPage, "overview"),
        (KeysPage, "keys"),
        (UsagePage, "usage"),
        (RequestsPage, "requests"),
        (SettingsPage, "settings"),
    ):
        window.show_page(cls)
        await settle(2.5)
        save(window, out / f"{name}.png")

    created = await bridge.call(service.create_key, "alice-desktop", "alice@lab.local")
    dialog = KeyCreatedDialog(created["api_key"], created["owner"], ctx.state.lan_url, window)
    dialog.show()
    await settle(0.5)
    save(dialog, out / "key-created.png")
    dialog.close()

    tray_menu = TrayMenu(ctx.state, controller)
    menu = tray_menu.menu
    menu.popup(QPoint(0, 0))
    tray_menu.models_menu.popup(QPoint(menu.sizeHint().width(), 0))
    await settle(0.5)
    save(menu, out / "tray-menu.png")
    save(tray_menu.models_menu, out / "tray-models.png")
    menu.hide()
    tray_menu.models_menu.hide()

    await controller.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--warmup", type=float, default=36.0, help="seconds of live VRAM plot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = make_app()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(shoot(args.out, args.warmup))
    QApplication.processEvents()


if __name__ == "__main__":
    main()

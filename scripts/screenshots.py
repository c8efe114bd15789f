"""Regenerate docs/screenshots/*.png: every dashboard page against the demo backend.

Runs offscreen (QT_QPA_PLATFORM=offscreen), in a throw-away data directory, so it never
touches real keys or usage. It starts the real app controller in demo mode (the simulator,
a week of seeded history, live synthetic traffic), preloads two on-demand models so the VRAM
plot shows a swap, then renders each page with `QWidget.grab()`.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--warmup 40]
    .venv/bin/python scripts/screenshots.py --language pt_BR    # *-pt_BR.png, in Portuguese

Pages are shot at the window's default size, then the Requests and Models pages again at the
minimum size (900×600), where clipping shows first; also the key dialogs and the tray menu.
The README shows two of the Portuguese shots (overview-pt_BR, models-900x600-pt_BR); the rest
are for looking at, not committed.
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

from pbpm_desktop.core.settings import Settings
from pbpm_desktop.qt.app import make_app
from pbpm_desktop.qt.controller import AppController
from pbpm_desktop.qt.dialogs import KeyCreatedDialog, KeyDialog
from pbpm_desktop.qt.gc_guard import GuiThreadCollector
from pbpm_desktop.qt.pages.keys import KeysPage
from pbpm_desktop.qt.pages.models import ModelsPage
from pbpm_desktop.qt.pages.overview import OverviewPage
from pbpm_desktop.qt.pages.requests import RequestsPage
from pbpm_desktop.qt.pages.settings import SettingsPage
from pbpm_desktop.qt.pages.usage import UsagePage
from pbpm_desktop.qt.tray import TrayMenu

#: the main window's minimum size (MainWindow.setMinimumSize)
SMALL = (900, 600)


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


async def shoot(out: Path, warmup: float, suffix: str = "") -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="pbpm-shots-"))

    def name(stem: str) -> Path:
        return out / f"{stem}{suffix}.png"

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
    default_size = window.size().toTuple()  # the size a first start opens with
    ctx = controller.ctx
    bridge, service = ctx.bridge, ctx.bridge.service
    # a couple of named keys besides the demo one, so the Keys page looks lived in
    secrets = []
    limits = {"models": "llama3.2:3b,qwen2.5:7b", "rpm": 30, "tokens_per_day": 200_000}
    for key_name, email, policy in (
        ("alice-laptop", "alice@lab.local", {}),
        ("ci-runner", "", limits),
    ):
        created = await bridge.call(service.create_key, key_name, email, **policy)
        secrets.append(created["api_key"])
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
    save(window, name("models"))

    for cls, stem in (
        (OverviewPage, "overview"),
        (KeysPage, "keys"),
        (UsagePage, "usage"),
        (RequestsPage, "requests"),
        (SettingsPage, "settings"),
    ):
        window.show_page(cls)
        await settle(2.5)
        save(window, name(stem))

    window.resize(*SMALL)
    for cls, stem in ((RequestsPage, "requests"), (ModelsPage, "models"), (KeysPage, "keys")):
        window.show_page(cls)
        await settle(1.5)
        save(window, name(f"{stem}-900x600"))
    window.resize(*default_size)

    keys_page = window.show_page(KeysPage)
    await settle(1)
    key = next(k for k in keys_page.keys if k["name"] == "ci-runner")
    editor = KeyDialog(ctx.state.installed(), key, window)
    editor.show()
    await settle(0.5)
    save(editor, name("key-edit"))
    editor.close()

    created = await bridge.call(service.create_key, "alice-desktop", "alice@lab.local")
    dialog = KeyCreatedDialog(created["api_key"], created["owner"], ctx.state.lan_url, window)
    dialog.show()
    await settle(0.5)
    save(dialog, name("key-created"))
    dialog.close()

    tray_menu = TrayMenu(ctx.state, controller)
    menu = tray_menu.menu
    menu.popup(QPoint(0, 0))
    tray_menu.models_menu.popup(QPoint(menu.sizeHint().width(), 0))
    await settle(0.5)
    save(menu, name("tray-menu"))
    save(tray_menu.models_menu, name("tray-models"))
    menu.hide()
    tray_menu.models_menu.hide()

    await controller.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--warmup", type=float, default=36.0, help="seconds of live VRAM plot")
    parser.add_argument("--language", default="en", help="UI language, e.g. pt_BR")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = make_app(language=args.language)
    # as the app does (qt/app.py launch_gui): cyclic GC on this thread only; without it a
    # Qt object in a cycle could be freed on the gateway thread (a segfault, now and then)
    collector = GuiThreadCollector(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    suffix = "" if args.language == "en" else f"-{args.language}"
    with loop:
        loop.run_until_complete(shoot(args.out, args.warmup, suffix))
    QApplication.processEvents()
    collector.stop()


if __name__ == "__main__":
    main()

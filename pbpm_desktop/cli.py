"""Command line: `pbpm-desktop [serve|demo|keys|usage|master-key|doctor]` (DESIGN.md §1).

`serve`, `keys` and `usage` never import Qt, so they work on servers without GUI libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from pbpm_desktop import __version__
from pbpm_desktop.core.announce import announce, announce_master_key
from pbpm_desktop.core.settings import ConfigError, Settings, load_settings

log = logging.getLogger("pbpm_desktop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pbpm-desktop",
        description="Authenticated, audited, VRAM-aware gateway in front of a local Ollama.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")

    def add_server_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="listen address (PBPM_HOST, default 0.0.0.0)")
        p.add_argument("--port", type=int, help="listen port, 0 = any free port (PBPM_PORT)")
        p.add_argument("--ollama-url", help="upstream Ollama (OLLAMA_URL)")

    add_server_options(sub.add_parser("serve", help="run the gateway headless (no Qt)"))
    demo = sub.add_parser("demo", help="the desktop app against a built-in Ollama simulator")
    add_server_options(demo)
    demo.add_argument("--headless", action="store_true", help="no window: serve the demo only")
    gui = sub.add_parser("gui", help="the desktop app (the default command)")
    add_server_options(gui)

    def add_demo_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--demo",
            dest="demo_data",
            action="store_true",
            help="use the demo's data directory (what `pbpm-desktop demo` runs with)",
        )

    keys = sub.add_parser("keys", help="manage client keys").add_subparsers(dest="keys_command")
    create = keys.add_parser("create", help="issue a client key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--email", default="")
    create.add_argument("--models", help="comma list of allowed models (default: all)")
    create.add_argument("--expires-at", help="ISO 8601 expiry")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tokens-per-day", type=int)
    create.add_argument("--max-streams", type=int, help="concurrent requests")
    create.add_argument(
        "--cloud",
        action="store_true",
        default=None,
        help="may use Ollama cloud models (they run on the owner's ollama.com account)",
    )
    create.add_argument("--json", action="store_true")
    add_demo_option(create)
    listing = keys.add_parser("list", help="list keys (no secrets)")
    listing.add_argument("--json", action="store_true")
    add_demo_option(listing)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    add_demo_option(revoke)

    usage = sub.add_parser("usage", help="token usage per key and model")
    usage.add_argument("--json", action="store_true")
    usage.add_argument("--since", help="ISO 8601 start (default: everything)")

    doctor = sub.add_parser("doctor", help="check Ollama, keyring, database, port, GPU, Qt")
    add_server_options(doctor)
    doctor.add_argument("--json", action="store_true")
    add_demo_option(usage)

    master = sub.add_parser("master-key", help="where the master (admin) key is; --show prints it")
    master.add_argument("--show", action="store_true", help="print the key itself")
    add_demo_option(master)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "ollama_url")
        if getattr(args, name, None) is not None
    }
    settings = settings.with_overrides(**overrides) if overrides else settings
    if getattr(args, "demo_data", False):
        from pbpm_desktop.demo import demo_settings

        settings = demo_settings(settings)
    return settings


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    try:
        settings = settings_from_args(args)
        command = args.command or "gui"
        if command == "serve":
            run_serve(settings)
        elif command == "demo" and args.headless:
            run_serve(settings, demo=True)
        elif command in ("gui", "demo") and not _display_ready(command):
            run_serve(settings, demo=True)  # demo: _display_ready said it runs headless
        elif command in ("gui", "demo"):
            launch_gui = _import_gui()

            sys.exit(launch_gui(settings, demo=command == "demo"))
        elif command == "keys":
            if not args.keys_command:
                build_parser().parse_args(["keys", "--help"])
            _run(_keys_command(settings, args))
        elif command == "usage":
            _run(_usage_command(settings, args))
        elif command == "doctor":
            from pbpm_desktop.doctor import run_doctor

            sys.exit(run_doctor(settings, as_json=args.json))
        elif command == "master-key":
            show_master_key(settings, show=args.show)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    except OSError as exc:
        sys.exit(f"error: {exc.strerror or exc}")
    except RuntimeError as exc:
        # imported only now: the store pulls in Tortoise, which `--help` should not wait for
        from pbpm_desktop.core.store.migrations import SchemaError

        if not isinstance(exc, SchemaError):
            raise
        sys.exit(f"database error: {exc}")


def _run(coro: Any) -> Any:
    from pbpm_desktop.core.loop_thread import new_event_loop

    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def run_serve(settings: Settings, *, demo: bool = False) -> None:
    """Headless gateway on the main thread until SIGINT/SIGTERM, then a clean stop."""
    _run(_serve(settings, demo=demo))


async def _serve(settings: Settings, *, demo: bool) -> None:
    from pbpm_desktop.core.app import GatewayService

    demo_backend = None
    if demo:
        from pbpm_desktop.demo import DemoBackend

        demo_backend = DemoBackend(settings)
        settings = await demo_backend.start()
    service = GatewayService(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await service.start()
        announce(service)
        if demo_backend is not None:
            await demo_backend.attach(service)
        await stop.wait()
        print("stopping: finishing requests and flushing the audit…", flush=True)
    finally:
        await service.stop()
        if demo_backend is not None:
            await demo_backend.stop()


async def _with_storage(settings: Settings) -> Any:
    from pbpm_desktop.core.app import GatewayService

    service = GatewayService(settings)
    await service.open_storage()
    announce_master_key(service.master)
    return service


async def _keys_command(settings: Settings, args: argparse.Namespace) -> None:
    from pbpm_desktop.core.access.keys import POLICY_FIELDS, KeyServiceError

    service = await _with_storage(settings)
    try:
        if args.keys_command == "create":
            policy = {
                name: getattr(args, name)
                for name in POLICY_FIELDS
                if getattr(args, name) is not None
            }
            created = await service.create_key(args.name, args.email, **policy)
            if args.json:
                print(json.dumps(created, indent=2))
            else:
                print(f"key #{created['id']} for {created['owner']}:")
                print(f"  {created['api_key']}")
                print("Store it now: it is shown only once.")
        elif args.keys_command == "list":
            rows = await service.list_keys()
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                print_table(
                    rows,
                    [
                        ("id", "ID"),
                        ("prefix", "PREFIX"),
                        ("name", "NAME"),
                        ("owner", "OWNER"),
                        ("status", "STATUS"),
                        ("created_at", "CREATED"),
                        ("last_used", "LAST USED"),
                        ("tokens_used", "TOKENS"),
                    ],
                )
        elif args.keys_command == "revoke":
            info = await service.revoke_key(args.id)
            print(f"key #{info['id']} ({info['prefix']}…, {info['owner']}) revoked")
            print("a running gateway refuses it within 5 seconds")
    except KeyServiceError as exc:
        sys.exit(f"error: {exc.message}")
    finally:
        await service.stop()


async def _usage_command(settings: Settings, args: argparse.Namespace) -> None:
    from pbpm_desktop.core.timeutil import parse_utc

    service = await _with_storage(settings)
    try:
        filters: dict[str, Any] = {}
        if args.since:
            try:
                filters["since"] = parse_utc(args.since)
            except ValueError:
                sys.exit(f"error: --since must be an ISO 8601 date/time, got {args.since!r}")
        rows = await service.usage_totals("key_model", **filters)
        names = {k["id"]: k["name"] for k in await service.list_keys()}
        for row in rows:
            row["name"] = names.get(row.get("key_id"), "")
            row["model"] = row.get("model") or "(no model)"
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("no usage recorded yet")
        else:
            print_table(
                rows,
                [
                    ("key_prefix", "KEY"),
                    ("name", "NAME"),
                    ("owner", "OWNER"),
                    ("model", "MODEL"),
                    ("requests", "REQUESTS"),
                    ("prompt_tokens", "PROMPT"),
                    ("completion_tokens", "COMPLETION"),
                    ("total_tokens", "TOTAL"),
                    ("last_used", "LAST USED"),
                ],
            )
            print(
                "REQUESTS counts every call, refused and failed ones (401, 429, 502…) and calls "
                "without a model (e.g. /api/tags) included; tokens come from completed generations."
            )
    finally:
        await service.stop()


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [
        max([len(title)] + [len(r[i]) for r in cells]) for i, (_, title) in enumerate(columns)
    ]
    print("  ".join(title.ljust(w) for (_, title), w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        return value[:16].replace("T", " ")
    return str(value)


def _display_ready(command: str) -> bool:
    """False (demo: go headless) or exit with one line where Qt would abort without a display."""
    from pbpm_desktop.display import display_problem

    problem = display_problem()
    if problem is None:
        return True
    if command == "demo":
        print(
            f"{problem}: running the demo headless (as `pbpm-desktop demo --headless`)", flush=True
        )
        return False
    sys.exit(
        f"{problem}: the desktop app needs one. On this machine run the headless gateway, "
        "`pbpm-desktop serve`, or try it with `pbpm-desktop demo --headless`"
    )


def show_master_key(settings: Settings, *, show: bool) -> None:
    """`master-key [--show]`: where the admin key lives; the key itself only on request."""
    from pbpm_desktop.core.access.secrets import load_master_key

    master = load_master_key(settings.data_dir, settings.master_api_key)
    if show:
        print(master.value)  # alone on stdout, for `$(pbpm-desktop master-key --show)`
        print(f"(from the {master.describe()})", file=sys.stderr)
        return
    print(f"the master key is in the {master.describe()}")
    if master.created:
        print("it was generated just now; the gateway will use it from its next start")
    if master.source == "keyring":
        print("  print it with: pbpm-desktop master-key --show")
    elif master.source == "file":
        print(f"  print it with: pbpm-desktop master-key --show   (or: cat {master.location})")
    print(
        "it only manages keys (admin routes); give clients their own keys: pbpm-desktop keys create"
    )


def _import_gui() -> Any:
    try:
        from pbpm_desktop.qt.app import launch_gui
    except ImportError as exc:
        sys.exit(
            f"the desktop app needs PySide6, qasync and pyqtgraph ({exc}); install them with "
            "`pip install 'pbpm-desktop[desktop]'`, or run the headless gateway: pbpm-desktop serve"
        )
    return launch_gui

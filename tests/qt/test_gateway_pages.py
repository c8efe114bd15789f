"""Pages against the real gateway thread and the Ollama simulator (through the real bridge)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from pbpm_desktop.core.settings import read_toml
from pbpm_desktop.core.store.models import UsageRecord
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.key_form import days_from_now
from pbpm_desktop.qt.pages.keys import KeysPage
from pbpm_desktop.qt.pages.models import ModelsPage
from pbpm_desktop.qt.pages.requests import RequestsPage
from pbpm_desktop.qt.pages.settings import SettingsPage
from pbpm_desktop.qt.pages.usage import UsagePage

from .conftest import Gateway


def http(url: str, key: str, body: dict | None = None) -> int:
    """Status of a request through the gateway (a LAN client, from another thread)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_issue_and_revoke_a_key_through_the_ui(qtbot, ctx, gateway: Gateway):
    page = KeysPage(ctx)
    qtbot.addWidget(page)
    page.show()
    page.activate()
    page.issue_button.click()
    qtbot.waitUntil(lambda: page.issue_dialog is not None, timeout=3000)
    dialog = page.issue_dialog
    assert not dialog.ok.isEnabled()  # a name is required
    dialog.name.setText("alice-laptop")
    dialog.email.setText("alice@lab.local")
    dialog.form.max_streams.setValue(2)
    dialog.form.expires.setChecked(True)
    dialog.form.expires_date.setDate(days_from_now(30))
    dialog.ok.click()
    qtbot.waitUntil(lambda: page.created_dialog is not None, timeout=5000)
    shown = page.created_dialog
    secret = shown.key_field.text()
    assert secret.startswith("pbpm-") and secret == page.last_created["api_key"]
    shown.copy_button.click()
    assert QGuiApplication.clipboard().text() == secret
    shown.accept()
    # the gateway has it, and it works for inference routes
    keys = gateway.run(gateway.service.list_keys())
    assert [(k["name"], k["status"]) for k in keys] == [("alice-laptop", "active")]
    assert keys[0]["max_streams"] == 2
    expires = datetime.fromisoformat(keys[0]["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=31)
    assert "llama3.2:3b" in shown.command and shown.command.count("\\\n") == 2
    if shutil.which("curl"):  # the example really runs, pasted as shown (the URL is loopback)
        out = subprocess.run(["bash", "-c", shown.command], capture_output=True, timeout=30)
        assert json.loads(out.stdout)["message"]["content"], out.stderr
    assert http(f"{gateway.url}/api/tags", secret) == 200
    assert page.table.rowCount() == 1 and page.table.item(0, 3).text() == "alice@lab.local"
    # revoke it: select, click, confirm
    page.table.selectRow(0)
    assert page.revoke_button.isEnabled()
    page.revoke_button.click()
    qtbot.waitUntil(lambda: page.findChild(QMessageBox, "ConfirmBox") is not None, timeout=3000)
    box = page.findChild(QMessageBox, "ConfirmBox")
    revoke = next(b for b in box.buttons() if b.text() == "Revoke")
    revoke.click()
    qtbot.waitUntil(
        lambda: bool(ctx.notifier.history) and ctx.notifier.history[-1][0] == "success",
        timeout=5000,
    )
    assert gateway.run(gateway.service.list_keys())[0]["status"] == "revoked"
    assert http(f"{gateway.url}/api/tags", secret) == 401
    qtbot.waitUntil(lambda: page.table.rowCount() == 0, timeout=3000)  # revoked are hidden
    page.show_revoked.setChecked(True)
    assert page.table.item(0, 8).text() == "revoked"


def admin_keys(gateway: Gateway) -> list[dict]:
    """GET /admin/keys with the master key, as an admin script would."""
    request = urllib.request.Request(
        f"{gateway.url}/admin/keys",
        headers={"Authorization": "Bearer test-master-key-for-the-qt-tests-0123"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["keys"]


def test_editing_a_key_through_the_ui_changes_its_policy_over_http(qtbot, ctx, gateway: Gateway):
    created = gateway.run(gateway.service.create_key("ci-runner", ""))
    secret = created["api_key"]
    chat = {"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "hi"}]}
    chat["stream"] = False
    assert http(f"{gateway.url}/api/chat", secret, chat) == 200  # no limits yet
    page = KeysPage(ctx)
    qtbot.addWidget(page)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=3000)
    assert page.table.item(0, 9).text() == "no limits"
    page.table.selectRow(0)
    assert page.edit_button.isEnabled()
    page.edit_button.click()
    qtbot.waitUntil(lambda: page.edit_dialog is not None, timeout=3000)
    form = page.edit_dialog.form
    offered = [
        form.models.item(i).data(Qt.ItemDataRole.UserRole) for i in range(form.models.count())
    ]
    assert offered == sorted(m["name"] for m in ctx.state.installed())  # the installed list
    for i in range(form.models.count()):
        if form.models.item(i).data(Qt.ItemDataRole.UserRole) == "llama3.2:3b":
            form.models.item(i).setCheckState(Qt.CheckState.Checked)
    form.rpm.setValue(5)
    form.email.setText("ci@lab.local")
    page.edit_dialog.ok.click()
    qtbot.waitUntil(
        lambda: bool(ctx.notifier.history) and ctx.notifier.history[-1][0] == "success",
        timeout=5000,
    )
    (key,) = admin_keys(gateway)
    assert key["models"] == ["llama3.2:3b"] and key["rpm"] == 5
    assert key["email"] == "ci@lab.local" and key["name"] == "ci-runner"
    assert http(f"{gateway.url}/api/chat", secret, chat) == 403  # the policy holds at once
    assert http(f"{gateway.url}/api/chat", secret, {**chat, "model": "llama3.2:3b"}) == 200
    # the policy is visible in the table, not only in a tooltip
    qtbot.waitUntil(lambda: "llama3.2:3b" in page.table.item(0, 9).text(), timeout=3000)
    assert "5 requests/min" in page.table.item(0, 9).text()
    # editing again and clearing the list gives the key every model back
    page.table.selectRow(0)
    page.edit_selected()
    qtbot.waitUntil(lambda: page.edit_dialog is not None, timeout=3000)
    form = page.edit_dialog.form
    assert form.chosen_models() == ["llama3.2:3b"] and form.rpm.value() == 5
    for i in range(form.models.count()):
        form.models.item(i).setCheckState(Qt.CheckState.Unchecked)
    page.edit_dialog.ok.click()
    qtbot.waitUntil(lambda: admin_keys(gateway)[0]["models"] == [], timeout=5000)
    assert admin_keys(gateway)[0]["rpm"] == 5  # unchanged fields are not sent
    assert http(f"{gateway.url}/api/chat", secret, chat) == 200


def test_allowed_models_must_be_installed(gateway: Gateway):
    from pbpm_desktop.core.access.keys import KeyServiceError

    with pytest.raises(KeyServiceError, match="'no-such-model' is not installed"):
        gateway.run(gateway.service.create_key("typo", models="no-such-model"))
    created = gateway.run(gateway.service.create_key("short", models="llama3.2:3b"))
    with pytest.raises(KeyServiceError, match="not installed"):
        gateway.run(gateway.service.update_key(created["id"], models="llama9"))


def test_preload_and_unload_buttons_drive_the_vram_manager(qtbot, ctx, gateway: Gateway):
    page = ModelsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    page.activate()
    loads = gateway.sim.stats.loads
    cell = page.cells["qwen2.5:7b"]
    cell.preload.click()
    assert ctx.state.pending == {"qwen2.5:7b": "preload"} and cell.busy.isVisible()
    qtbot.waitUntil(lambda: "qwen2.5:7b" in ctx.state.resident_names(), timeout=5000)
    qtbot.waitUntil(lambda: not ctx.state.pending, timeout=3000)
    assert gateway.sim.stats.loads == loads + 1
    assert any(
        m["name"] == "qwen2.5:7b" for m in gateway.call(gateway.service.vram_snapshot)["resident"]
    )
    row = page.rows.index("qwen2.5:7b")
    assert page.table.item(row, 3).text() == "Loaded"
    # preloading another heavy model swaps (MAX_HEAVY_MODELS=1)
    page.cells["qwen2.5-coder:32b"].preload.click()
    qtbot.waitUntil(lambda: "qwen2.5-coder:32b" in ctx.state.resident_names(), timeout=5000)
    qtbot.waitUntil(lambda: not ctx.state.pending, timeout=3000)
    assert "qwen2.5:7b" not in ctx.state.resident_names()
    assert "Unloaded to make room: qwen2.5:7b" in ctx.notifier.history[-1][1]
    assert page.cells["qwen2.5-coder:32b"].unload.isEnabled()
    page.cells["qwen2.5-coder:32b"].unload.click()
    assert page.cells["qwen2.5-coder:32b"].busy_label.text() == "Unloading…"
    qtbot.waitUntil(lambda: not ctx.state.pending, timeout=5000)
    assert ctx.notifier.history[-1] == ("success", "qwen2.5-coder:32b is unloaded.")
    assert "qwen2.5-coder:32b" not in ctx.state.resident_names()
    # a model that can never fit the budget: Preload is disabled, and says why with sizes
    big = page.cells["llama3.3:70b"]
    assert not big.preload.isEnabled()
    assert "needs 39.6 GB" in big.preload.toolTip() and "24.0 GB" in big.preload.toolTip()
    assert page.table.item(page.rows.index("llama3.3:70b"), 3).text() == "Too large for the budget"
    # the gateway refuses it too, and the GUI words the advice for the GUI
    error = ""
    try:
        gateway.run(gateway.service.preload("llama3.3:70b"))
    except Exception as exc:
        error = describe(exc)
    assert "VRAM budget" in error and "Settings" in error and "VRAM_LIMIT_GB" not in error


def test_usage_charts_are_fed_from_database_rows(qtbot, ctx, gateway: Gateway, tmp_path: Path):
    now = datetime.now(UTC)
    rows = [
        # (hours ago, owner, model, prompt, completion)
        (1, "alice", "llama3.2:3b", 100, 50),
        (1, "alice", "qwen2.5:7b", 10, 5),
        (3, "bob", "llama3.2:3b", 200, 300),
        (30, "bob", "qwen2.5:7b", 1000, 1000),  # outside 24 h, inside 7 d
    ]

    async def seed() -> None:
        with gateway.service.db.bound():
            await UsageRecord.bulk_create(
                [
                    UsageRecord(
                        key_id={"alice": 1, "bob": 2}[owner],
                        key_prefix=f"pbpm-{owner}",
                        owner=owner,
                        model=model,
                        route="chat",
                        prompt_tokens=p,
                        completion_tokens=c,
                        status="ok",
                        duration_ms=100.0,
                        created_at=now - timedelta(hours=h, minutes=5),
                    )
                    for h, owner, model, p, c in rows
                ]
            )

    gateway.run(seed())
    exported = tmp_path / "usage.csv"
    page = UsagePage(ctx, save_as=lambda _p, _s: exported)
    qtbot.addWidget(page)
    page.show()
    page.range_box.setCurrentIndex(0)  # 24 h, hourly
    page.activate()
    qtbot.waitUntil(
        lambda: page.report.get("since") is not None and not page._loading, timeout=5000
    )
    qtbot.waitUntil(lambda: page.series_chart.totals.sum() == 665, timeout=5000)
    assert dict(page.model_chart.items) == {"llama3.2:3b": 650.0, "qwen2.5:7b": 15.0}
    assert sorted(v for _, v in page.key_chart.items) == [165.0, 500.0]
    assert page.table.rowCount() == 3
    page.range_box.setCurrentIndex(1)  # 7 d includes the 30-hour-old row
    qtbot.waitUntil(lambda: page.series_chart.totals.sum() == 2665, timeout=5000)
    page.range_box.setCurrentIndex(2)  # 30 d switches to daily buckets
    qtbot.waitUntil(lambda: page.report.get("bucket") == "day" and not page._loading, timeout=5000)
    assert page.series_chart.totals.sum() == 2665 and len(page.series_chart.totals) >= 30
    page.export_csv()
    with exported.open() as fh:
        exported_rows = list(csv.DictReader(fh))
    assert len(exported_rows) == 4  # (alice, bob) × (llama3.2:3b, qwen2.5:7b)
    assert sum(int(r["total_tokens"]) for r in exported_rows) == 2665


def test_requests_page_shows_live_requests(qtbot, ctx, gateway: Gateway):
    page = RequestsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.loaded, timeout=3000)
    created = gateway.run(gateway.service.create_key("lan-client", "c@lan"))
    body = {
        "model": "llama3.2:3b",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    assert http(f"{gateway.url}/api/chat", created["api_key"], body) == 200
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)
    row = page.model.rows[0]
    assert row["model"] == "llama3.2:3b" and row["owner"] == "c@lan" and row["status"] == "ok"
    assert row["completion_tokens"] > 0
    page.filter.setText("nomatch")
    assert page.proxy.rowCount() == 0
    assert page.count_label.text().startswith("0 of 1 requests match")  # honours the filter
    page.filter.setText("c@lan")
    assert page.proxy.rowCount() == 1
    assert page.count_label.text().startswith("1 of 1 requests match")
    page.view.doubleClicked.emit(page.proxy.index(0, 4))
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.isVisible(), timeout=3000)
    fields = page.detail.fields
    assert fields["Model"] == "llama3.2:3b" and fields["Owner"] == "c@lan"
    assert fields["Status"] == "ok" and fields["Route"] == row["route"]
    assert fields["Completion tokens"] == str(row["completion_tokens"])
    assert fields["Key"].startswith(created["prefix"]) and fields["Client"] == "127.0.0.1"


def test_settings_apply_restarts_the_gateway_and_persists(
    qtbot, ctx, gateway: Gateway, tmp_path: Path
):
    page = SettingsPage(ctx, pinned={})
    qtbot.addWidget(page)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.current is not None, timeout=3000)
    assert page.form.chosen_always_on() == ["llama3.2:3b"]
    page.form.vram_limit.setValue(20.0)
    for i in range(page.form.always_on.count()):
        item = page.form.always_on.item(i)
        if item.data(Qt.ItemDataRole.UserRole) == "nomic-embed-text:latest":
            item.setCheckState(item.checkState().Checked)
    page.form.start_at_login.setChecked(True)
    page.apply()
    qtbot.waitUntil(lambda: not page.applying and not page.dirty, timeout=10000)
    assert gateway.service.state == "serving"
    assert gateway.service.settings.vram_limit_gb == 20.0
    snapshot = gateway.call(gateway.service.vram_snapshot)
    assert snapshot["budget_limit_bytes"] == 20 * 1024**3
    saved = read_toml(ctx.config_file)
    assert saved["vram_limit_gb"] == 20.0
    assert saved["always_on_models"] == ["llama3.2:3b", "nomic-embed-text:latest"]
    assert ctx.autostart_file.is_file()
    assert ctx.notifier.history[-1][0] == "success"


@pytest.mark.parametrize("bad_port", ["busy"])
def test_settings_failure_keeps_the_gateway_running(qtbot, ctx, gateway: Gateway, bad_port):
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        page = SettingsPage(ctx, pinned={})
        qtbot.addWidget(page)
        page.activate()
        qtbot.waitUntil(lambda: page.current is not None, timeout=3000)
        page.form.port.setValue(blocker.getsockname()[1])
        page.apply()
        qtbot.waitUntil(lambda: bool(ctx.notifier.history) and not page.applying, timeout=10000)
    finally:
        blocker.close()
    level, text = ctx.notifier.history[-1]
    assert level == "error" and "previous settings" in text and "Traceback" not in text
    assert gateway.service.state == "serving"
    assert not ctx.config_file.exists()  # nothing persisted on failure


def loaded_settings_page(qtbot, ctx) -> SettingsPage:
    page = SettingsPage(ctx, pinned={})
    qtbot.addWidget(page)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.current is not None, timeout=3000)
    return page


def _tick(page: SettingsPage, model: str) -> None:
    for i in range(page.form.always_on.count()):
        item = page.form.always_on.item(i)
        if item.data(Qt.ItemDataRole.UserRole) == model:
            item.setCheckState(Qt.CheckState.Checked)


def test_settings_refuse_always_on_models_that_cannot_fit(qtbot, ctx, gateway: Gateway):
    page = loaded_settings_page(qtbot, ctx)
    # already now: the 70b model cannot fit a 24 GB budget even as an on-demand model
    assert page.form.fit_warning.property("level") == "warning"
    assert "llama3.3:70b needs 39.6 GB" in page.form.fit_warning.text()
    _tick(page, "llama3.3:70b")  # 39.6 GB next to llama3.2:3b, budget 24 GB
    assert page.form.fit_warning.isVisible() and page.form.fit_warning.property("level") == "error"
    assert "41.5 GB" in page.form.fit_warning.text() and "24.0 GB" in page.form.fit_warning.text()
    assert page.apply_button.isEnabled()
    page.apply()
    qtbot.waitUntil(lambda: bool(ctx.notifier.history), timeout=5000)
    level, text = ctx.notifier.history[-1]
    assert level == "error" and text.startswith("Not applied.") and "41.5 GB" in text
    assert not any(lv == "success" for lv, _ in ctx.notifier.history)  # no green "applied"
    assert gateway.service.settings.always_on_models == ("llama3.2:3b",)
    assert not ctx.config_file.exists()
    # a budget that fits them is accepted
    page.form.vram_limit.setValue(42.0)
    assert page.form.fit_warning.property("level") == "warning"  # on-demand ones now cannot fit
    page.form.vram_limit.setValue(70.0)
    assert page.form.fit_warning.isHidden()


def test_settings_warn_about_models_a_smaller_budget_shuts_out(qtbot, ctx, gateway: Gateway):
    page = loaded_settings_page(qtbot, ctx)
    page.form.vram_limit.setValue(10.0)
    assert (
        page.form.fit_warning.isVisible() and page.form.fit_warning.property("level") == "warning"
    )
    assert "qwen2.5-coder:32b needs" in page.form.fit_warning.text()  # derived, shown by the field
    page.apply()  # a warning, not a refusal
    qtbot.waitUntil(lambda: not page.applying and not page.dirty, timeout=10000)
    assert gateway.service.settings.vram_limit_gb == 10.0
    assert ctx.notifier.history[-1][0] == "success"


def test_start_at_login_says_why_it_is_off_in_the_demo(qtbot, qloop):
    from .fakes import fake_ctx

    page = SettingsPage(fake_ctx(demo=True), pinned={})
    qtbot.addWidget(page)
    page.show()
    assert not page.form.start_at_login.isEnabled()
    assert page.form.login_hint.isVisible() and "demo" in page.form.login_hint.text()
    assert page.form.start_at_login.toolTip() == page.form.login_hint.text()

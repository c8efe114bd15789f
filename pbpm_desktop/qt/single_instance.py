"""One desktop app per data directory: a second launch raises the first one's window and exits.

Two apps on one data directory would share the database and fight over the port (the second
one's bind fails) and show two tray icons. The first launch holds a `QLockFile` in the data
directory (stale locks of a crashed process are taken over: Qt checks the PID) and listens on
a `QLocalServer` whose name is derived from that directory. A later launch finds the lock held,
connects, sends "raise", and the first one brings its window to the front.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_NAME = "pbpm-desktop.lock"
RAISE = b"raise\n"
ACK = b"ok\n"
#: how long a second launch waits for the first one to answer
CONNECT_TIMEOUT_MS = 3000


def server_name(data_dir: Path) -> str:
    """A local-socket name unique to the data directory (and the user)."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return f"pbpm-desktop-{uid}-{digest}"


class SingleInstance(QObject):
    """Hold the per-data-dir lock and answer later launches; or hand over to the holder."""

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.name = server_name(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = QLockFile(str(data_dir / LOCK_NAME))
        self.lock.setStaleLockTime(0)  # never time out a live holder; a dead PID is stale
        self.server: QLocalServer | None = None
        self._on_raise: Callable[[], None] = lambda: None

    def acquire(self) -> bool:
        """True when this process is now the only app for the data directory."""
        if not self.lock.tryLock(0):
            return False
        QLocalServer.removeServer(self.name)  # a crashed holder's socket file
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(self.name):
            log.warning("second launches cannot reach this one: %s", self.server.errorString())
        self.server.newConnection.connect(self._accept)
        return True

    def on_raise(self, callback: Callable[[], None]) -> None:
        self._on_raise = callback

    def holder_pid(self) -> int | None:
        info = self.lock.getLockInfo()  # PySide6: (pid, hostname, appname), empty when unknown
        return int(info[0]) if info and info[0] else None

    def ask_holder_to_raise(self) -> bool:
        """Second launch: ask the running app to show its window; True when it answered."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(RAISE)
        socket.flush()
        answered = socket.waitForReadyRead(CONNECT_TIMEOUT_MS) and bytes(socket.readAll()) == ACK
        socket.disconnectFromServer()
        return answered

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()

    def _accept(self) -> None:
        assert self.server is not None
        while (conn := self.server.nextPendingConnection()) is not None:
            conn.readyRead.connect(lambda c=conn: self._read(c))
            conn.disconnected.connect(conn.deleteLater)

    def _read(self, conn: QLocalSocket) -> None:
        if not conn.canReadLine():
            return
        if bytes(conn.readLine()) == RAISE:
            log.info("another launch asked for the window")
            conn.write(ACK)
            conn.flush()
            self._on_raise()

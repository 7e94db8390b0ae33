"""The app's side of remote control: the server of engine/control.py, with every action run on
the GUI thread (so the widgets follow through the controller's signals), and the Remote box
(on/off, port, token) in the Live tab."""
from __future__ import annotations

from concurrent.futures import Future, TimeoutError as FutureTimeout

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox

from engine.control import (CALL_TIMEOUT_S, ControlAPI, ControlError, load_or_create_token,
                            token_path)
from engine.control_server import ControlServer
from engine.errors import StyleCastError

from .controller import EngineController
from .widgets import button

DEFAULT_PORT = 8765


class GuiThreadRunner(QObject):
    """``runner(fn)`` runs fn on the GUI thread and returns its result (or raises its exception);
    from the GUI thread itself it just calls fn."""

    _job = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job.connect(self._run, Qt.QueuedConnection)

    def _run(self, job) -> None:
        fn, future = job
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            future.set_exception(exc)

    def __call__(self, fn):
        if QThread.currentThread() is self.thread():
            return fn()
        future: Future = Future()
        self._job.emit((fn, future))
        try:
            return future.result(timeout=CALL_TIMEOUT_S)
        except FutureTimeout:
            future.cancel()
            raise ControlError(503, "the app is busy: try again") from None


class RemoteControl(QObject):
    """Starts and stops the control server for the controller's session."""

    changed = Signal(bool)  # listening or not

    def __init__(self, controller: EngineController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.runner = GuiThreadRunner(self)
        self.server: ControlServer | None = None

    @property
    def listening(self) -> bool:
        return self.server is not None

    def token(self) -> str:
        return load_or_create_token()

    def start(self, port: int) -> bool:
        self.stop()
        try:
            api = ControlAPI(self.c.session, run=self.runner)
            self.server = ControlServer(api, port, self.token()).start()
        except StyleCastError as exc:
            self.server = None
            self.c.error.emit(str(exc))
            self.changed.emit(False)
            return False
        self.changed.emit(True)
        return True

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.changed.emit(False)

    def renew_token(self) -> str:
        token = load_or_create_token(renew=True)
        if self.server is not None:
            self.server.token = token
        return token


class RemoteBox(QGroupBox):
    """On/off, port and token: what a streamer copies into the OBS script or a Stream Deck button."""

    def __init__(self, remote: RemoteControl, parent=None) -> None:
        super().__init__("Remote control (OBS, Stream Deck)", parent)
        self.remote = remote
        self.enabled = QCheckBox("Listen on 127.0.0.1")
        self.enabled.setToolTip("HTTP + WebSocket API for OBS scripts, Stream Deck and curl (docs/control.md); "
                                "this computer only, token required")
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.token = QLineEdit()
        self.token.setReadOnly(True)
        self.token.setEchoMode(QLineEdit.PasswordEchoOnEdit)
        self.token.setToolTip(f"Sent with every request; kept in {token_path()}")
        self.copy_button = button("Copy", tip="Copy the token")
        self.new_button = button("New", tip="Make a new token (clients with the old one stop working)")
        self.status = QLabel("off")
        form = QFormLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.enabled)
        row.addWidget(self.port)
        form.addRow(row)
        tok = QHBoxLayout()
        tok.addWidget(self.token, 1)
        tok.addWidget(self.copy_button)
        tok.addWidget(self.new_button)
        form.addRow("Token", tok)
        form.addRow(self.status)
        self.enabled.toggled.connect(self._toggle)
        self.copy_button.clicked.connect(self._copy)
        self.new_button.clicked.connect(self._renew)
        remote.changed.connect(self._show)

    def _toggle(self, on: bool) -> None:
        if on and not self.remote.listening:
            self.remote.start(self.port.value())
        elif not on:
            self.remote.stop()

    def _show(self, listening: bool) -> None:
        self.enabled.blockSignals(True)
        self.enabled.setChecked(listening)
        self.enabled.blockSignals(False)
        self.port.setEnabled(not listening)
        if listening:
            self.token.setText(self.remote.token())
            self.status.setText(f"listening on {self.remote.server.url}/api/")
        else:
            self.status.setText("off")

    def _copy(self) -> None:
        self.token.setText(self.remote.token())
        QGuiApplication.clipboard().setText(self.token.text())

    def _renew(self) -> None:
        self.token.setText(self.remote.renew_token())

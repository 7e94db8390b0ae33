"""Learn as a live style: the dialog that starts it, the bar that follows it, the gallery's "learned" badge.

A painting (a built-in style's or one of your style images) is learned as new norm rows of the fast net in a
background process; the result is a style in the gallery that runs at the fast net's speed and mixes with
the others. The job belongs to the engine (LiveSession.learn_style); these widgets only start it, show its
``learning`` events and cancel it, through the controller.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QVBoxLayout, QWidget)

from .controller import EngineController
from .widgets import button

DEFAULT_MINUTES = 10.0
LEARNED_TIP = ("Learned live style: runs at the fast net's speed, mixes with the other styles and follows "
               "Boldness. Right-click to remove it")


def clock(seconds: float | None) -> str:
    """"4:07" (minutes:seconds), "" when unknown."""
    if seconds is None or seconds < 0:
        return ""
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m}:{s:02d}"


def suggest_name(style: str, taken: set[str]) -> str:
    """A free name for the style learned from ``style``'s painting: "wave-live", "wave-live-2"..."""
    name, n = f"{style}-live", 2
    while name in taken:
        name, n = f"{style}-live-{n}", n + 1
    return name


def with_badge(pixmap: QPixmap, text: str = "learned") -> QPixmap:
    """The thumbnail with a small label in its lower left corner (learned styles stand out in the gallery)."""
    out = QPixmap(pixmap)
    if out.isNull():
        out = QPixmap(96, 72)
        out.fill(QColor("#666666"))
    painter = QPainter(out)
    painter.setRenderHint(QPainter.Antialiasing)
    font = QFont(painter.font())
    font.setPixelSize(max(9, out.height() // 6))
    font.setBold(True)
    painter.setFont(font)
    metrics = painter.fontMetrics()
    w, h = metrics.horizontalAdvance(text) + 8, metrics.height() + 2
    box = QRectF(3, out.height() - h - 3, w, h)
    painter.setPen(Qt.NoPen)
    painter.setBrush(QColor(20, 90, 200, 220))
    painter.drawRoundedRect(box, 4, 4)
    painter.setPen(QColor("white"))
    painter.drawText(box, Qt.AlignCenter, text)
    painter.end()
    return out


class LearnDialog(QDialog):
    """Name and training time for a live style learned from a painting."""

    def __init__(self, style: str, painting: str, parent: QWidget | None = None, name: str = "",
                 minutes: float = DEFAULT_MINUTES) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learn as a live style")
        preview = QLabel()
        pixmap = QPixmap(painting)
        if not pixmap.isNull():
            preview.setPixmap(pixmap.scaled(160, 120, Qt.KeepAspectRatio, Qt.SmoothTransformation))
        self.name = QLineEdit(name)
        self.name.setPlaceholderText("a name from the painting")
        self.name.setToolTip("The style's name in the gallery (letters, digits, - and _)")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(1, 240)
        self.minutes.setDecimals(0)
        self.minutes.setSuffix(" min")
        self.minutes.setValue(minutes)
        self.minutes.setToolTip("Longer training gives a style closer to the painting")
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.minutes.valueChanged.connect(self._explain)
        self._explain()
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Learn")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Painting", QLabel(f"{style.replace('_', ' ')} ({Path(painting).name})"))
        form.addRow("Name", self.name)
        form.addRow("Training", self.minutes)
        root = QVBoxLayout(self)
        root.addWidget(preview, 0, Qt.AlignHCenter)
        root.addLayout(form)
        root.addWidget(self.explain)
        root.addWidget(buttons)

    def _explain(self, *_args) -> None:
        n = round(self.minutes.value())
        self.explain.setText(f"The painting is learned as a new style of the fast net: it then runs live at the "
                             f"fast net's speed and mixes with the other styles. This runs in the background; about "
                             f"{n} minute{'s' if n != 1 else ''} on this computer; you can keep using the app.")

    def values(self) -> tuple[str | None, float]:
        """(name or None for the painting's own, minutes)."""
        return self.name.text().strip() or None, float(self.minutes.value())


class LearnBar(QFrame):
    """One line under the preview while a style is learned: what, progress with ETA, Cancel; then its end
    (done: Use it; failed: the reason) until dismissed. Hidden when nothing is learned."""

    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.setFrameShape(QFrame.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(160)
        self.cancel_button = button("Cancel", tip="Stop learning; learning the same painting again resumes "
                                                  "where it stopped")
        self.use_button = button("Use it", tip="Switch the live style to the style just learned")
        self.close_button = button("Close", tip="Hide this message")
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 3, 6, 3)
        row.addWidget(self.label, 1)
        for w in (self.bar, self.cancel_button, self.use_button, self.close_button):
            row.addWidget(w)
        self.cancel_button.clicked.connect(self.c.cancel_learning)
        self.use_button.clicked.connect(self._use)
        self.close_button.clicked.connect(self.hide)
        self.status: dict | None = None
        self.c.learning_changed.connect(self.show_status)
        self.show_status(self.c.learning())

    def _use(self) -> None:
        if self.status:
            self.c.set_style(self.status["name"])
        self.hide()

    def show_status(self, status: dict | None) -> None:
        """Follow the job: progress while it runs; its end shown and said once (a note or an error)."""
        before, self.status = self.status, (dict(status) if status else None)
        state = status.get("state") if status else None
        repeated = bool(before) and before.get("name") == status.get("name") and before.get("state") == state
        if state is None or state == "cancelled":
            self.hide()
            if state == "cancelled" and not repeated:
                self.c.note.emit(f"Learning '{status['name']}' cancelled; learning the same painting again "
                                 "resumes where it stopped")
            return
        if state in ("done", "failed") and repeated:
            return  # an end already shown (and perhaps dismissed)
        busy = state in ("running", "cancelling")
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(state == "running")
        self.use_button.setVisible(state == "done")
        self.close_button.setVisible(not busy)
        name, painting = status.get("name", ""), Path(str(status.get("painting") or "")).name
        if busy:
            self._show_progress(status, name, painting)
        elif state == "done":
            self.label.setText(f"'{name}' is learned{f' from {painting}' if painting else ''} and in the gallery: "
                               "it runs at the fast net's speed and mixes with the other styles")
            self.c.note.emit(f"Learned the live style '{name}': it is in the gallery")
        else:
            message = status.get("message") or "no reason given"
            self.label.setText(f"Learning '{name}' failed: {message}")
            self.c.error.emit(f"learning '{name}' failed: {message}")
        self.show()

    def _show_progress(self, status: dict, name: str, painting: str) -> None:
        """The time spent over the time planned (the job learns for a number of minutes), with the ETA."""
        elapsed, eta = float(status.get("elapsed_s") or 0.0), status.get("eta_s")
        total = elapsed + float(eta) if eta is not None else 60 * float(status.get("minutes") or 0)
        self.bar.setRange(0, 1000)
        self.bar.setValue(round(1000 * min(1.0, elapsed / total)) if total > 0 else 0)
        left = clock(eta)
        self.bar.setFormat(f"ETA {left}" if left and status.get("state") == "running" else "%p%")
        step = int(status.get("step") or 0)
        what = f"Learning '{name}'" + (f" from {painting}" if painting else "")
        if status.get("state") == "cancelling":
            parts = [what, "stopping after the current step…"]
        else:
            parts = [what, f"step {step}" if step else "starting…", f"{clock(elapsed)} so far" if step else "",
                     f"about {left} left" if left else ""]
        self.label.setText(" · ".join(p for p in parts if p))
        self.label.setToolTip("Runs in the background; you can keep using the app. Cancel keeps what was "
                              "learned: learning the same painting again resumes it")

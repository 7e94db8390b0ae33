"""Paints the newest frame pair: original, stylized, or a split view with a draggable divider.
In the stylized and original views, dragging marks a region (the Live tab's "Capture style" takes
it as a new style); a click without a drag clears it."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MODES = ("stylized", "original", "split")


class VideoView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.original: QImage | None = None
        self.stylized: QImage | None = None
        self.mode = "stylized"
        self.split = 0.5
        self.message = "Press Start (Space) to begin the preview"
        self.frames_painted = 0
        self.selection: tuple[float, float, float, float] | None = None  # x, y, w, h: fractions of the frame
        self._drag_from: QPointF | None = None

    def set_frames(self, original: QImage, stylized: QImage) -> None:
        self.original, self.stylized = original, stylized
        self.update()

    def set_mode(self, mode: str) -> None:
        self.mode = mode if mode in MODES else "stylized"
        self.update()

    def clear_selection(self) -> None:
        self.selection = None
        self.update()

    def _to_frame(self, pos: QPointF) -> QPointF | None:
        """A widget point as fractions of the frame (clamped), or None before the first frame."""
        if self.stylized is None:
            return None
        t = self._target(self.stylized)
        return QPointF(min(1.0, max(0.0, (pos.x() - t.left()) / max(1.0, t.width()))),
                       min(1.0, max(0.0, (pos.y() - t.top()) / max(1.0, t.height()))))

    def set_message(self, text: str) -> None:
        self.message = text
        self.update()

    def _target(self, image: QImage) -> QRectF:
        scale = min(self.width() / image.width(), self.height() / image.height())
        w, h = image.width() * scale, image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 28))
        main = self.stylized if self.mode != "original" else self.original
        if main is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignCenter, self.message)
            return
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        target = self._target(main)
        p.drawImage(target, main)
        if self.mode == "split" and self.original is not None:
            x = self.split * main.width()
            src = QRectF(0, 0, x, main.height())
            dst = QRectF(target.left(), target.top(), target.width() * self.split, target.height())
            p.drawImage(dst, self.original, src)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(int(dst.right()), int(target.top()), int(dst.right()), int(target.bottom()))
            p.drawText(int(target.left()) + 8, int(target.top()) + 20, "original")
            p.drawText(int(dst.right()) + 8, int(target.top()) + 20, "stylized")
        if self.selection is not None:
            x, y, w, h = self.selection
            p.setPen(QPen(QColor(255, 220, 0), 2, Qt.DashLine))
            p.drawRect(QRectF(target.left() + x * target.width(), target.top() + y * target.height(),
                              w * target.width(), h * target.height()))
        self.frames_painted += 1

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.mode == "split":
            self.mouseMoveEvent(event)
        else:
            self._drag_from = self._to_frame(event.position())
            self.clear_selection()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.mode == "split" and self.stylized is not None:
            t = self._target(self.stylized)
            self.split = min(1.0, max(0.0, (event.position().x() - t.left()) / max(1.0, t.width())))
            self.update()
        elif self._drag_from is not None:
            here = self._to_frame(event.position())
            a = self._drag_from
            x0, y0, x1, y1 = min(a.x(), here.x()), min(a.y(), here.y()), max(a.x(), here.x()), max(a.y(), here.y())
            self.selection = (x0, y0, x1 - x0, y1 - y0) if min(x1 - x0, y1 - y0) > 0.03 else None
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag_from = None

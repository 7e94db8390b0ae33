"""Render tab: clips in, stylized clips out with the Live tab's style and settings."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from .controller import EngineController
from .widgets import button
from .render_queue import RenderJob, RenderQueue, output_for

VIDEO_FILTER = "Video (*.mp4 *.mov *.mkv *.avi *.webm *.m4v)"


def format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    m, s = divmod(int(seconds + 0.5), 60)
    return f"ETA {m}:{s:02d}"


class RenderTab(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.queue = RenderQueue(self)
        self.setAcceptDrops(True)
        self.sources: list[Path] = []
        self.outputs: dict[int, str] = {}

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Clip", "Progress", "Status"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.add_button = QPushButton("Add clips…")
        self.remove_button = QPushButton("Remove")
        self.folder = QLineEdit(str(Path.home()))
        self.folder_button = QPushButton("Output folder…")
        self.style_label = QLabel()
        self.start_button = QPushButton("Render")
        self.cancel_button = button("Cancel", enabled=False)
        self.open_button = button("Open result", enabled=False)
        self.summary = QLabel("Add clips (or drop them here). Style and settings come from the Live tab.")
        self.ray_box = QCheckBox("Render on Ray")
        self.ray_box.setToolTip('Cut each clip into segments rendered as Ray tasks (pip install "stylecast[ray]"; '
                                "docs/render-farm.md): on this machine, or on your cluster")
        self.ray_address = QLineEdit()
        self.ray_address.setPlaceholderText("local (this machine), or ray://head:10001, or auto")
        self.ray_address.setEnabled(False)
        self.ray_box.toggled.connect(self.ray_address.setEnabled)

        top = QHBoxLayout()
        top.addWidget(self.add_button)
        top.addWidget(self.remove_button)
        top.addStretch(1)
        out = QHBoxLayout()
        out.addWidget(QLabel("Save to"))
        out.addWidget(self.folder, 1)
        out.addWidget(self.folder_button)
        out.addWidget(self.ray_box)
        out.addWidget(self.ray_address)
        actions = QHBoxLayout()
        actions.addWidget(self.style_label, 1)
        actions.addWidget(self.start_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.open_button)
        root = QVBoxLayout(self)
        root.addLayout(top)
        root.addWidget(self.table, 1)
        root.addLayout(out)
        root.addLayout(actions)
        root.addWidget(self.summary)

        self.add_button.clicked.connect(self._choose_clips)
        self.remove_button.clicked.connect(self._remove_selected)
        self.folder_button.clicked.connect(self._choose_folder)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.queue.cancel)
        self.open_button.clicked.connect(self._open_result)
        self.queue.progress.connect(self._on_progress)
        self.queue.job_finished.connect(self._on_finished)
        self.queue.job_failed.connect(self._on_failed)
        self.queue.all_done.connect(self._on_all_done)

    def showEvent(self, event) -> None:  # noqa: N802
        mix = self.c.settings.mix
        text = ", ".join(f"{n} {w:.0%}" if len(mix) > 1 else n for n, w in mix.items()) or "no style"
        self.style_label.setText(f"Style: {text} · strength {self.c.settings.strength:.0%}"
                                 f"{' · original colours' if self.c.settings.preserve_colors else ''}")
        super().showEvent(event)

    def add_clips(self, paths: list[str]) -> None:
        for p in paths:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.table.setItem(row, 0, QTableWidgetItem(Path(p).name))
            bar = QProgressBar()
            bar.setValue(0)
            self.table.setCellWidget(row, 1, bar)
            self.table.setItem(row, 2, QTableWidgetItem("waiting"))
            self.sources.append(Path(p))

    def _choose_clips(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add clips", "", VIDEO_FILTER)
        self.add_clips(paths)

    def _remove_selected(self) -> None:
        if self.queue.busy:
            return
        for row in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)
            del self.sources[row]

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.add_clips([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    def start(self) -> None:
        if self.queue.busy or not self.sources:
            if not self.sources:
                self.c.error.emit("add at least one clip to render")
            return
        processor = self.c.processor_snapshot()  # the look at the moment Render is pressed
        if processor is None:
            self.c.error.emit("no model loaded: open a model file first")
            return
        folder = Path(self.folder.text())
        if not folder.is_dir():
            self.c.error.emit(f"output folder does not exist: {folder}")
            return
        jobs = [RenderJob(src, output_for(src, folder)) for src in self.sources]
        for row in range(self.table.rowCount()):
            self.table.cellWidget(row, 1).setValue(0)
            self.table.item(row, 2).setText("waiting")
        self.outputs.clear()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.open_button.setEnabled(False)
        self.summary.setText(f"rendering {len(jobs)} clip(s) to {folder}")
        farm = (self.ray_address.text().strip() or "local") if self.ray_box.isChecked() else None
        if farm:
            self.summary.setText(f"rendering {len(jobs)} clip(s) to {folder} on Ray ({farm}); starting the cluster…")
        self.queue.start(jobs, processor, farm)

    def _on_progress(self, row: int, done: int, total: int, eta: float) -> None:
        bar: QProgressBar = self.table.cellWidget(row, 1)
        bar.setMaximum(max(total, 1))
        bar.setValue(done)
        self.table.item(row, 2).setText(f"{done}/{total} frames {format_eta(eta)}")

    def _on_finished(self, row: int, path: str) -> None:
        self.outputs[row] = path
        self.table.item(row, 2).setText(f"done → {Path(path).name} ({self.queue.jobs[row].message})")
        self.open_button.setEnabled(True)

    def _on_failed(self, row: int, message: str) -> None:
        self.table.item(row, 2).setText(message)
        if "cancelled" not in message:
            self.c.error.emit(f"{self.sources[row].name}: {message}")

    def _on_all_done(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.summary.setText(f"{len(self.outputs)} of {len(self.queue.jobs)} clip(s) rendered")

    def _open_result(self) -> None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        row = rows[0].row() if rows and rows[0].row() in self.outputs else max(self.outputs, default=None)
        if row is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.outputs[row]))

"""Render tab: clips in, stylized clips out, each clip with its own settings.

A clip added to the list takes the Live tab's look at that moment (style or mix, strength, boldness,
colours, smoothing, model) at the clip's own size; the Live tab's processing resolution is a preview speed
choice and never reaches a render. Each row shows its settings; selecting rows that are not rendering
lets the settings box under the list change them. Rows are cancelled or removed one at a time (the
others go on), clips added while the queue runs join it, and "Cancel all" stops everything.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMenu, QProgressBar, QPushButton, QSlider, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from .controller import EngineController
from .render_queue import (CANCELLED, DONE, FAILED, RUNNING, SKIPPED, WAITING, RenderJob, RenderQueue, model_path_of,
                           output_for)
from .widgets import BOLDNESS_TIP, button, slider_row

VIDEO_FILTER = "Video (*.mp4 *.mov *.mkv *.avi *.webm *.m4v)"
# Processing sizes a render offers (0 = the clip's own size). The file always keeps the clip's dimensions.
SIZES = [("Source size", 0), ("1080p", 1080), ("720p", 720), ("480p", 480), ("360p", 360)]
SIZE_NOTE = ("Files keep each clip's own dimensions. A smaller processing size renders faster but softer; "
             "Source size is the sharpest.")
CLIP, SETTINGS, PROGRESS, STATUS, ACTION = range(5)


def format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    m, s = divmod(int(seconds + 0.5), 60)
    return f"ETA {m}:{s:02d}"


def size_label(height: int | None) -> str:
    return f"{height}p" if height else "source size"


def style_text(mix: dict[str, float]) -> str:
    if not mix:
        return "first style"
    if len(mix) == 1:
        return next(iter(mix))
    total = sum(mix.values()) or 1.0
    return " + ".join(f"{n} {w / total:.0%}" for n, w in mix.items())


def describe(settings, model_name: str, bold: bool = True) -> str:
    """One line for a row: "wave · 100% · bold 40% · source size · smoothing 0.6 · mid8.int8" (boldness only when
    set and the model has bold rows: ``bold``)."""
    parts = [style_text(settings.mix), f"{settings.strength:.0%}"]
    if bold and settings.boldness > 0:
        parts.append(f"bold {settings.boldness:.0%}")
    parts += [size_label(settings.process_height),
              f"smoothing {settings.smoothing:.1f}" if settings.smoothing > 0 else "no smoothing"]
    if settings.preserve_colors:
        parts.append("original colours")
    if settings.region != "all":
        parts.append(f"{settings.region} only" + (f", the other in {style_text(settings.person_mix)}"
                                                   if settings.person_mix else ""))
    parts.append(model_name)
    return " · ".join(parts)


class RenderTab(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.queue = RenderQueue(controller.processor_for, self)
        self.setAcceptDrops(True)
        self.last_output: Path | None = None
        self._run_ids: set[int] = set()  # jobs that finished in the current run (for the summary)
        self._note_path: Path | None = None
        self._table_widget()
        self._widgets()
        self._settings_box()
        self._layout()
        self._connect()
        self._show_new_clip_look()
        self._load_box()

    # -- widgets --------------------------------------------------------------------------------
    def _table_widget(self) -> None:
        """The list of clips: one row per clip with its settings, progress, status and a Cancel/Remove button."""
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Clip", "Settings", "Progress", "Status", ""])
        header = self.table.horizontalHeader()
        for col, mode in ((CLIP, QHeaderView.ResizeToContents), (SETTINGS, QHeaderView.Stretch),
                          (PROGRESS, QHeaderView.Interactive), (STATUS, QHeaderView.Stretch),
                          (ACTION, QHeaderView.ResizeToContents)):
            header.setSectionResizeMode(col, mode)
        self.table.setColumnWidth(PROGRESS, 140)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)

    def _widgets(self) -> None:
        self.add_button = QPushButton("Add clips…")
        self.remove_button = button("Remove", tip="Take the selected clips off the list (a rendering clip is cancelled "
                                                  "with its own Cancel button first)")
        self.new_clips_label = QLabel()
        self.new_clips_label.setWordWrap(True)
        self.folder = QLineEdit(str(Path.home()))
        self.folder_button = QPushButton("Output folder…")
        self.start_button = QPushButton("Render")
        self.cancel_all_button = button("Cancel all", enabled=False, tip="Stop the clip rendering now and skip the rest")
        self.open_button = button("Open result", enabled=False, tip="Open the selected (or the latest) rendered clip")
        self.show_folder_button = button("Show folder", enabled=False, tip="Open the folder of the selected (or the "
                                                                         "latest) rendered clip")
        self.summary = QLabel("Add clips (or drop them here).")
        self.result_note = QLabel()
        self.result_note.setWordWrap(True)
        self.result_note.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.copy_path_button = QPushButton("Copy path")
        self.ray_box = QCheckBox("Render on Ray")
        self.ray_box.setToolTip('Cut each clip into segments rendered as Ray tasks (pip install "stylecast[ray]"; '
                                "docs/render-farm.md): on this machine, or on your cluster")
        self.ray_address = QLineEdit()
        self.ray_address.setPlaceholderText("local (this machine), or ray://head:10001, or auto")
        self.ray_address.setEnabled(False)

    # -- layout ---------------------------------------------------------------------------------
    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.add_button)
        top.addWidget(self.remove_button)
        top.addWidget(self.new_clips_label, 1)
        out = QHBoxLayout()
        out.addWidget(QLabel("Save to"))
        out.addWidget(self.folder, 1)
        out.addWidget(self.folder_button)
        out.addWidget(self.ray_box)
        out.addWidget(self.ray_address)
        actions = QHBoxLayout()
        actions.addWidget(self.summary, 1)
        actions.addWidget(self.start_button)
        actions.addWidget(self.cancel_all_button)
        actions.addWidget(self.open_button)
        actions.addWidget(self.show_folder_button)
        self.note_row = QWidget()
        note = QHBoxLayout(self.note_row)
        note.setContentsMargins(0, 0, 0, 0)
        note.addWidget(self.result_note, 1)
        note.addWidget(self.copy_path_button)
        self.note_row.hide()
        root = QVBoxLayout(self)
        root.addLayout(top)
        root.addWidget(self.table, 1)
        root.addWidget(self.box)
        root.addLayout(out)
        root.addLayout(actions)
        root.addWidget(self.note_row)

    def _connect(self) -> None:
        self.ray_box.toggled.connect(self.ray_address.setEnabled)
        self.add_button.clicked.connect(self._choose_clips)
        self.remove_button.clicked.connect(self._remove_selected)
        self.folder_button.clicked.connect(self._choose_folder)
        self.start_button.clicked.connect(self.start)
        self.cancel_all_button.clicked.connect(self.queue.cancel)
        self.open_button.clicked.connect(self._open_result)
        self.show_folder_button.clicked.connect(self._show_folder)
        self.copy_path_button.clicked.connect(self._copy_path)
        self.table.itemSelectionChanged.connect(self._load_box)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.queue.job_started.connect(self._on_started)
        self.queue.progress.connect(self._on_progress)
        self.queue.job_finished.connect(self._on_finished)
        self.queue.job_failed.connect(self._on_failed)
        self.queue.all_done.connect(self._on_all_done)
        self.c.settings_changed.connect(lambda _s: self._show_new_clip_look())
        self.c.model_changed.connect(lambda _m: self._show_new_clip_look())

    # -- the settings box: changes the selected clips that are not rendering -----------------------
    def _settings_box(self) -> None:
        self.box = QGroupBox("Settings of the selected clips")
        self.style_box = QComboBox()
        self.strength = QSlider(Qt.Horizontal)
        self.strength.setRange(0, 100)
        self.strength_value = QLabel()
        self.boldness = QSlider(Qt.Horizontal)
        self.boldness.setRange(0, 100)
        self.boldness_value = QLabel()
        self.smoothing = QSlider(Qt.Horizontal)
        self.smoothing.setRange(0, 100)
        self.smoothing.setToolTip("Temporal smoothing: less flicker between frames; 0 = off")
        self.smoothing_value = QLabel()
        self.preserve = QCheckBox("Keep original colours")
        self.region_box = QComboBox()
        for label, value in (("Whole frame", "all"), ("Background only", "background"), ("Person only", "person")):
            self.region_box.addItem(label, value)
        self.region_box.setToolTip("Where the style goes; the person is found by the person-segmentation model")
        self.size_box = QComboBox()
        for label, height in SIZES:
            self.size_box.addItem(label, height)
        self.size_box.setToolTip(SIZE_NOTE)
        self.model_box = QComboBox()
        self.box_hint = QLabel()
        self.box_hint.setWordWrap(True)
        form = QFormLayout(self.box)
        form.addRow(self.box_hint)
        form.addRow("Style", self.style_box)
        form.addRow("Strength", slider_row(self.strength, self.strength_value))
        form.addRow("Boldness", slider_row(self.boldness, self.boldness_value))
        form.addRow("Smoothing", slider_row(self.smoothing, self.smoothing_value))
        form.addRow("", self.preserve)
        form.addRow("Region", self.region_box)
        form.addRow("Processing size", self.size_box)
        size_note = QLabel(SIZE_NOTE)
        size_note.setWordWrap(True)
        form.addRow("", size_note)
        form.addRow("Model", self.model_box)
        self._connect_box()

    def _connect_box(self) -> None:
        self.style_box.currentIndexChanged.connect(self._on_style)
        for slider, label, text in ((self.strength, self.strength_value, lambda v: f"{v}%"),
                                    (self.boldness, self.boldness_value, lambda v: f"{v}%"),
                                    (self.smoothing, self.smoothing_value, lambda v: f"{v / 100:.2f}" if v else "off")):
            # a clip's setting changes once, when the drag ends: a finished clip does not start rendering
            # again with a value passed on the way
            slider.setTracking(False)
            slider.sliderMoved.connect(lambda v, label=label, text=text: label.setText(text(v)))
        self.strength.valueChanged.connect(self._on_strength)
        self.boldness.valueChanged.connect(lambda v: self._edit(lambda s, _j: s.with_(boldness=v / 100)))
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.preserve.toggled.connect(lambda on: self._edit(lambda s, _j: s.with_(preserve_colors=bool(on))))
        self.size_box.currentIndexChanged.connect(
            lambda _i: self._edit(lambda s, _j: s.with_(process_height=self.size_box.currentData() or None)))
        self.model_box.currentIndexChanged.connect(self._on_model)
        self.region_box.currentIndexChanged.connect(lambda _i: self._edit(
            lambda s, _j: s.with_(region=self.region_box.currentData(),
                                  person_mix=s.person_mix if self.region_box.currentData() != "all" else {})))
        self._box_controls = (self.style_box, self.strength, self.boldness, self.smoothing, self.preserve,
                              self.size_box, self.model_box, self.region_box)

    def _editable(self) -> list[RenderJob]:
        """The selected clips the box changes: every selected one that is not rendering."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.queue.jobs[r] for r in rows if r < len(self.queue.jobs) and self.queue.jobs[r].state != RUNNING]

    def _load_box(self) -> None:
        jobs = self._editable()
        for w in self._box_controls:
            w.setEnabled(bool(jobs))
            w.blockSignals(True)
        try:
            if not jobs:
                self.box_hint.setText("Select clips in the list to change their settings (a clip that is rendering "
                                      "keeps its own).")
                return
            n = len(jobs)
            finished = any(j.state != WAITING for j in jobs)
            again = " A finished clip you change waits to be rendered again." if finished else ""
            self.box_hint.setText((f"Changes apply to the {n} selected clips." if n > 1 else
                                   f"Changes apply to {jobs[0].source.name}.") + again)
            s, job = jobs[0].settings, jobs[0]
            self.style_box.clear()
            if len(s.mix) > 1:
                self.style_box.addItem(f"mix: {style_text(s.mix)}", "")
            for name in self.c.model_styles(job.model):
                self.style_box.addItem(name, name)
            if len(s.mix) == 1:
                self.style_box.setCurrentIndex(max(0, self.style_box.findData(next(iter(s.mix)))))
            self.strength.setValue(round(s.strength * 100))
            self.boldness.setValue(round(s.boldness * 100))
            self.smoothing.setValue(round(s.smoothing * 100))
            self.preserve.setChecked(s.preserve_colors)
            self.size_box.setCurrentIndex(max(0, self.size_box.findData(s.process_height or 0)))
            self.region_box.setCurrentIndex(max(0, self.region_box.findData(s.region)))
            self.model_box.clear()
            for name, path in self.c.fast_models():
                self.model_box.addItem(name, path)
            for path in [m for j in jobs for m in (j.model, model_path_of(j.base))]:
                if self._model_index(path) < 0:  # a model a clip was added with that is not an installed one
                    self.model_box.addItem(Path(path).stem, path)
            self.model_box.setCurrentIndex(max(0, self._model_index(job.model)))
        finally:
            self._show_values()
            self._show_boldness_state(jobs)
            for w in self._box_controls:
                w.blockSignals(False)

    def _show_boldness_state(self, jobs: list[RenderJob]) -> None:
        """Boldness changes clips whose model has bold rows; otherwise greyed out, the tooltip says why."""
        bold = any(self.c.model_bold(j.model) for j in jobs)
        self.boldness.setEnabled(bold)
        tip = BOLDNESS_TIP
        if jobs and not bold:
            tip += ("\n\nNot available: the selected clips' model has no bold version of its styles "
                    "(style images, or a model made before Boldness)")
        self.boldness.setToolTip(tip)

    def _model_index(self, path: str) -> int:
        want = Path(path).resolve()
        return next((i for i in range(self.model_box.count()) if Path(self.model_box.itemData(i)).resolve() == want), -1)

    def _show_values(self) -> None:
        self.strength_value.setText(f"{self.strength.value()}%")
        self.boldness_value.setText(f"{self.boldness.value()}%")
        self.smoothing_value.setText(f"{self.smoothing.value() / 100:.2f}" if self.smoothing.value() else "off")

    def _edit(self, change, model: str | None = None) -> None:
        """Apply ``change(settings, job) -> settings`` to each selected clip that is not rendering."""
        for job in self._editable():
            row = self.queue.jobs.index(job)
            was = job.state
            try:
                settings = change(job.settings, job)
            except Exception as exc:  # noqa: BLE001 - a value out of range is reported, the rest kept
                self.c.error.emit(str(exc))
                return
            if not self.queue.update(job.id, settings=settings, model=model):
                continue
            if was != WAITING:  # a finished clip changed: it waits to be rendered again
                self._reset_row(row, self._assign_output(job) if self.queue.waiting_joins() else None)
            self._refresh_row(row)
        self._show_values()

    def _on_style(self, _index: int) -> None:
        name = self.style_box.currentData()
        if name:  # a style this model has; clips on another model keep theirs
            self._edit(lambda s, j: s.with_(mix={name: 1.0}) if name in self.c.model_styles(j.model) else s)

    def _on_strength(self, value: int) -> None:
        self._edit(lambda s, _j: s.with_(strength=value / 100))

    def _on_smoothing(self, value: int) -> None:
        self._edit(lambda s, _j: s.with_(smoothing=value / 100))

    def _on_model(self, _index: int) -> None:
        path = self.model_box.currentData()
        styles = self.c.model_styles(path)

        def keep_or_first(s, _j):  # the clip's style when the model has it, else the model's first
            if not styles or set(s.mix) <= set(styles):
                return s
            return s.with_(mix={styles[0]: 1.0})

        self._edit(keep_or_first, model=path)
        self._load_box()

    # -- the list ---------------------------------------------------------------------------------
    def _show_new_clip_look(self) -> None:
        snap = self.c.processor_snapshot()
        if snap is None:
            self.new_clips_label.setText("Clips you add take the Live tab's style once a model is loaded.")
            return
        path = model_path_of(snap)
        look = describe(snap.settings.with_(process_height=None, auto_resolution=False), Path(path).stem,
                        self.c.model_bold(path))
        self.new_clips_label.setText(f"Clips you add take the Live tab's look: {look}")

    def showEvent(self, event) -> None:  # noqa: N802
        self._show_new_clip_look()
        super().showEvent(event)

    def add_clips(self, paths: list[str]) -> None:
        """Queue clips with the Live tab's look now, at each clip's own size; while a render runs they join it."""
        if not paths:
            return
        snap = self.c.processor_snapshot()
        if snap is None:
            self.c.error.emit("no model loaded: open a model file first")
            return
        settings = snap.settings.with_(process_height=None, auto_resolution=False)
        joined = 0
        for p in paths:
            job = RenderJob(Path(p), settings, snap)
            job.output = output_for(job.source, Path(self.folder.text()), self._taken(job))
            joined += self.queue.add(job)
            self._insert_row(job)
        if joined:
            self.summary.setText(f"{joined} clip(s) joined the queue")

    def _insert_row(self, job: RenderJob) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, CLIP, QTableWidgetItem(job.source.name))
        self.table.item(row, CLIP).setToolTip(str(job.source))
        self.table.setItem(row, SETTINGS, QTableWidgetItem())
        bar = QProgressBar()
        bar.setValue(0)
        self.table.setCellWidget(row, PROGRESS, bar)
        self.table.setItem(row, STATUS, QTableWidgetItem(job.state))
        action = QPushButton()
        action.clicked.connect(lambda _=False, job_id=job.id: self._row_action(job_id))
        self.table.setCellWidget(row, ACTION, action)
        self._refresh_row(row)

    def _refresh_row(self, row: int) -> None:
        job = self.queue.jobs[row]
        self.table.item(row, SETTINGS).setText(describe(job.settings, job.model_name, self.c.model_bold(job.model)))
        self.table.item(row, SETTINGS).setToolTip(f"model: {job.model}")
        action: QPushButton = self.table.cellWidget(row, ACTION)
        running = job.state == RUNNING
        action.setText("Cancel" if running else "Remove")
        action.setToolTip(f"Stop rendering {job.source.name} (the other clips go on)" if running
                          else f"Take {job.source.name} off the list")

    def _reset_row(self, row: int, output: Path | None = None) -> None:
        if output is not None:
            self.queue.update(self.queue.jobs[row].id, output=output)
        self.table.cellWidget(row, PROGRESS).setValue(0)
        self.table.item(row, STATUS).setText(WAITING)

    def row_of(self, job_id: int) -> int | None:
        return next((i for i, j in enumerate(self.queue.jobs) if j.id == job_id), None)

    def _row_action(self, job_id: int) -> None:
        job = self.queue.job(job_id)
        if job is None:
            return
        if job.state == RUNNING:
            self.cancel_row(job_id)
        else:
            self.remove_row(job_id)

    def cancel_row(self, job_id: int) -> None:
        """Cancel one clip: a rendering one stops without output, a waiting one is skipped."""
        row = self.row_of(job_id)
        if self.queue.cancel_job(job_id) and row is not None and self.queue.jobs[row].state == RUNNING:
            self.table.item(row, STATUS).setText("cancelling…")

    def remove_row(self, job_id: int) -> bool:
        row = self.row_of(job_id)
        if row is None or not self.queue.remove(job_id):
            return False
        self.table.removeRow(row)
        self._load_box()
        return True

    def _taken(self, job: RenderJob) -> set[Path]:
        """Names this clip's output must not take: the other rows' outputs and every queued clip."""
        return ({j.output for j in self.queue.jobs if j is not job and j.output is not None}
                | {j.source for j in self.queue.jobs} | {j.source.resolve() for j in self.queue.jobs})

    def _assign_output(self, job: RenderJob) -> Path:
        return output_for(job.source, Path(self.folder.text()), self._taken(job))

    def _choose_clips(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add clips", "", VIDEO_FILTER)
        self.add_clips(paths)

    def _remove_selected(self) -> None:
        ids = [self.queue.jobs[r].id for r in sorted({i.row() for i in self.table.selectedIndexes()})
               if r < len(self.queue.jobs)]
        kept = [i for i in ids if not self.remove_row(i)]
        if kept:
            self.c.error.emit("a clip that is rendering stays on the list: cancel it first")

    def _context_menu(self, pos) -> None:
        row = self.table.rowAt(pos.y())
        if row < 0 or row >= len(self.queue.jobs):
            return
        job = self.queue.jobs[row]
        menu = QMenu(self)
        if job.state == RUNNING:
            menu.addAction("Cancel", lambda: self.cancel_row(job.id))
        else:
            if job.state == WAITING and self.queue.waiting_joins():
                menu.addAction("Skip", lambda: self.cancel_row(job.id))
            menu.addAction("Remove", lambda: self.remove_row(job.id))
        if job.state == DONE:
            menu.addAction("Open result", lambda: self.open_path(job.output))
            menu.addAction("Show folder", lambda: self.show_folder_of(job.output))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.add_clips([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    # -- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Render the waiting clips; with none waiting, the failed, cancelled and skipped ones; with
        only finished clips, all of them again."""
        if self.queue.busy:
            return
        jobs = self.queue.jobs
        if not jobs:
            self.c.error.emit("add at least one clip to render")
            return
        folder = Path(self.folder.text())
        if not folder.is_dir():
            self.c.error.emit(f"output folder does not exist: {folder}")
            return
        pending = ([j for j in jobs if j.state == WAITING] or [j for j in jobs if j.state in (FAILED, CANCELLED, SKIPPED)]
                   or list(jobs))
        for job in pending:
            self.queue.update(job.id, output=self._assign_output(job))
            self._reset_row(self.queue.jobs.index(job))
        self._run_ids.clear()
        self.note_row.hide()
        farm = (self.ray_address.text().strip() or "local") if self.ray_box.isChecked() else None
        where = f" on Ray ({farm}); starting the cluster…" if farm else ""
        self.summary.setText(f"rendering {len(pending)} clip(s) to {folder}{where}")
        if self.queue.start(farm):
            self.start_button.setEnabled(False)
            self.cancel_all_button.setEnabled(True)
            self._load_box()

    def _on_started(self, job_id: int) -> None:
        row = self.row_of(job_id)
        if row is not None:
            self.table.item(row, STATUS).setText("starting…")
            self._refresh_row(row)
            self._load_box()  # a selected clip that starts leaves the box

    def _on_progress(self, job_id: int, done: int, total: int, eta: float) -> None:
        row = self.row_of(job_id)
        if row is None:
            return
        bar: QProgressBar = self.table.cellWidget(row, PROGRESS)
        bar.setMaximum(max(total, 1))
        bar.setValue(done)
        if self.queue.jobs[row].stop.is_set():
            return  # "cancelling…" stays until the render stops
        self.table.item(row, STATUS).setText(f"{done}/{total} frames {format_eta(eta)}")

    def _on_finished(self, job_id: int, path: str) -> None:
        self._run_ids.add(job_id)
        self.last_output = Path(path)
        row = self.row_of(job_id)
        if row is None:
            return
        self.table.item(row, STATUS).setText(f"done → {Path(path).name} ({self.queue.jobs[row].message})")
        self.table.item(row, STATUS).setToolTip(path)
        self._refresh_row(row)
        self.open_button.setEnabled(True)
        self.show_folder_button.setEnabled(True)

    def _on_failed(self, job_id: int, message: str) -> None:
        self._run_ids.add(job_id)
        row = self.row_of(job_id)
        if row is None:
            return
        job = self.queue.jobs[row]
        text = {CANCELLED: "cancelled; no output written", SKIPPED: "skipped"}.get(job.state, f"failed: {message}")
        self.table.item(row, STATUS).setText(text)
        self.table.item(row, STATUS).setToolTip(message)
        self._refresh_row(row)
        if job.state == FAILED:
            self.c.error.emit(f"{job.source.name}: {message}")

    def _on_all_done(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_all_button.setEnabled(False)
        states = [j.state for j in self.queue.jobs if j.id in self._run_ids]
        counts = [(states.count(DONE), "rendered"), (states.count(CANCELLED), "cancelled"),
                  (states.count(SKIPPED), "skipped"), (states.count(FAILED), "failed")]
        self.summary.setText(", ".join(f"{n} {what}" for n, what in counts if n) or "nothing rendered")
        self._load_box()

    # -- results ------------------------------------------------------------------------------------
    def result_path(self) -> Path | None:
        """The selected rendered clip, else the latest one."""
        for r in sorted({i.row() for i in self.table.selectedIndexes()}):
            if r < len(self.queue.jobs) and self.queue.jobs[r].state == DONE:
                return self.queue.jobs[r].output
        return self.last_output

    def _open_result(self) -> None:
        self.open_path(self.result_path())

    def _show_folder(self) -> None:
        self.show_folder_of(self.result_path())

    def open_path(self, path: Path | None) -> bool:
        if path is None:
            return False
        if not path.is_file():
            return self._note(path, f"{path.name} is no longer there; it was saved as {path}")
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            return True
        return self._note(path, f"No application here opens {path.name}. The file is at {path} "
                                "(Show folder, or Copy path to open it elsewhere).")

    def show_folder_of(self, path: Path | None) -> bool:
        if path is None:
            return False
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))):
            return True
        return self._note(path, f"No file browser opened {path.parent}. The file is at {path} "
                                "(Copy path to open it elsewhere).")

    def _note(self, path: Path, message: str) -> bool:
        """Say in the window what could not be opened and where the file is, with a Copy path button."""
        self._note_path = path
        self.result_note.setText(message)
        self.copy_path_button.setText("Copy path")
        self.note_row.show()
        self.c.error.emit(message)
        return False

    def _copy_path(self) -> None:
        if self._note_path is not None:
            QGuiApplication.clipboard().setText(str(self._note_path))
            self.copy_path_button.setText("Copied")

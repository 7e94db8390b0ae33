"""Studio tab: the slow, high-quality methods. Gatys runs as `python -m training gatys` and U-GAT-IT /
CycleGAN as `python -m training translate`, each in a child process (QProcess): the GUI stays free of
torch, a crash cannot take the window down, and Stop kills the job at once. Gatys progress arrives as
JSON lines; the preview image (written atomically by the child, announced once complete) is re-read as it
changes. What the preview shows is held in memory, and that image is what Save writes: the finished
result, or after Stop the newest preview."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QImageWriter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QProgressBar,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from engine.atomic import atomic_path
from engine.errors import StyleCastError

from .controller import EngineController
from .widgets import button

IMAGES = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif)"
PRESETS = {"Default (alpha 1, beta 10)": (1.0, 10.0), "Daytime (alpha 1000, beta 10)": (1000.0, 10.0)}
SAVE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "bmp": "BMP", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF"}
UGATIT_HELP = ("Turns a photo into another kind of picture, for example a selfie into an anime drawing. It uses a "
               "translation model learned from two collections of pictures, and works on the Content photo chosen "
               "above: the whole picture, or only the face.<br><br>"
               "No such model comes with StyleCast, so bring a U-GAT-IT or CycleGAN checkpoint (a .pt or .pth file): "
               "for example a selfie → anime U-GAT-IT checkpoint (files from the UGATIT-pytorch project load as "
               "they are), or one you trained with StyleCast's trainer. Choose it with Browse… next to Checkpoint. "
               "<a href=\"#train\">How to train one</a>")
TRAIN_HELP = ("To train your own, collect two folders of pictures, for example a few hundred photos of faces and a few "
              "hundred anime drawings; they do not need to match one to one. StyleCast's trainer learns to turn one kind "
              "into the other. Expect hours, and a graphics card helps a lot. When it is done, choose the last.pt "
              "file in its output folder as the Checkpoint here.\n\n"
              "The README, section “Studio: U-GAT-IT and CycleGAN image translation”, has the exact steps.")
TRAIN_COMMANDS = ("python -m training ugatit --a photos/ --b anime/ --out-dir runs/ugatit --time-budget-s 3600\n"
                  "python -m training cyclegan --a photos/ --b anime/ --out-dir runs/cyclegan\n\n"
                  "Then choose runs/ugatit/last.pt (or runs/cyclegan/last.pt) as the Checkpoint.")
README = Path(__file__).resolve().parents[1] / "README.md"
CHECKPOINTS = "Checkpoints (*.pt *.pth)"
JOBS = {"gatys": "Gatys", "translate": "U-GAT-IT"}
NOTHING_YET = "Nothing to save yet: run Gatys or Translate first"


def _field_row(field: QWidget, browse: QWidget) -> QHBoxLayout:
    """A path field that takes the row's spare width, with its Browse button."""
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(browse)
    return row


class StudioTab(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.process: QProcess | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="stylecast-studio-"))
        self.shown: QImage | None = None  # the image in the preview, full size
        self.result: QImage | None = None  # what Save writes: the finished image, or the newest preview after Stop
        self.last_step = self.total_steps = self.preview_step = 0
        self.job = ""
        self.help_box: QMessageBox | None = None
        self._stopping = False
        self._nothing_to_save = NOTHING_YET
        self._gatys_widgets()
        self._output_widgets()
        self._translation_widgets()
        self._layout()
        self._connect()
        self._update_buttons()

    def _gatys_widgets(self) -> None:
        self.content = QLineEdit()
        self.content.setPlaceholderText("content photo")
        self.content_button = QPushButton("Browse…")
        self.styles = QListWidget()
        self.styles.setToolTip("Style images and their mixing weights")
        self.styles.setMaximumHeight(120)  # room for a few images; the list scrolls past that
        self.style_weight = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=100.0, value=1.0, singleStep=0.1)
        self.style_weight.setToolTip("Mixing weight of the selected style image")
        self.add_style = QPushButton("Add style…")
        self.remove_style = QPushButton("Remove")
        self.remove_style.setToolTip("Remove the selected style image from the list")
        self.preset = QComboBox()
        self.preset.addItems(PRESETS)
        self.alpha = QDoubleSpinBox(decimals=2, maximum=1e6, value=1.0)
        self.beta = QDoubleSpinBox(decimals=2, maximum=1e6, value=10.0)
        self.optimizer = QComboBox()
        self.optimizer.addItems(["lbfgs", "adam"])
        self.steps = QSpinBox(minimum=1, maximum=5000, value=300)
        self.size = QSpinBox(minimum=64, maximum=2048, singleStep=64, value=384)
        self.init = QComboBox()
        self.init.addItems(["content", "noise"])
        self.shift = QCheckBox("Activation shift (Novak && Nikulin, s = -1)")
        self.preserve = QCheckBox("Keep original colours")
        self.layer_weights = QLineEdit()
        self.layer_weights.setPlaceholderText("style layer weights, e.g. 1 1 1 1 1 (relu1_1 … relu5_1)")

    def _output_widgets(self) -> None:
        self.run_button = button("Run Gatys")
        self.stop_button = button("Stop", enabled=False)
        self.save_button = button("Save…", enabled=False)
        self.progress = QProgressBar()
        self.preview = QLabel("The image appears here while it is optimised.")
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setMinimumSize(400, 300)
        self.preview.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)  # a shown image never holds the window open
        self.status = QLabel("Choose a content photo and style images, then Run Gatys.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)  # a saved path or an error can be copied

    def _translation_widgets(self) -> None:
        """U-GAT-IT / CycleGAN."""
        self.checkpoint = QLineEdit()
        self.checkpoint.setPlaceholderText("U-GAT-IT / CycleGAN checkpoint (.pt)")
        self.checkpoint_button = QPushButton("Browse…")
        self.direction = QComboBox()
        self.direction.addItem("A → B (e.g. photo → anime)", "AtoB")
        self.direction.addItem("B → A", "BtoA")
        self.face_only = QCheckBox("Face only (detect, translate, paste back)")
        self.face_box = QLineEdit()
        self.face_box.setPlaceholderText("face by hand: X,Y,W,H (optional)")
        self.translate_size = QSpinBox(minimum=64, maximum=1024, singleStep=32, value=256)
        self.translate_button = QPushButton("Translate")
        self.ugatit_note = QLabel(UGATIT_HELP)
        self.ugatit_note.setWordWrap(True)
        self.ugatit_note.setTextFormat(Qt.RichText)
        self.ugatit_note.linkActivated.connect(lambda _link: self.show_training_help())

    def _connect(self) -> None:
        self.content_button.clicked.connect(self._choose_content)
        self.add_style.clicked.connect(self._choose_style)
        self.remove_style.clicked.connect(self._remove_styles)
        self.preset.currentTextChanged.connect(self._apply_preset)
        self.styles.currentItemChanged.connect(
            lambda item, _old: item is not None and self.style_weight.setValue(item.data(Qt.UserRole)[1]))
        self.style_weight.valueChanged.connect(self._set_weight)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self._save)
        self.checkpoint_button.clicked.connect(self._choose_checkpoint)
        self.translate_button.clicked.connect(self.translate)

    def _layout(self) -> None:
        side = QVBoxLayout()
        side.addWidget(self._gatys_box())
        side.addWidget(self._translation_box())
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        scroll = QScrollArea()  # both boxes are taller than a 768-pixel screen leaves: scroll, never cut off
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMaximumWidth(480)
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        root = QHBoxLayout(self)
        root.addLayout(left, 3)
        root.addWidget(scroll, 2)

    def _gatys_box(self) -> QGroupBox:
        """Content, styles and the optimisation's settings, with Run / Stop / Save."""
        form = QFormLayout()
        form.addRow("Content", _field_row(self.content, self.content_button))
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_style)
        buttons.addWidget(self.remove_style)
        buttons.addWidget(QLabel("weight"))
        buttons.addWidget(self.style_weight)
        form.addRow("Styles", self.styles)
        form.addRow("", buttons)
        form.addRow("Preset", self.preset)
        form.addRow("Content weight α", self.alpha)
        form.addRow("Style weight β", self.beta)
        form.addRow("Layer weights", self.layer_weights)
        form.addRow("Optimiser", self.optimizer)
        form.addRow("Iterations", self.steps)
        form.addRow("Size (longest side)", self.size)
        form.addRow("Start from", self.init)
        form.addRow("", self.shift)
        form.addRow("", self.preserve)
        actions = QHBoxLayout()
        for b in (self.run_button, self.stop_button, self.save_button):
            actions.addWidget(b)
        gatys = QGroupBox("Gatys et al. — optimisation, slow, high quality (PyTorch)")
        g = QVBoxLayout(gatys)
        g.addLayout(form)
        g.addLayout(actions)
        return gatys

    def _translation_box(self) -> QGroupBox:
        """The translation checkpoint, direction, face and size, with Translate."""
        ugatit = QGroupBox("U-GAT-IT / CycleGAN — image translation (PyTorch)")
        u = QVBoxLayout(ugatit)
        u.addWidget(self.ugatit_note)
        uform = QFormLayout()
        uform.addRow("Checkpoint", _field_row(self.checkpoint, self.checkpoint_button))
        uform.addRow("Direction", self.direction)
        uform.addRow("", self.face_only)
        uform.addRow("Face box", self.face_box)
        uform.addRow("Size", self.translate_size)
        u.addLayout(uform)
        u.addWidget(self.translate_button)
        return ugatit

    def show_training_help(self) -> None:
        """How to get a translation checkpoint, in words; the commands sit behind Show Details."""
        box = QMessageBox(QMessageBox.Information, "Train a translation model", TRAIN_HELP, QMessageBox.Close, self)
        box.setDetailedText(TRAIN_COMMANDS)
        if README.is_file():
            readme = box.addButton("Open the README", QMessageBox.ActionRole)
            readme.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(README))))
        box.setAttribute(Qt.WA_DeleteOnClose)
        self.help_box = box
        box.finished.connect(lambda _result: setattr(self, "help_box", None))
        box.open()

    def _remove_styles(self) -> None:
        items = self.styles.selectedItems()
        if not items:
            self._say("Select a style image in the list to remove it.")
        for item in items:
            self.styles.takeItem(self.styles.row(item))

    def _apply_preset(self, name: str) -> None:
        a, b = PRESETS[name]
        self.alpha.setValue(a)
        self.beta.setValue(b)

    def _choose_content(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Content photo", "", IMAGES)
        if path:
            self.content.setText(path)

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Translation checkpoint", "", CHECKPOINTS)
        if path:
            self.checkpoint.setText(path)

    def _choose_style(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Style images", "", IMAGES)
        for p in paths:
            self.add_style_image(p, 1.0)

    def _set_weight(self, weight: float) -> None:
        item = self.styles.currentItem()
        if item is not None:
            path = item.data(Qt.UserRole)[0]
            item.setData(Qt.UserRole, (path, weight))
            item.setText(f"{weight:g}  {path}")

    def add_style_image(self, path: str, weight: float = 1.0) -> None:
        item = QListWidgetItem(f"{weight:g}  {path}")
        item.setData(Qt.UserRole, (path, weight))
        item.setToolTip(path)
        self.styles.addItem(item)
        self.styles.setCurrentItem(item)  # the weight box next to the list now sets this image's weight

    # -- running ---------------------------------------------------------------------------------
    def command(self) -> list[str]:
        out = self.workdir / "result.png"
        args = ["-m", "training", "gatys", "--content", self.content.text(), "--out", str(out),
                "--json-progress", "--preview", str(self.workdir / "preview.png"), "--preview-every", "5",
                "--alpha", str(self.alpha.value()), "--beta", str(self.beta.value()),
                "--optimizer", self.optimizer.currentText(), "--steps", str(self.steps.value()),
                "--size", str(self.size.value()), "--init", self.init.currentText()]
        for i in range(self.styles.count()):
            path, weight = self.styles.item(i).data(Qt.UserRole)
            args += ["--style", f"{path}={weight}"]
        if self.shift.isChecked():
            args += ["--shift=-1"]
        if self.preserve.isChecked():
            args += ["--preserve-colors"]
        if self.layer_weights.text().strip():
            args += ["--layer-weights", *self.layer_weights.text().split()]
        return args

    def translate_command(self) -> list[str]:
        args = ["-m", "training", "translate", "--checkpoint", self.checkpoint.text(), "--input", self.content.text(),
                "--output", str(self.workdir / "result.png"), "--direction", self.direction.currentData(),
                "--size", str(self.translate_size.value())]
        if self.face_box.text().strip():
            args += ["--face-box", self.face_box.text().strip()]
        elif self.face_only.isChecked():
            args += ["--face"]
        return args

    def run(self) -> bool:
        if not self._content_ok(report=True):
            return False
        if self.styles.count() == 0:
            self._error("add at least one style image (Add style…)")
            return False
        weights = self.layer_weights.text().split()
        try:
            [float(w) for w in weights]
        except ValueError:
            weights = []
        if self.layer_weights.text().strip() and len(weights) != 5:
            self._error("layer weights: give five numbers, one for each of relu1_1 … relu5_1, e.g. 1 1 1 1 1")
            return False
        return self._start("gatys", self.command())

    def translate(self) -> bool:
        if not self._content_ok(report=True):
            return False
        if not self.checkpoint.text():
            self._error("choose a U-GAT-IT / CycleGAN checkpoint first (Browse… next to Checkpoint)")
            return False
        if not Path(self.checkpoint.text()).is_file():
            self._error(f"checkpoint not found: {self.checkpoint.text()}")
            return False
        return self._start("translate", self.translate_command())

    def _content_ok(self, report: bool = False) -> bool:
        text = self.content.text()
        ok = bool(text) and Path(text).is_file()
        if not ok and report:
            self._error(f"content photo not found: {text}" if text else "choose a content photo first (Browse… next to Content)")
        return ok

    def _say(self, text: str, error: bool = False) -> None:
        """The line under the preview, where the user is looking; errors in red."""
        self.status.setText(text)
        self.status.setStyleSheet("color: #c62828;" if error else "")

    def _error(self, message: str) -> None:
        self._say(f"⚠ {message}", error=True)
        self.c.error.emit(message)

    def _update_buttons(self) -> None:
        """Enable what can be done now; a greyed-out button says why in its tooltip."""
        running = self.process is not None
        busy = "A job is running: wait for it or Stop it first"
        self.run_button.setEnabled(not running)
        self.run_button.setToolTip(busy if running else "Optimise the content photo towards the style images")
        self.translate_button.setEnabled(not running)
        self.translate_button.setToolTip(busy if running else "Translate the content photo with the checkpoint")
        self.stop_button.setEnabled(running)
        self.stop_button.setToolTip("Stop now; Save keeps the newest image shown" if running else "Nothing is running")
        self.save_button.setEnabled(self.result is not None and not running)
        if running:
            self.save_button.setToolTip("Available when the job finishes or you stop it")
        else:
            self.save_button.setToolTip("Save the image shown" if self.result is not None else self._nothing_to_save)

    def _start(self, job: str, args: list[str]) -> bool:
        if self.process is not None:
            return False
        self.job, self._stopping = job, False
        self.result, self.shown = None, None
        self.last_step, self.preview_step = 0, 0
        self.total_steps = self.steps.value()
        for name in ("result.png", "preview.png"):  # nothing from an earlier job can pass for this one's
            (self.workdir / name).unlink(missing_ok=True)
        self.preview.clear()
        self.preview.setText("The image appears here while it is optimised." if job == "gatys" else "Translating…")
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read_progress)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._process_error)
        if job == "gatys":
            self.progress.setRange(0, self.total_steps)
            self.progress.setValue(0)
            self._say("starting…")
        else:
            self.progress.setRange(0, 0)  # busy: a translation is one forward pass
            self._say("translating…")
        self.process.start(sys.executable, args)
        self._update_buttons()
        return True

    def stop(self) -> None:
        """Kill the job at once. Progress lines already sent are read first (and the rest in ``_finished``),
        so the newest complete preview is the one kept."""
        if self.process is not None:
            self._stopping = True
            self._read_progress()
            self.process.kill()

    def _process_error(self, error) -> None:
        if error == QProcess.FailedToStart and self.process is not None:  # no finished signal follows
            proc, self.process = self.process, None
            self._nothing_to_save = NOTHING_YET
            self.progress.setRange(0, 1)
            self._update_buttons()
            self._error(f"{JOBS[self.job]}: could not start {sys.executable}: {proc.errorString()}")

    def _read_progress(self) -> None:
        while self.process is not None and self.process.canReadLine():
            line = bytes(self.process.readLine()).decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "step" not in msg:
                continue
            self.last_step, self.total_steps = msg["step"], msg["total"]
            self.progress.setMaximum(msg["total"])
            self.progress.setValue(msg["step"])
            self._say(f"step {msg['step']} of {msg['total']} · loss {msg['loss']:.4g}")
            if "preview" in msg and self._show(Path(msg["preview"])):
                self.preview_step = msg["step"]

    def _show(self, path: Path) -> bool:
        """Read ``path`` into memory and show it; the held image is what Save writes."""
        image = QImage(str(path))
        if image.isNull():
            return False
        self.shown = image
        self._paint_preview()
        return True

    def _paint_preview(self) -> None:
        if self.shown is not None:
            self.preview.setPixmap(QPixmap.fromImage(self.shown).scaled(self.preview.size(), Qt.KeepAspectRatio,
                                                                        Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._paint_preview()  # the image follows the window's size, both ways

    def _finished(self, code: int, status) -> None:
        if self.process is None:
            return
        self._read_progress()  # lines sent before the end, the newest preview among them
        proc, self.process = self.process, None
        err = bytes(proc.readAllStandardError()).decode(errors="replace").strip()
        if self.job == "translate":
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if code == 0 and status == QProcess.NormalExit else 0)
        out = self.workdir / "result.png"
        if status == QProcess.NormalExit and code == 0 and out.is_file() and self._show(out):
            self.result = self.shown
            done = f"done: {self.last_step} steps" if self.job == "gatys" else "done: translated"
            self._say(f"{done} — Save keeps this image")
        elif status != QProcess.NormalExit or self._stopping:
            self._stopped(crashed=not self._stopping, err=err)
        else:
            lines = [l for l in err.splitlines() if l.startswith("error:")]
            message = lines[-1][len("error: "):] if lines else (err.splitlines()[-1] if err else f"exit code {code}")
            self._nothing_to_save = "The job failed: nothing to save"
            kept = ""
            if self.job == "gatys" and self.shown is not None:  # what was reached before the failure is not lost
                self.result = self.shown
                kept = f" — Save keeps the image from step {self.preview_step}"
            self._say(f"failed: {message}{kept}", error=True)
            self.c.error.emit(f"{JOBS[self.job]}: {message}")
        self._update_buttons()

    def _stopped(self, crashed: bool, err: str) -> None:
        """Stopped by the user, or ended by a crash: a Gatys job keeps its newest preview as the result."""
        name = JOBS[self.job]
        where = f" at step {self.last_step} of {self.total_steps}" if self.job == "gatys" and self.last_step else ""
        if self.job == "gatys" and self.shown is not None:
            self.result = self.shown
            kept = "Save keeps this image" + ("" if self.preview_step == self.last_step else f" (from step {self.preview_step})")
        else:
            self._nothing_to_save = "Stopped before there was an image: nothing to save"
            kept = "nothing to save yet" if self.job == "gatys" else "nothing to save"
        if crashed:
            last = err.splitlines()[-1] if err else "no message"
            message = f"{name} ended unexpectedly{where} ({last})"
            self.c.error.emit(message)
            self._say(f"⚠ {message} — {kept}", error=True)
        else:
            self._say(f"{'stopped' if self.job == 'gatys' else 'translation stopped'}{where} — {kept}")

    def _save(self) -> None:
        if self.result is None:
            return
        content = Path(self.content.text())
        start = (content.parent / f"{content.stem}_{self.job}.png") if content.is_file() else Path(f"{self.job or 'studio'}.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save result", str(start), IMAGES)
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> bool:
        """Write the image shown, at full size; the file name's ending picks the format (none: PNG).
        Says where it went, or why not, under the preview and in the status bar."""
        if self.result is None:
            return False
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".png")
        fmt = SAVE_FORMATS.get(target.suffix.lower().lstrip("."))
        if fmt is None:
            self._error(f"cannot save as {target.suffix}: end the name with .png or .jpg")
            return False
        try:
            inputs = [self.content.text(), self.checkpoint.text(),  # never written over what the result came from
                      *(self.styles.item(i).data(Qt.UserRole)[0] for i in range(self.styles.count()))]
            with atomic_path(target, [p for p in inputs if p]) as tmp:
                writer = QImageWriter(str(tmp), fmt.encode())
                if fmt == "JPEG":
                    writer.setQuality(95)
                if not writer.write(self.result):
                    raise OSError(writer.errorString())
        except (OSError, StyleCastError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._error(f"could not save {target}: {reason}")
            return False
        self._say(f"saved {target}")
        self.c.note.emit(f"saved {target}")
        return True

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(3000)
        shutil.rmtree(self.workdir, ignore_errors=True)

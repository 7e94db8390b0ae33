"""Studio tab: the slow, high-quality methods. Gatys runs as `python -m training gatys` and U-GAT-IT /
CycleGAN as `python -m training translate`, each in a child process (QProcess): the GUI stays free of
torch, a crash cannot take the window down, and Stop kills the job at once. Gatys progress arrives as
JSON lines; the preview image is re-read as it changes."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from .controller import EngineController
from .widgets import button

IMAGES = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif)"
PRESETS = {"Default (alpha 1, beta 10)": (1.0, 10.0), "Daytime (alpha 1000, beta 10)": (1000.0, 10.0)}
UGATIT_HELP = ("Image-to-image translation with a U-GAT-IT or CycleGAN checkpoint. None ships: a selfie → anime "
               "model needs a selfie/anime dataset we do not have offline. Bring one: train it with "
               "<code>python -m training ugatit --a photos/ --b anime/</code>, or load a UGATIT-pytorch "
               "<code>*_params_*.pt</code> file as it is.")
CHECKPOINTS = "Checkpoints (*.pt *.pth)"
JOBS = {"gatys": "Gatys", "translate": "U-GAT-IT"}


class StudioTab(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.process: QProcess | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="stylecast-studio-"))
        self.result: Path | None = None
        self.last_step = 0
        self.job = ""
        self._gatys_widgets()
        self._output_widgets()
        self._translation_widgets()
        self._layout()
        self._connect()

    def _gatys_widgets(self) -> None:
        self.content = QLineEdit()
        self.content.setPlaceholderText("content photo")
        self.content_button = QPushButton("Browse…")
        self.styles = QListWidget()
        self.styles.setToolTip("Style images and their mixing weights")
        self.style_weight = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=100.0, value=1.0, singleStep=0.1)
        self.style_weight.setToolTip("Mixing weight of the selected style image")
        self.add_style = QPushButton("Add style…")
        self.remove_style = QPushButton("Remove")
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
        self.status = QLabel("")

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

    def _connect(self) -> None:
        self.content_button.clicked.connect(self._choose_content)
        self.add_style.clicked.connect(self._choose_style)
        self.remove_style.clicked.connect(lambda: [self.styles.takeItem(self.styles.row(i)) for i in self.styles.selectedItems()])
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
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.content, 1)
        row.addWidget(self.content_button)
        form.addRow("Content", row)
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
        ugatit = QGroupBox("U-GAT-IT / CycleGAN — image translation (PyTorch)")
        u = QVBoxLayout(ugatit)
        note = QLabel(UGATIT_HELP)
        note.setWordWrap(True)
        u.addWidget(note)
        uform = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.checkpoint, 1)
        row.addWidget(self.checkpoint_button)
        uform.addRow("Checkpoint", row)
        uform.addRow("Direction", self.direction)
        uform.addRow("", self.face_only)
        uform.addRow("Face box", self.face_box)
        uform.addRow("Size", self.translate_size)
        u.addLayout(uform)
        u.addWidget(self.translate_button)
        side = QVBoxLayout()
        side.addWidget(gatys)
        side.addWidget(ugatit)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setMaximumWidth(460)
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        root = QHBoxLayout(self)
        root.addLayout(left, 3)
        root.addWidget(panel, 2)

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
        self.styles.addItem(item)

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
            self.c.error.emit("add at least one style image")
            return False
        return self._start("gatys", self.command())

    def translate(self) -> bool:
        if not self._content_ok(report=True):
            return False
        if not self.checkpoint.text() or not Path(self.checkpoint.text()).is_file():
            self.c.error.emit("choose a U-GAT-IT / CycleGAN checkpoint first")
            return False
        return self._start("translate", self.translate_command())

    def _content_ok(self, report: bool = False) -> bool:
        ok = bool(self.content.text()) and Path(self.content.text()).is_file()
        if not ok and report:
            self.c.error.emit("choose a content photo first")
        return ok

    def _start(self, job: str, args: list[str]) -> bool:
        if self.process is not None:
            return False
        self.job = job
        self.result, self.last_step = None, 0
        (self.workdir / "result.png").unlink(missing_ok=True)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read_progress)
        self.process.finished.connect(self._finished)
        self.process.start(sys.executable, args)
        self.run_button.setEnabled(False)
        self.translate_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.save_button.setEnabled(False)
        if job == "gatys":
            self.status.setText("starting (loading the loss network)…")
        else:
            self.progress.setMaximum(0)  # busy: a translation is one forward pass
            self.status.setText("translating…")
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()

    def _read_progress(self) -> None:
        while self.process is not None and self.process.canReadLine():
            line = bytes(self.process.readLine()).decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if "step" not in msg:
                continue
            self.last_step = msg["step"]
            self.progress.setMaximum(msg["total"])
            self.progress.setValue(msg["step"])
            self.status.setText(f"step {msg['step']}/{msg['total']} · loss {msg['loss']:.4g}")
            if "preview" in msg:
                self._show(Path(msg["preview"]))

    def _show(self, path: Path) -> None:
        pix = QPixmap(str(path))
        if not pix.isNull():
            self.preview.setPixmap(pix.scaled(self.preview.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def _finished(self, code: int, status) -> None:
        proc, self.process = self.process, None
        err = bytes(proc.readAllStandardError()).decode(errors="replace").strip()
        self.run_button.setEnabled(True)
        self.translate_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if self.job == "translate":
            self.progress.setMaximum(1)
            self.progress.setValue(1 if code == 0 else 0)
        out = self.workdir / "result.png"
        if status == QProcess.NormalExit and code == 0 and out.is_file():
            self.result = out
            self._show(out)
            self.save_button.setEnabled(True)
            self.status.setText(f"done: {self.last_step} steps" if self.job == "gatys" else "done: translated")
        elif status != QProcess.NormalExit:
            self.status.setText(f"stopped at step {self.last_step}" if self.job == "gatys" else "stopped")
        else:
            lines = [l for l in err.splitlines() if l.startswith("error:")]
            message = lines[-1][len("error: "):] if lines else (err.splitlines()[-1] if err else f"exit code {code}")
            self.status.setText("failed")
            self.c.error.emit(f"{JOBS[self.job]}: {message}")

    def _save(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save result", f"{self.job or 'studio'}.png", IMAGES)
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        shutil.copyfile(self.result, path)

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(3000)
        shutil.rmtree(self.workdir, ignore_errors=True)

"""The desktop app's composition root: builds the controller, the tabs and the window, once."""
from __future__ import annotations

import argparse
import os
import sys

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox, QTabWidget

from engine import __version__

from .controller import SAMPLE_CLIP, EngineController
from .live_tab import LiveTab
from .render_tab import RenderTab
from .studio_tab import StudioTab

ORG, APP = "StyleCast", "StyleCast"


class MainWindow(QMainWindow):
    def __init__(self, controller: EngineController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.c = controller
        self.settings_store = settings or QSettings(ORG, APP)
        self.setWindowTitle(f"StyleCast {__version__}")
        self.resize(1280, 760)
        self.tabs = QTabWidget()
        self.live = LiveTab(controller)
        self.render_tab = RenderTab(controller)
        self.tabs.addTab(self.live, "Live")
        self.studio = StudioTab(controller)
        self.tabs.addTab(self.render_tab, "Render")
        self.tabs.addTab(self.studio, "Studio")
        self.setCentralWidget(self.tabs)
        self.errors: list[str] = []
        self.notes: list[str] = []
        controller.error.connect(self.show_error)
        controller.note.connect(self.show_note)
        self._menus()
        self.statusBar().showMessage("Ready")
        skipped = list(controller.session.library.skipped.values())  # noted before this window existed
        if skipped:
            self.show_note(skipped[0] if len(skipped) == 1 else f"{len(skipped)} style images skipped: {skipped[0]} …")

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_model = QAction("Open model…", self)
        open_model.triggered.connect(self._open_model)
        file_menu.addAction(open_model)
        add_style = QAction("Add style image…", self)
        add_style.triggered.connect(self.live.choose_style_image)
        file_menu.addAction(add_style)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        for text, fn in (("Keyboard shortcuts", self.show_shortcuts), ("Where StyleCast keeps your files", self.show_files),
                         ("About StyleCast", self.show_about)):
            action = QAction(text, self)
            action.triggered.connect(fn)
            help_menu.addAction(action)

    # -- Help -------------------------------------------------------------------------------------
    def _info(self, title: str, html: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Information, title, html, QMessageBox.Ok, self)
        box.setTextFormat(Qt.RichText)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.open()  # not modal for the app: the preview keeps running
        return box

    def show_shortcuts(self) -> QMessageBox:
        from .live_tab import SHORTCUTS

        rows = "".join(f"<tr><td><b>{k}</b></td><td>{what}</td><td><i>{where}</i></td></tr>" for k, what, where in SHORTCUTS)
        return self._info("Keyboard shortcuts", f"<table cellspacing=6>{rows}</table>")

    def show_files(self) -> QMessageBox:
        from engine.control import token_path
        from engine.learned import learned_dir
        from engine.modelfile import user_models_dir
        from engine.userstyles import user_styles_dir

        rows = [("Your style images", user_styles_dir()), ("Your learned styles", learned_dir()),
                ("Your models (.onnx)", user_models_dir()),
                ("Remote-control token", token_path()), ("Settings", self.settings_store.fileName()),
                ("Renders", self.render_tab.folder.text() or "(choose in the Render tab)")]
        body = "".join(f"<tr><td><b>{what}</b></td><td>{where}</td></tr>" for what, where in rows)
        return self._info("Where StyleCast keeps your files",
                          f"<table cellspacing=6>{body}</table><p>Snapshots and recordings go where you save them.</p>")

    def show_about(self) -> QMessageBox:
        return self._info("About StyleCast",
                          f"<p><b>StyleCast {__version__}</b></p><p>Neural style transfer for a live camera, video "
                          "clips and pictures: fast feed-forward nets and AdaIN run with ONNX Runtime; Gatys and "
                          "U-GAT-IT in the Studio tab.</p><p>Running on: "
                          f"{self.c.active_provider().upper() or 'no model loaded'}</p>")

    def _open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a StyleCast model", "", "ONNX models (*.onnx)")
        if path and self.c.set_model(path):
            self.statusBar().showMessage(f"model {os.path.basename(path)} loaded", 5000)

    def show_note(self, message: str) -> None:
        self.notes.append(message)
        self.statusBar().showMessage(message, 15000)

    def show_error(self, message: str) -> None:
        self.errors.append(message)
        self.statusBar().showMessage(f"⚠ {message}", 15000)

    # -- settings kept between runs -------------------------------------------------------------
    def _saved(self, key: str, kind, default, bad: list[str]):
        """One saved value as ``kind`` (int, bool, str, bytes); a value that is not one (a hand-edited
        or damaged settings file) gives ``default`` and its key is noted in ``bad``."""
        value = self.settings_store.value(key)
        if value is None:
            return default
        try:
            if kind is bool:
                text = str(value).strip().lower()
                if text not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                return text in ("true", "1")
            if kind is int:
                return int(str(value).strip())
            if kind is str:
                # QSettings reads an unquoted "a, b" back as a list: join it as the text it was
                return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            if kind is bytes:
                if not isinstance(value, (bytes, bytearray, QByteArray)):
                    raise TypeError(type(value).__name__)
                return QByteArray(value)
        except (TypeError, ValueError):
            bad.append(key)
            return default
        raise TypeError(kind)

    def restore(self) -> None:
        """The style settings come back as the record they were saved as; the rest is view state.
        A saved value that cannot be read falls back to its default, and the status bar says which."""
        live, bad = self.live, []
        source = self._saved("source", str, "", bad)
        if source:
            idx = live.source_box.findData(source)
            if idx >= 0:
                live.source_box.setCurrentIndex(idx)
                self.c.source_spec = source
        saved = self._saved("style_settings", str, "", bad)
        if saved:
            self.c.restore_settings_json(saved)
        live.show_settings(self.c.settings)
        live.refresh_gallery()
        slider = self._saved("smoothing_slider", int, live.smoothing.value(), bad)
        if not self.c.settings.smoothing:  # off: the slider waits where the user left it
            live.smoothing.setValue(max(live.smoothing.minimum(), min(live.smoothing.maximum(), slider)))
        view = self._saved("view", str, "stylized", bad)
        if live.view_mode.findText(view) >= 0:
            live.view_mode.setCurrentText(view)
        remote = self.live.remote_box
        port = self._saved("remote_port", int, remote.port.value(), bad)
        if not remote.port.minimum() <= port <= remote.port.maximum():
            bad.append("remote_port")
            port = remote.port.value()
        remote.port.setValue(port)
        if self._saved("remote_on", bool, False, bad):
            self.live.remote.start(remote.port.value())
        self.render_tab.ray_address.setText(self._saved("render_ray_address", str, "", bad))
        self.render_tab.ray_box.setChecked(self._saved("render_on_ray", bool, False, bad))
        folder = self._saved("render_folder", str, "", bad)
        if folder:
            self.render_tab.folder.setText(folder)
        geometry = self._saved("geometry", bytes, None, bad)
        if geometry is not None and not self.restoreGeometry(geometry):
            bad.append("geometry")
        if bad:
            self.statusBar().showMessage(f"Some saved settings could not be read and were reset: {', '.join(bad)}",
                                         15000)

    def save(self) -> None:
        s = self.settings_store
        s.setValue("source", self.c.source_spec)
        s.setValue("style_settings", self.c.settings_json())
        s.setValue("smoothing_slider", self.live.smoothing.value())  # where the slider waits while smoothing is off
        s.setValue("view", self.live.view_mode.currentText())
        s.setValue("render_folder", self.render_tab.folder.text())
        s.setValue("render_on_ray", self.render_tab.ray_box.isChecked())
        s.setValue("render_ray_address", self.render_tab.ray_address.text())
        s.setValue("remote_on", self.live.remote.listening)
        s.setValue("remote_port", self.live.remote_box.port.value())
        s.setValue("geometry", self.saveGeometry())
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save()
        self.render_tab.queue.cancel()
        self.render_tab.queue.wait(10)
        self.studio.shutdown()
        self.live.remote.stop()
        self.c.shutdown()
        super().closeEvent(event)


def build_window(source: str | None = None, settings: QSettings | None = None) -> MainWindow:
    controller = EngineController()
    if source:
        controller.source_spec = source
    controller.load_default_models()
    window = MainWindow(controller, settings)
    window.restore()
    if source:
        controller.source_spec = source
    window.live.refresh_gallery()
    if not source and controller.source_spec == str(SAMPLE_CLIP) and not controller.cameras():
        window.show_note("No camera found, so the Live tab shows the sample clip; plug one in and pick it under Source")
    screen = QApplication.primaryScreen()
    if screen is not None and settings is None and window.settings_store.value("geometry") is None:
        free = screen.availableGeometry()  # a first start on a laptop screen: the window fits it
        window.resize(min(1280, free.width()), min(760, free.height() - 40))
    return window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stylecast gui")
    parser.add_argument("--source", help="camera:N, synthetic, or a video/image file")
    parser.add_argument("--start", action="store_true", help="start the preview immediately")
    parser.add_argument("--control", type=int, metavar="PORT", help="turn on remote control on 127.0.0.1:PORT (docs/control.md)")
    args, qt_args = parser.parse_known_args(argv)
    QApplication.setAttribute(Qt.AA_ShareOpenGLContexts, True)
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    window = build_window(args.source)
    window.show()
    if args.control is not None:
        window.live.remote_box.port.setValue(args.control)
        window.live.remote.start(args.control)
    if args.start:
        window.live.toggle_running()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

"""The desktop app's composition root: builds the controller, the tabs and the window, once."""
from __future__ import annotations

import argparse
import os
import sys

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QTabWidget

from engine import __version__

from .controller import EngineController
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
        controller.error.connect(self.show_error)
        self._menus()
        self.statusBar().showMessage("Ready")

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_model = QAction("Open model…", self)
        open_model.triggered.connect(self._open_model)
        file_menu.addAction(open_model)
        add_style = QAction("Add style image…", self)
        add_style.triggered.connect(self.live._choose_style_image)
        file_menu.addAction(add_style)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

    def _open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a StyleCast model", "", "ONNX models (*.onnx)")
        if path and self.c.set_model(path):
            self.statusBar().showMessage(f"model {os.path.basename(path)} loaded", 5000)

    def show_error(self, message: str) -> None:
        self.errors.append(message)
        self.statusBar().showMessage(f"⚠ {message}", 15000)

    # -- settings kept between runs -------------------------------------------------------------
    def restore(self) -> None:
        """The style settings come back as the record they were saved as; the rest is view state."""
        s = self.settings_store
        live = self.live
        source = s.value("source")
        if source:
            idx = live.source_box.findData(source)
            if idx >= 0:
                live.source_box.setCurrentIndex(idx)
                self.c.source_spec = source
        saved = s.value("style_settings")
        if saved:
            self.c.restore_settings_json(str(saved))
        live.show_settings(self.c.settings)
        live.refresh_gallery()
        if not self.c.settings.smoothing:  # off: the slider waits where the user left it
            live.smoothing.setValue(int(s.value("smoothing_slider", live.smoothing.value())))
        live.view_mode.setCurrentText(s.value("view", "stylized"))
        remote = self.live.remote_box
        remote.port.setValue(int(s.value("remote_port", remote.port.value())))
        if str(s.value("remote_on", "false")).lower() == "true":
            self.live.remote.start(remote.port.value())
        self.render_tab.ray_address.setText(str(s.value("render_ray_address", "")))
        self.render_tab.ray_box.setChecked(str(s.value("render_on_ray", "false")).lower() == "true")
        folder = s.value("render_folder")
        if folder:
            self.render_tab.folder.setText(folder)
        geometry = s.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

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

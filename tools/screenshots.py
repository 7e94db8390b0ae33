"""Start the real window and save screenshots of each tab (run under Xvfb: tools/screenshots.sh)."""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow
from desktop.controller import SAMPLE_CLIP, EngineController

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    c = EngineController()
    c.source_spec = str(SAMPLE_CLIP)
    c.load_default_models()
    w = MainWindow(c, QSettings(str(OUT / ".screenshot-settings.ini"), QSettings.IniFormat))
    w.resize(1280, 760)
    w.live.refresh_gallery()
    w.show()
    steps = []

    def grab(name: str) -> None:
        w.grab().save(str(OUT / f"{name}.png"))
        print(f"saved {OUT / name}.png")

    def live() -> None:
        names = c.builtin_styles()
        if names:
            c.set_style(names[0])
            w.live.refresh_gallery()
        w.live.toggle_running()

    def split() -> None:
        grab("live")
        w.live.view_mode.setCurrentText("split")
        if len(c.builtin_styles()) > 2:
            c.set_mix({c.builtin_styles()[1]: 0.6, c.builtin_styles()[2]: 0.4})
            w.live.refresh_gallery()

    def render() -> None:
        grab("live_split_mix")
        w.live.toggle_running()
        w.tabs.setCurrentWidget(w.render_tab)
        w.render_tab.add_clips([str(SAMPLE_CLIP)])

    def studio() -> None:
        grab("render")
        w.tabs.setCurrentWidget(w.studio)
        w.studio.content.setText(str(SAMPLE_CLIP.with_name("fruits.jpg")))
        w.studio.add_style_image(str(SAMPLE_CLIP.parents[1] / "styles" / "starry.jpg"), 1.0)

    def finish() -> None:
        grab("studio")
        w.close()
        app.quit()

    for delay, fn in ((500, live), (6000, split), (11000, render), (12500, studio), (13500, finish)):
        QTimer.singleShot(delay, fn)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

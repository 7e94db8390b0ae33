"""Start the real window at a laptop's 1366x768 and save screenshots of each tab while it is used
(run under Xvfb: tools/screenshots.sh). Each step waits for what it shows (frames painted, a render
under way, a stopped Studio run), not for a fixed time, so the pictures are the same on a slow host."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow
from desktop.controller import SAMPLE_CLIP, EngineController

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
SCREEN = (1366, 768)
STYLES = SAMPLE_CLIP.parents[1] / "styles"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    c = EngineController()
    c.source_spec = str(SAMPLE_CLIP)
    c.load_default_models()
    settings = OUT / ".screenshot-settings.ini"
    settings.unlink(missing_ok=True)
    w = MainWindow(c, QSettings(str(settings), QSettings.IniFormat))
    w.setGeometry(0, 0, SCREEN[0], SCREEN[1] - 30)  # the whole window on the screen, as on a laptop
    w.live.refresh_gallery()
    w.show()

    def grab(name: str) -> None:
        w.grab().save(str(OUT / f"{name}.png"))
        print(f"saved {OUT / name}.png", flush=True)

    def painted(n: int):
        start = w.live.view.frames_painted
        return lambda: w.live.view.frames_painted >= start + n

    def start_live() -> None:
        names = c.builtin_styles()
        if names:
            c.set_style(names[0])
            w.live.refresh_gallery()
        w.live.toggle_running()

    def mix_and_split() -> None:
        grab("live")
        w.live.view_mode.setCurrentText("split")
        names = c.builtin_styles()
        if len(names) > 2:
            for i in range(w.live.gallery.count()):  # as a person mixes: Ctrl+click two styles
                item = w.live.gallery.item(i)
                item.setSelected(item.text().replace(" ", "_") in names[1:3])
            w.live._on_selection()

    def render() -> None:
        grab("live_split_mix")
        w.live.toggle_running()
        w.tabs.setCurrentWidget(w.render_tab)
        w.render_tab.add_clips([str(SAMPLE_CLIP)])
        c.set_style(c.builtin_styles()[3] if len(c.builtin_styles()) > 3 else c.builtin_styles()[0])
        w.render_tab.add_clips([str(SAMPLE_CLIP)])  # a second row with another look
        w.render_tab.folder.setText(tempfile.mkdtemp(prefix="stylecast-screenshot-renders-"))
        w.render_tab.start()
        w.render_tab.table.selectRow(1)  # the settings box shows the waiting clip's look, editable

    def studio() -> None:
        grab("render")
        w.render_tab.cancel_all_button.click()
        w.tabs.setCurrentWidget(w.studio)
        w.studio.content.setText(str(SAMPLE_CLIP.with_name("fruits.jpg")))
        w.studio.add_style_image(str(STYLES / "starry.jpg"), 1.0)
        w.studio.size.setValue(192)
        w.studio.steps.setValue(400)
        w.studio.run()

    def stop_studio() -> None:
        w.studio.stop()

    def finish() -> None:
        grab("studio")
        w.close()
        app.quit()

    # (condition to wait for, then what to do); each condition is polled every 100 ms, for 3 minutes at most
    plan = [(lambda: True, start_live), (painted(20), mix_and_split), (painted(20), render),
            (lambda: w.render_tab.queue.busy and w.render_tab.table.rowCount() == 2 and _progress(w) > 0, studio),
            (lambda: w.studio.last_step >= 25, stop_studio),
            (lambda: w.studio.process is None and w.studio.save_button.isEnabled(), finish)]
    state = {"i": 0, "since": time.monotonic()}

    def tick() -> None:
        i = state["i"]
        if i >= len(plan):
            return
        ready, action = plan[i]
        if ready():
            state["i"], state["since"] = i + 1, time.monotonic()
            action()
        elif time.monotonic() - state["since"] > 180:
            print(f"screenshot step {i + 1} did not become ready in 3 minutes", file=sys.stderr)
            app.exit(1)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(100)
    return app.exec()


def _progress(w: MainWindow) -> int:
    """Frames done of the first clip, read from its progress bar."""
    from PySide6.QtWidgets import QProgressBar

    for col in range(w.render_tab.table.columnCount()):
        bar = w.render_tab.table.cellWidget(0, col)
        if isinstance(bar, QProgressBar):
            return bar.value()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Desktop app under the offscreen Qt platform, driven with pytest-qt: real widgets, real engine."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from desktop.app import MainWindow
from desktop.controller import EngineController
from desktop.render_tab import PROGRESS, STATUS
from tests.media import audio_packets, make_clip, video_facts


@pytest.fixture
def window(qtbot, tiny_fast_model, tiny_adain_model, tmp_path):
    c = EngineController()
    c.source_spec = "synthetic"
    assert c.set_model(str(tiny_fast_model))
    assert c.set_adain_model(str(tiny_adain_model))
    w = MainWindow(c, QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    w.live.refresh_gallery()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def wait_frames(qtbot, w, n=3):
    start = w.live.view.frames_painted
    try:
        qtbot.waitUntil(lambda: w.live.view.frames_painted >= start + n, timeout=30000)
    except Exception as exc:  # say what the app reported, so a stall in a full run can be told from an error
        raise AssertionError(f"{n} frames not painted in 30 s (painted {w.live.view.frames_painted - start}; "
                             f"running {w.c.running}; errors {w.errors[-3:]})") from exc


def test_live_preview_paints_frames_and_stats(qtbot, window):
    live = window.live
    assert live.gallery.count() == 2  # the tiny model's two styles
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    assert window.c.running and live.start_button.text() == "Stop"
    qtbot.waitUntil(lambda: "fps" in live.stats_label.text(), timeout=5000)
    assert "CPU" in live.stats_label.text()
    assert live.provider_label.text() == "running on: CPU — the model you chose"  # what runs, where, why
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not window.c.running, timeout=5000)
    assert window.errors == []


def test_switch_style_strength_mix_and_colours(qtbot, window):
    live, c = window.live, window.c
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    live.gallery.item(1).setSelected(True)
    live.gallery.item(0).setSelected(False)
    assert c.settings.mix == {"fire": 1.0}
    assert c.processor.settings.mix == {"fire": 1.0}  # applies on the next frame, no restart
    live.gallery.item(0).setSelected(True)  # two selected: a mix
    assert set(c.settings.mix) == {"ink", "fire"} and live.mix_box.isVisible()
    live.mix_sliders["ink"].setValue(20)
    assert c.settings.mix["ink"] == pytest.approx(0.2)
    live.strength.setValue(40)
    live.preserve.setChecked(True)
    assert c.settings.auto_resolution and live.resolution.currentText().startswith("Auto")  # the Live default
    live.resolution.setCurrentIndex(live.resolution.findData(180))
    assert c.processor.settings.strength == pytest.approx(0.4)
    assert c.processor.settings.preserve_colors and c.processor.settings.process_height == 180
    assert not c.processor.settings.auto_resolution
    wait_frames(qtbot, window)
    # keyboard: next style
    live.gallery.clearSelection()
    c.set_style("ink")
    live.step_style(1)
    assert c.settings.mix == {"fire": 1.0}
    live.view_mode.setCurrentText("split")
    wait_frames(qtbot, window)
    assert window.errors == []


def test_add_style_image_switches_to_adain(qtbot, window, photo):
    live, c = window.live, window.c
    live.add_style_image(str(photo))
    assert c.processor.stylizer.family == "adain"
    assert live.gallery.count() == 3
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    live.add_style_image(str(photo.parent / "missing.png"))
    assert "file not found" in window.errors[-1]
    assert "file not found" in window.statusBar().currentMessage()


def test_snapshot_and_record(qtbot, window, tmp_path):
    live, c = window.live, window.c
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    snap = tmp_path / "snap.png"
    assert c.snapshot(str(snap), live.view.stylized) and snap.stat().st_size > 0
    rec = tmp_path / "rec.mp4"
    assert c.start_recording(str(rec))
    # wait on the recorder itself: under load, repaints of the view are not new frames
    qtbot.waitUntil(lambda: c.session._recorder is not None and c.session._recorder.writer is not None
                    and c.session._recorder.writer.frames >= 6, timeout=30000)
    c.stop_recording()
    assert rec.is_file() and video_facts(rec)[3] >= 5
    assert c.running  # recording stops, the preview goes on


def test_virtual_camera_without_pyvirtualcam_is_a_clear_message(qtbot, window, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails as if not installed
    live = window.live
    qtbot.mouseClick(live.vcam_button, Qt.LeftButton)
    assert 'pip install "stylecast[vcam]"' in window.errors[-1]
    assert not live.vcam_button.isChecked()


def test_virtual_camera_without_a_device_stops_with_a_clear_message(qtbot, window, monkeypatch):
    """pyvirtualcam installed but no backend (no OBS, no v4l2loopback): it raises RuntimeError on open."""
    fake = types.ModuleType("pyvirtualcam")

    def no_device(**kwargs):
        raise RuntimeError("'v4l2loopback' backend: no device found")

    fake.Camera = no_device
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    live = window.live
    qtbot.mouseClick(live.vcam_button, Qt.LeftButton)
    assert live.vcam_button.isChecked()  # armed: the device is opened with the first frame
    live.toggle_running()
    qtbot.waitUntil(lambda: any("no virtual camera device" in e for e in window.errors), timeout=15000)
    assert "v4l2loopback" in [e for e in window.errors if "no virtual camera device" in e][-1]
    qtbot.waitUntil(lambda: not window.c.running, timeout=5000)


def test_virtual_camera_receives_the_stylized_frames(qtbot, window, monkeypatch):
    sent, closed = [], []

    class Camera:
        def __init__(self, width, height, fps, device=None):
            self.size = (width, height)

        def send(self, image):
            sent.append(image.copy())

        def close(self):
            closed.append(True)

    fake = types.ModuleType("pyvirtualcam")
    fake.Camera = Camera
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    live = window.live
    live.toggle_running()
    wait_frames(qtbot, window)
    qtbot.mouseClick(live.vcam_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(sent) >= 3, timeout=15000)
    assert all(isinstance(f, np.ndarray) and f.ndim == 3 and f.dtype == np.uint8 for f in sent[:3])
    qtbot.mouseClick(live.vcam_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(closed), timeout=5000)
    assert not live.vcam_button.isChecked()


def test_source_that_fails_shows_error_not_a_hang(qtbot, window, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    window.c.set_source(str(bad))
    qtbot.mouseClick(window.live.start_button, Qt.LeftButton)
    assert not window.c.running
    assert "not a readable video" in window.errors[-1]
    window.c.set_source("camera:57")
    window.live.toggle_running()
    assert "no camera" in window.errors[-1]


def test_render_tab_renders_and_keeps_audio(qtbot, window, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=12, audio=True)
    out = tmp_path / "out"
    out.mkdir()
    tab = window.render_tab
    window.tabs.setCurrentWidget(tab)
    tab.add_clips([str(clip)])
    tab.folder.setText(str(out))
    with qtbot.waitSignal(tab.queue.all_done, timeout=60000):
        qtbot.mouseClick(tab.start_button, Qt.LeftButton)
    result = out / "clip_stylized.mp4"
    assert result.is_file() and video_facts(result) == video_facts(clip)
    assert audio_packets(result) == audio_packets(clip)
    assert tab.table.cellWidget(0, PROGRESS).value() == 12
    assert "done" in tab.table.item(0, STATUS).text() and tab.open_button.isEnabled()


def test_render_cancel_leaves_no_file(qtbot, window, tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=120, audio=True)
    out = tmp_path / "out"
    out.mkdir()
    tab = window.render_tab
    tab.add_clips([str(clip)])
    tab.folder.setText(str(out))
    tab.queue.progress.connect(lambda row, done, total, eta: tab.queue.cancel() if done >= 3 else None)
    with qtbot.waitSignal(tab.queue.all_done, timeout=60000):
        tab.start()
    assert list(out.iterdir()) == []
    assert "cancelled" in tab.table.item(0, STATUS).text()


def reopen(qtbot, window, model, tmp_path):
    """Close the app and start it again on the same settings file (a restart)."""
    window.close()
    c2 = EngineController()
    c2.set_model(str(model))
    w2 = MainWindow(c2, QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w2)
    w2.restore()
    return c2, w2


def test_settings_survive_a_restart(qtbot, window, tiny_fast_model, tmp_path):
    window.live.strength.setValue(55)
    window.live.preserve.setChecked(True)
    window.c.set_style("fire")
    c2, w2 = reopen(qtbot, window, tiny_fast_model, tmp_path)
    assert w2.live.strength.value() == 55 and w2.live.preserve.isChecked()
    assert c2.settings.mix == {"fire": 1.0} and c2.settings.strength == pytest.approx(0.55)


def test_close_stops_everything(qtbot, window):
    qtbot.mouseClick(window.live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    pipeline = window.c.pipeline
    window.close()
    assert not pipeline.running


def _studio_setup(window, photo, steps):
    tab = window.studio
    window.tabs.setCurrentWidget(tab)
    tab.content.setText(str(photo))
    tab.add_style_image(str(photo), 1.0)
    tab.size.setValue(64)
    tab.steps.setValue(steps)
    tab.optimizer.setCurrentText("adam")
    tab.preset.setCurrentText("Daytime (alpha 1000, beta 10)")
    assert (tab.alpha.value(), tab.beta.value()) == (1000.0, 10.0)
    return tab


def test_studio_runs_gatys_and_saves(qtbot, window, photo, tmp_path):
    from PIL import Image

    tab = _studio_setup(window, photo, 6)
    assert tab.run()
    qtbot.waitUntil(lambda: tab.process is None, timeout=180000)
    assert tab.result is not None and tab.save_button.isEnabled(), window.errors
    assert tab.progress.value() == 6 and "done" in tab.status.text()
    assert tab.save_to(str(tmp_path / "g.png"))
    assert Image.open(tmp_path / "g.png").size == (tab.result.width(), tab.result.height()) == (64, 50)
    # Save says where it saved, under the preview and in the status bar
    assert str(tmp_path / "g.png") in tab.status.text() and str(tmp_path / "g.png") in window.notes[-1]
    assert tab.save_to(str(tmp_path / "no_ending")) and (tmp_path / "no_ending.png").is_file()  # PNG by default
    assert tab.save_to(str(tmp_path / "g.jpg")) and Image.open(tmp_path / "g.jpg").format == "JPEG"
    # a folder that is not there: one sentence where the user looks, nothing half-written
    assert not tab.save_to(str(tmp_path / "gone" / "g.png"))
    assert "could not save" in tab.status.text() and "could not save" in window.errors[-1]
    assert not (tmp_path / "gone").exists()


def test_studio_stop_and_errors(qtbot, window, photo):
    from PySide6.QtCore import QProcess
    from PySide6.QtWidgets import QWidget

    tab = _studio_setup(window, photo, 2000)
    assert tab.run()
    assert not tab.save_button.isEnabled() and "Stop" in tab.run_button.toolTip()
    qtbot.waitUntil(lambda: tab.process is None or tab.process.state() == QProcess.Running, timeout=30000)
    tab.stop()  # at once, while the loss network is still loading: no image yet
    qtbot.waitUntil(lambda: tab.process is None, timeout=10000)
    assert "stopped" in tab.status.text() and tab.result is None and not tab.save_button.isEnabled()
    assert "nothing to save" in tab.save_button.toolTip().lower()
    assert tab.run_button.isEnabled() and window.errors == []
    # nothing in the tab is greyed out without saying why
    assert [w for w in tab.findChildren(QWidget) if not w.isEnabled() and not w.toolTip()] == []
    tab.content.setText("")
    assert not tab.run() and "content photo" in window.errors[-1]
    assert "content photo" in tab.status.text()  # the error is also under the preview, where the user looks
    tab.content.setText(str(photo))
    tab.layer_weights.setText("1 2")
    assert not tab.run() and "five numbers" in tab.status.text() and tab.process is None


def test_flicker_reduction_control(qtbot, window):
    live, c = window.live, window.c
    assert not live.smoothing.isEnabled()
    live.smooth_on.setChecked(True)
    assert live.smoothing.isEnabled() and c.processor.settings.smoothing == pytest.approx(0.7)
    live.smoothing.setValue(40)
    assert c.processor.settings.smoothing == pytest.approx(0.4)
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    live.smooth_on.setChecked(False)
    assert c.processor.settings.smoothing == 0.0


def test_studio_translates_a_face_with_a_ugatit_checkpoint(qtbot, window, tmp_path):
    from pathlib import Path

    from PIL import Image

    from tests.test_ugatit import tiny_cfg
    from training.train_translation import train_translation

    domains = (tmp_path / "a", tmp_path / "b")
    for i, d in enumerate(domains):
        d.mkdir()
        ramp = np.broadcast_to(np.arange(72, dtype=np.uint8)[None, :, None] // 2, (72, 72, 3))
        Image.fromarray(60 + 120 * i + ramp).save(d / "x.png")  # a ramp, not flat: the data stream skips uniform crops
    ckpt = train_translation(tiny_cfg(domains, tmp_path / "run", max_steps=1), log=lambda *_: None)
    tab = window.studio
    window.tabs.setCurrentWidget(tab)
    tab.content.setText(str(Path(__file__).parent / "data" / "monalisa.jpg"))
    assert not tab.translate() and "checkpoint" in window.errors[-1]
    tab.checkpoint.setText(str(ckpt))
    tab.face_only.setChecked(True)
    tab.direction.setCurrentIndex(1)
    assert "--face" in tab.translate_command() and "BtoA" in tab.translate_command()
    assert tab.translate()
    assert not tab.run_button.isEnabled() and not tab.translate_button.isEnabled()
    qtbot.waitUntil(lambda: tab.process is None, timeout=120000)
    assert tab.result is not None and tab.save_button.isEnabled(), window.errors
    assert "translated" in tab.status.text()
    tab.save_to(str(tmp_path / "t.png"))
    assert Image.open(tmp_path / "t.png").size == Image.open(tab.content.text()).size
    # a wrong file reaches the user as one message, not a traceback
    tab.checkpoint.setText(str(tab.content.text()))
    assert tab.translate()
    qtbot.waitUntil(lambda: tab.process is None, timeout=120000)
    assert window.errors[-1].startswith("U-GAT-IT:") and "Traceback" not in window.errors[-1]
    assert tab.result is None and tab.status.text().startswith("failed: ")
    assert window.errors[-1][len("U-GAT-IT: "):] in tab.status.text()  # the reason, under the preview
    assert not tab.save_button.isEnabled() and "failed" in tab.save_button.toolTip()


def test_model_box_lists_the_built_in_nets_and_switches(qtbot, window, tiny_fast_model):
    box = window.live.model_box
    names = [box.itemText(i) for i in range(box.count())]
    assert {"light8", "full8", "light8_steady"} <= set(names)
    # the fixture's model came from a file: it joined the list and is the current entry
    assert box.currentText() == tiny_fast_model.stem and box.currentData() == str(window.c.fast.info.path)
    steady = names.index("light8_steady")
    box.setCurrentIndex(steady)
    box.activated.emit(steady)  # what a user's pick sends
    assert window.c.fast.info.name == "light8_steady"
    assert window.c.style_names() == window.c.fast.style_names()
    assert window.c.set_model(str(tiny_fast_model))  # File > Open model again: selected, not listed twice
    assert box.currentText() == tiny_fast_model.stem and box.count() == len(names)


def test_settings_are_one_record_saved_as_it_is(qtbot, window, tiny_fast_model, tmp_path):
    """The widgets show the controller's record; the app stores that record (JSON), not widget values."""
    import json

    c = window.c
    c.set_mix({"fire": 0.25, "ink": 0.75})
    c.set_smoothing(0.6)
    c.set_process_height(270)
    c.set_strength(0.3)
    live = window.live
    # the widgets follow the record (changed through the controller, not the widgets)
    assert live.strength.value() == 30 and live.smooth_on.isChecked() and live.smoothing.value() == 60
    assert live.resolution.currentData() == 270
    window.save()
    saved = json.loads(window.settings_store.value("style_settings"))
    assert saved == c.settings.to_dict()
    assert saved["mix"] == pytest.approx({"fire": 0.25, "ink": 0.75}) and saved["process_height"] == 270
    c2, w2 = reopen(qtbot, window, tiny_fast_model, tmp_path)
    assert c2.settings == c.settings and c2.processor.settings is c2.settings
    assert w2.live.resolution.currentData() == 270 and w2.live.smoothing.value() == 60


def test_settings_saved_before_auto_resolution_come_back_on_auto(qtbot, window):
    """A record saved before Auto existed (no auto_resolution key, a fixed 360p then the default) starts on Auto,
    the Live default; a record that chose a fixed size since keeps it."""
    window.settings_store.setValue("style_settings", '{"mix": {"fire": 1.0}, "process_height": 360}')
    window.restore()
    assert window.c.settings.auto_resolution and window.live.resolution.currentText().startswith("Auto")
    window.settings_store.setValue("style_settings", '{"mix": {"fire": 1.0}, "process_height": 360, '
                                                     '"auto_resolution": false}')
    window.restore()
    assert not window.c.settings.auto_resolution and window.live.resolution.currentData() == 360


def test_saved_settings_for_another_model_keep_a_valid_mix(qtbot, window, tiny_fast_model, tmp_path):
    window.settings_store.setValue("style_settings", '{"mix": {"no_such_style": 1.0}, "strength": 0.5}')
    window.restore()
    assert window.c.settings.strength == pytest.approx(0.5)
    assert set(window.c.settings.mix) <= set(window.c.builtin_styles())
    window.settings_store.setValue("style_settings", '{"strength": 7}')
    window.restore()
    assert "saved settings ignored" in window.errors[-1] and window.c.settings.strength == pytest.approx(0.5)


def test_render_queue_keeps_its_settings_snapshot_while_live_changes(qtbot, window, tmp_path):
    """A render started with style A at strength 1 stays so while the live tab moves to B at 0."""
    import av

    def read_frames(path):
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    clip = make_clip(tmp_path / "c.mp4", frames=40, audio=False)
    c = window.c
    c.set_style("fire")
    c.set_strength(1.0)
    snap = c.processor_snapshot()
    ref = tmp_path / "ref"
    ref.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    tab = window.render_tab
    tab.add_clips([str(clip)])
    tab.folder.setText(str(out))
    changed = []

    def change_live(row, done, total, eta):
        if done >= 2 and not changed:
            c.set_style("ink")
            c.set_strength(0.0)
            changed.append(done)

    tab.queue.progress.connect(change_live)
    with qtbot.waitSignal(tab.queue.all_done, timeout=60000):
        tab.start()
    assert changed and c.settings.strength == 0.0 and c.settings.mix == {"ink": 1.0}
    assert snap.settings.mix == {"fire": 1.0}
    # the rendered frames match a render of the same clip with the snapshot taken before the change
    from engine.render import render_video

    render_video(clip, ref / "c.mp4", snap)
    render_video(clip, ref / "live.mp4", c.processor_snapshot())  # what a leak of the live settings would give
    got, want, leak = read_frames(out / "c_stylized.mp4"), read_frames(ref / "c.mp4"), read_frames(ref / "live.mp4")
    assert len(got) == len(want) == len(leak) == 40

    def diff(a, b):
        return float(np.abs(a.astype(int) - b.astype(int)).mean())

    # Not bit-exact: around the live change a frame or two of the render differ by up to ~1.4 grey levels
    # after H.264 (measured on the AVX-512 host, one run in three, cause not found; bit-exact otherwise).
    # A leaked setting moves every frame by 70-87.
    for a, b, c_ in zip(got, want, leak):
        assert diff(a, b) < 3.0 and diff(a, b) < diff(a, c_) / 5


# ---- remote control and style capture ------------------------------------------------------------
def _in_thread(fn):
    """Run fn on a plain thread (a remote client); the GUI thread keeps spinning in waitUntil."""
    import threading

    box = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    threading.Thread(target=work, daemon=True).start()
    return box


def _post(url, path, token, body):
    import json
    import urllib.request

    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def test_remote_control_drives_the_app_and_its_widgets(qtbot, window):
    live, c = window.live, window.c
    assert live.remote.start(0)  # port 0: any free port
    try:
        server, token = live.remote.server, live.remote.token()
        assert live.remote_box.enabled.isChecked() and server.url in live.remote_box.status.text()
        assert live.remote_box.token.text() == token
        box = _in_thread(lambda: [_post(server.url, "/api/start", token, {}),
                                  _post(server.url, "/api/style", token, {"name": "fire"}),
                                  _post(server.url, "/api/strength", token, {"value": 0.3})])
        qtbot.waitUntil(lambda: "value" in box or "error" in box, timeout=30000)
        assert "error" not in box, box.get("error")
        assert box["value"][-1]["settings"]["mix"] == {"fire": 1.0}
        # the change went through the GUI thread: the widgets show it like a click would
        assert c.running and live.start_button.text() == "Stop"
        assert [it.data(Qt.UserRole) for it in live.gallery.selectedItems()] == ["fire"]
        assert live.strength.value() == 30
        wait_frames(qtbot, window)
    finally:
        live.remote.stop()
    assert not live.remote_box.enabled.isChecked() and live.remote_box.status.text() == "off"


def test_remote_port_in_use_is_a_clear_message(qtbot, window):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        assert not window.live.remote.start(taken.getsockname()[1])
    finally:
        taken.close()
    assert "cannot listen" in window.errors[-1] and not window.live.remote_box.enabled.isChecked()


def test_capture_style_from_a_dragged_region_persists_across_restart(qtbot, window, tiny_fast_model,
                                                                       tiny_adain_model, tmp_path):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent

    live, c = window.live, window.c
    qtbot.mouseClick(live.capture_button, Qt.LeftButton)  # nothing to capture yet
    assert "start the preview" in window.errors[-1]
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    view = live.view
    target = view._target(view.stylized)

    def mouse(kind, fx, fy):
        pos = QPointF(target.left() + fx * target.width(), target.top() + fy * target.height())
        return QMouseEvent(kind, pos, view.mapToGlobal(pos), Qt.LeftButton, Qt.LeftButton, Qt.NoModifier)

    view.mousePressEvent(mouse(QMouseEvent.MouseButtonPress, 0.2, 0.2))
    view.mouseMoveEvent(mouse(QMouseEvent.MouseMove, 0.7, 0.8))
    view.mouseReleaseEvent(mouse(QMouseEvent.MouseButtonRelease, 0.7, 0.8))
    assert view.selection == pytest.approx((0.2, 0.2, 0.5, 0.6), abs=0.02)
    qtbot.mouseClick(live.capture_button, Qt.LeftButton)
    name = c.custom_styles()[-1]
    assert name.startswith("capture-") and c.settings.mix == {name: 1.0}
    assert c.processor.stylizer.family == "adain" and view.selection is None
    assert [it.data(Qt.UserRole) for it in live.gallery.selectedItems()] == [name]
    assert c.settings.auto_resolution  # the style-image path at a size that keeps up with the camera
    stored = c.custom_style_paths()[name]
    assert stored.endswith(".png")
    wait_frames(qtbot, window)
    c.set_style("ink")
    window.save()
    c2, w2 = reopen(qtbot, window, tiny_fast_model, tmp_path)
    assert c2.set_adain_model(str(tiny_adain_model))
    w2.live.refresh_gallery()
    assert name in c2.custom_styles() and w2.live.gallery.count() == 3
    c2.set_style(name)
    assert c2.processor.stylizer.family == "adain"
    c2.remove_style(name)
    assert name not in c2.custom_styles() and w2.live.gallery.count() == 2 and c2.settings.mix == {"ink": 1.0}


def test_render_tab_on_ray_matches_a_plain_render(qtbot, window, tmp_path):
    """The Render tab's "Render on Ray" box: a local Ray cluster started by the render, stopped here."""
    import ray

    from engine.render import render_video

    clip = make_clip(tmp_path / "c.mp4", frames=36, fps=24, audio=True, gop=12)
    out = tmp_path / "out"
    out.mkdir()
    tab = window.render_tab
    tab.add_clips([str(clip)])
    tab.folder.setText(str(out))
    tab.ray_box.setChecked(True)
    assert tab.ray_address.isEnabled() and tab.ray_address.text() == ""  # empty = a local cluster
    snap = window.c.processor_snapshot()
    try:
        with qtbot.waitSignal(tab.queue.all_done, timeout=240000):
            tab.start()
    finally:
        ray.shutdown()
    assert window.errors == [] and tab.queue.jobs[0].state == "done", tab.queue.jobs[0].message
    plain = render_video(clip, tmp_path / "plain.mp4", snap)
    assert video_facts(out / "c_stylized.mp4") == video_facts(plain.output)
    assert audio_packets(out / "c_stylized.mp4") == audio_packets(plain.output)
    window.save()
    assert window.settings_store.value("render_on_ray") in (True, "true")


SIGNAL_REFCOUNT_PROBE = r"""
import sys
from PySide6.QtCore import QCoreApplication
from desktop.controller import EngineController
from engine.pipeline import Stats

app = QCoreApplication([])
c = EngineController()
emits = [(c.frame_ready, ()), (c.stats_changed, (Stats(),)), (c.error, ("x",)), (c.running_changed, (True,)),
         (c.recording_changed, (False,)), (c.vcam_changed, (True,)), (c.styles_changed, (["a"],)),
         (c.provider_changed, ("cpu",)), (c.settings_changed, (c.session.settings,)), (c._event, ("model", "m"))]
c.stop = lambda: None  # the error signal's handler would stop a pipeline that does not exist
before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
for signal, args in emits:
    for _ in range(3000):
        signal.emit(*args)
app.processEvents()
after = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
print(" ".join(str(a - b) for a, b in zip(after, before)))
"""


def test_signal_emits_keep_true_alive():
    """PySide6 6.12.0 drops one reference to True on every Signal.emit(); before Python 3.12 True is
    not immortal, and the app aborts ("bool_dealloc") after minutes of live preview. 30,000 emits of
    the controller's real signals in a child process must leave the counts of True, False and None
    as they were (and the child alive)."""
    import subprocess

    import PySide6

    probe = subprocess.run([sys.executable, "-c", SIGNAL_REFCOUNT_PROBE], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, (f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} crashed "
                                   f"after repeated signal emits: {probe.stderr.strip()[-300:]}")
    true_delta, false_delta, none_delta = map(int, probe.stdout.split())
    assert (true_delta, false_delta) == (0, 0), (f"PySide6 {PySide6.__version__} leaks references to True/False "
                                                 f"({true_delta}, {false_delta}); see pyproject.toml's pin")
    assert abs(none_delta) < 100  # None is shared by everything; a leak per emit would be thousands


def test_damaged_saved_settings_fall_back_to_defaults_with_a_note(qtbot, tiny_fast_model, tmp_path):
    """A hand-edited or damaged settings file never stops the app from starting."""
    ini = tmp_path / "damaged.ini"
    ini.write_text("[General]\nsmoothing_slider=abc\nremote_port=abc\nrender_folder=a, b\nremote_on=maybe\n"
                   "geometry=not-a-geometry\nview=sideways\nstyle_settings={broken\nrender_on_ray=2\n")
    c = EngineController()
    c.source_spec = "synthetic"
    assert c.set_model(str(tiny_fast_model))
    w = MainWindow(c, QSettings(str(ini), QSettings.IniFormat))
    qtbot.addWidget(w)
    errors = []
    c.error.connect(errors.append)
    w.restore()
    note = w.statusBar().currentMessage()
    for key in ("smoothing_slider", "remote_port", "remote_on", "geometry", "render_on_ray"):
        assert key in note, note
    assert w.render_tab.folder.text() == "a, b"  # a folder name with a comma is kept as it was written
    assert w.live.remote_box.port.value() == 8765 and not w.live.remote.listening
    assert w.live.view_mode.currentText() == "stylized"
    assert any("saved settings ignored" in e for e in errors), errors  # the style record: its own message
    w.close()


def test_snapshot_and_recording_never_write_over_the_source_clip(qtbot, window, tmp_path, tiny_fast_model):
    clip = make_clip(tmp_path / "source.mp4", frames=30, audio=False)
    before = clip.read_bytes(), tiny_fast_model.read_bytes()
    c = window.c
    c.source_spec = str(clip)
    qtbot.mouseClick(window.live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    assert not c.start_recording(str(clip))
    assert not c.snapshot(str(tiny_fast_model), window.live.view.stylized)
    assert sum("is the input" in e for e in window.errors) == 2, window.errors
    assert "is the input" in window.statusBar().currentMessage()
    assert c.running  # the preview goes on
    assert (clip.read_bytes(), tiny_fast_model.read_bytes()) == before


def test_studio_stop_keeps_the_newest_preview_and_saves_it(qtbot, window, photo, tmp_path):
    """Stop after a few steps: the image on screen is the result, and Save writes exactly that image."""
    import re

    from PIL import Image
    from PySide6.QtGui import QImage

    tab = _studio_setup(window, photo, 2000)
    assert tab.run()
    qtbot.waitUntil(lambda: tab.last_step >= 6 and not tab.preview.pixmap().isNull(), timeout=180000)
    tab.stop()
    qtbot.waitUntil(lambda: tab.process is None, timeout=30000)
    assert tab.save_button.isEnabled() and tab.result is not None, (tab.status.text(), window.errors)
    assert window.errors == []
    status = tab.status.text()
    m = re.match(r"stopped at step (\d+) of 2000 — Save keeps this image", status)
    assert m and int(m.group(1)) == tab.last_step >= 6, status
    assert 1 <= tab.preview_step <= tab.last_step
    assert tab.save_button.toolTip() == "Save the image shown"
    assert tab.save_to(str(tmp_path / "kept.png"))
    shown = tab.shown.convertToFormat(QImage.Format_RGB888)
    rows = np.frombuffer(shown.constBits(), np.uint8).reshape(shown.height(), shown.bytesPerLine())
    shown_pixels = rows[:, :shown.width() * 3].reshape(shown.height(), shown.width(), 3)
    saved = np.asarray(Image.open(tmp_path / "kept.png").convert("RGB"))
    assert saved.shape == (50, 64, 3)  # full size, not the scaled copy on screen
    assert np.array_equal(saved, shown_pixels)
    # a new run starts clean: nothing from the stopped one can be saved as its result
    assert tab.run() and not tab.save_button.isEnabled() and tab.result is None and tab.preview.pixmap().isNull()
    tab.stop()
    qtbot.waitUntil(lambda: tab.process is None, timeout=30000)


def test_studio_translation_box_speaks_to_people(qtbot, window):
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QGroupBox, QLabel

    tab = window.studio
    window.tabs.setCurrentWidget(tab)
    box = next(g for g in tab.findChildren(QGroupBox) if g.title().startswith("U-GAT-IT"))
    note = next(label for label in box.findChildren(QLabel) if label.wordWrap())  # the box's explanation
    doc = QTextDocument()
    doc.setHtml(note.text())
    text = doc.toPlainText()
    assert "python -m" not in text and "--" not in text  # no shell commands
    for words in ("selfie", "anime", "U-GAT-IT", "CycleGAN", "checkpoint", "Browse", "How to train one"):
        assert words in text, words
    assert note.isVisible() and tab.checkpoint_button.text() == "Browse…"  # the picker the text points to
    note.linkActivated.emit("#train")  # the "How to train one" link
    qtbot.waitUntil(lambda: tab.help_box is not None and tab.help_box.isVisible(), timeout=5000)
    assert "README" in tab.help_box.text() and "python -m" not in tab.help_box.text()
    assert "python -m training ugatit" in tab.help_box.detailedText()  # the commands, one click further
    tab.help_box.close()
    qtbot.waitUntil(lambda: tab.help_box is None, timeout=5000)

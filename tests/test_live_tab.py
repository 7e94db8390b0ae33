"""The Live tab as a person uses it: keys where they belong, a window that fits a laptop, every action
answered in the window, boxes that show what runs. Real widgets, real engine, offscreen."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog

from desktop.app import build_window
from desktop.controller import EngineController
from desktop.learn import LEARNED_TIP, LearnDialog
from desktop.live_tab import AUTO, STYLE_MODEL
from desktop.widgets import BOLDNESS_TIP
from tests.bold_models import tiny_bold  # noqa: F401  (a fast net with bold rows and a style code)
from tests.test_desktop import wait_frames, window  # noqa: F401  (the shared window fixture)


def mix(window) -> dict[str, float]:
    return dict(window.c.settings.mix)


def test_arrow_keys_move_the_focused_slider_not_the_style(qtbot, window):
    live = window.live
    window.c.set_style("ink")
    live.strength.setFocus()
    QApplication.processEvents()
    before = live.strength.value()
    for _ in range(3):
        qtbot.keyClick(live.strength, Qt.Key_Left)
    assert live.strength.value() == before - 3 and mix(window) == {"ink": 1.0}
    assert live.strength_value.text() == f"{before - 3} %"  # the number is shown
    live.view.setFocus()
    qtbot.keyClick(live.view, Qt.Key_Right)
    assert mix(window) == {"fire": 1.0}
    live.strength.setFocus()
    qtbot.keyClick(live.strength, Qt.Key_Right, Qt.ControlModifier)  # with Ctrl: anywhere in the tab
    assert mix(window) == {"ink": 1.0}


def test_space_on_a_checkbox_toggles_it_and_does_not_start_the_preview(qtbot, window):
    live = window.live
    live.preserve.setFocus()
    qtbot.keyClick(live.preserve, Qt.Key_Space)
    assert live.preserve.isChecked() and not window.c.running
    live.view.setFocus()
    qtbot.keyClick(live.view, Qt.Key_Space)
    qtbot.waitUntil(lambda: window.c.running, timeout=30000)


def test_window_fits_a_laptop_screen_and_the_mix_box_does_not_grow_it(qtbot, window):
    window.resize(1366, 768 - 40)
    QApplication.processEvents()
    assert window.minimumSizeHint().height() <= 768 - 60 and window.minimumSizeHint().width() <= 1366
    size = window.size()
    live = window.live
    for i in range(live.gallery.count()):  # select every style: the Mix box appears with a slider each
        live.gallery.item(i).setSelected(True)
    QApplication.processEvents()
    assert live.mix_box.isVisible() or not live.mix_box.isHidden()
    assert window.size() == size and window.minimumSizeHint().height() <= 768 - 60
    qtbot.waitUntil(lambda: live.add_style_button.geometry().top() > live.gallery.geometry().bottom(), timeout=5000)
    assert live.mix_box.geometry().top() > live.add_style_button.geometry().bottom()  # nothing drawn over another
    # the outputs row stays reachable: it is inside the side panel's scroll area
    assert live.side_scroll.widget().isAncestorOf(live.record_button)


def test_a_new_mix_starts_even(qtbot, window):
    live = window.live
    window.c.set_style("ink")
    live.gallery.item(0).setSelected(True)
    live.gallery.item(1).setSelected(True)
    QApplication.processEvents()
    assert mix(window) == {"ink": 0.5, "fire": 0.5}


def test_every_action_answers_in_the_window(qtbot, window, tmp_path, monkeypatch):
    live, c = window.live, window.c
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    snap = tmp_path / "snap.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(snap), ""))
    live._snapshot()
    assert snap.is_file() and str(snap) in window.statusBar().currentMessage()
    rec = tmp_path / "rec.mp4"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(rec), ""))
    live.record_button.click()
    assert live.record_button.text().startswith("● REC 0:0")
    qtbot.waitUntil(lambda: c.session._recorder is not None and c.session._recorder.writer is not None
                    and c.session._recorder.writer.frames >= 3, timeout=30000)
    live.record_button.click()
    assert live.record_button.text() == "Record"
    assert rec.is_file() and f"Recording saved to {rec}" in window.statusBar().currentMessage()
    c.set_process_height(360)
    name = live.capture_style()
    assert name and f"'{name}'" in window.statusBar().currentMessage()
    if c.active_provider() == "cpu":  # a style image on the CPU at a fixed size switches to Auto, and says so
        assert "Resolution set to Auto" in window.statusBar().currentMessage()
        assert live.resolution.currentData() == AUTO and c.settings.auto_resolution


def test_model_box_keeps_the_style_and_shows_what_runs(qtbot, window, tiny_fast_model, photo, tmp_path):
    live, c = window.live, window.c
    c.set_style("fire")
    twin = tmp_path / "twin.onnx"  # another net with the same two styles
    shutil.copy(tiny_fast_model, twin)
    assert c.set_model(str(twin))
    assert mix(window) == {"fire": 1.0}  # the look chosen survives a model change
    assert live.model_box.currentText() == "twin"
    live.add_style_image(str(photo))
    assert c.processor.stylizer.family == "adain"
    assert "(style images)" in live.model_box.currentText()  # not the fast net's name
    c.set_style("ink")
    assert live.model_box.currentText() == "twin"


def test_model_box_switches_between_style_image_models(qtbot, window, tiny_anystyle_model, tiny_adain_model, photo):
    """Two style-image models (AdaIN and style prediction) are both in the Model box; switching recomputes your
    style images for the model picked (their statistics differ in kind), and the preview goes on."""
    live, c = window.live, window.c
    live.add_style_image(str(photo))
    name = c.custom_styles()[0]
    assert c.set_adain_model(str(tiny_anystyle_model))
    live._show_model()
    assert c.settings.mix == {name: 1.0} and c.processor.stylizer.info.path == tiny_anystyle_model
    assert live.model_box.currentText() == "tiny_any (style images)"
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    live._on_model_chosen(live.model_box.findData(STYLE_MODEL + str(tiny_adain_model)))
    assert c.processor.stylizer.info.path == tiny_adain_model and c.settings.mix == {name: 1.0}
    wait_frames(qtbot, window)
    live._on_model_chosen(live.model_box.findData(STYLE_MODEL + str(tiny_anystyle_model)))
    assert live.model_box.currentText() == "tiny_any (style images)"
    wait_frames(qtbot, window)
    assert not window.errors


def test_region_box_styles_only_the_background_and_gives_the_person_a_style(qtbot, window):
    live, c = window.live, window.c
    assert live.region.currentData() == "all" and not live.kept_style.isEnabled()
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)
    live.region.setCurrentIndex(live.region.findData("background"))
    assert c.settings.region == "background" and c.processor.segmenter is not None and live.kept_style.isEnabled()
    wait_frames(qtbot, window)
    live.kept_style.setCurrentIndex(live.kept_style.findData("ink"))
    assert c.settings.person_mix == {"ink": 1.0}
    wait_frames(qtbot, window)
    assert live.show_mask.isEnabled()
    live.show_mask.setChecked(True)  # the preview shows the mask; what is sent stays the picture
    wait_frames(qtbot, window)
    _, sent = c.session.newest()
    shown = live.view.stylized.convertToFormat(QImage.Format_RGB888)
    shown = np.frombuffer(shown.constBits(), np.uint8).reshape(shown.height(), shown.bytesPerLine())[:, :shown.width() * 3]
    assert shown.reshape(sent.shape).mean() < sent.mean() - 5  # dimmed where no person was found
    live.show_mask.setChecked(False)
    live.region.setCurrentIndex(live.region.findData("all"))
    assert c.settings.region == "all" and not live.kept_style.isEnabled()
    wait_frames(qtbot, window)
    assert not window.errors


def test_device_box_returns_to_the_device_in_use_when_cuda_is_missing(qtbot, window, monkeypatch):
    from engine import sessions

    # a machine without CUDA, also on a host that has it
    monkeypatch.setattr(sessions.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    live = window.live
    before = live.provider.currentText()
    live.provider.setCurrentText("cuda")
    assert live.provider.currentText() == before
    assert window.errors and "cuda" in window.errors[-1].lower()


def test_style_image_named_like_a_builtin_style_and_added_twice(qtbot, window, photo, tmp_path):
    live, c = window.live, window.c
    ink = tmp_path / "ink.png"
    shutil.copy(photo, ink)
    live.add_style_image(str(ink))
    assert c.custom_styles() == ["my-ink"]  # the file's own name, never a built-in style's
    live.add_style_image(str(ink))
    assert c.custom_styles() == ["my-ink"]  # the same picture again: no second copy
    other = tmp_path / "portrait.png"
    shutil.copy(photo, other)
    live.add_style_image(str(other))
    assert sorted(c.custom_styles()) == ["my-ink", "portrait"]


def test_help_menu_lists_shortcuts_files_and_version(qtbot, window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert "&Help" in titles
    text = window.show_shortcuts().text()
    assert "Ctrl+Right" in text and "Space" in text
    files = window.show_files().text()
    assert "style images" in files and "token" in files
    assert "0." in window.show_about().text()


def test_no_camera_is_said_when_the_sample_clip_stands_in(qtbot, monkeypatch, tmp_path):
    from engine import live as live_module

    monkeypatch.setattr(EngineController, "cameras", lambda self: [])
    monkeypatch.setattr(live_module, "list_cameras", lambda: [])
    w = build_window(None, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    assert w.c.source_spec == str(live_module.SAMPLE_CLIP)
    assert any("No camera found" in n for n in w.notes)
    w.close()


def test_one_answer_says_which_model_runs_and_why(qtbot, tiny_fast_model, tmp_path):
    """The CLI, the session, the control API and the app show the same ModelChoice."""
    from engine.control import ControlAPI
    from engine.live import LiveSession

    session = LiveSession("synthetic", provider="cpu")
    session.load_default_models()  # the shipped models: the default for this device, with its reason
    choice = session.model_choice()
    assert choice.family == "fast" and choice.provider == "cpu"
    assert choice.reason.startswith("default for a CPU")
    assert ControlAPI(session).call("state", {})["why"] == choice.describe()
    session.set_model(tiny_fast_model)
    assert session.model_choice().reason == "the model you chose"
    w = build_window("synthetic", QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    assert "default for a CPU" in w.live.provider_label.text()
    w.close()


@pytest.fixture
def tiny_bold_model(tiny_bold) -> Path:
    """The tiny fast net's two styles with bold rows too (the Boldness control changes its pictures)."""
    return tiny_bold.path


def test_boldness_slider_sets_boldness_and_follows_changes_made_elsewhere(qtbot, window, tiny_bold_model):
    live, c = window.live, window.c
    assert c.set_model(str(tiny_bold_model))
    assert live.boldness.isEnabled() and live.boldness.toolTip() == BOLDNESS_TIP
    live.boldness.setValue(40)
    assert c.settings.boldness == pytest.approx(0.4) and live.boldness_value.text() == "40 %"
    c.session.update(boldness=0.75)  # the remote control, a restored record...
    assert live.boldness.value() == 75 and live.boldness_value.text() == "75 %"
    c.restore_settings_json('{"mix": {"fire": 1.0}, "boldness": 0.2}')
    assert live.boldness.value() == 20 and c.settings.boldness == pytest.approx(0.2)
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)  # the preview runs at this boldness
    live.boldness.setValue(100)
    assert c.processor.settings.boldness == 1.0
    wait_frames(qtbot, window)
    assert not window.errors


def test_boldness_is_greyed_out_when_the_running_model_has_no_bold_rows(qtbot, window, tiny_bold_model, photo):
    live, c = window.live, window.c
    assert not live.boldness.isEnabled()  # the tiny net was made without bold rows
    assert "no bold version" in live.boldness.toolTip() and live.boldness.toolTip().startswith(BOLDNESS_TIP)
    assert c.set_model(str(tiny_bold_model))
    assert live.boldness.isEnabled() and live.boldness.toolTip() == BOLDNESS_TIP
    live.add_style_image(str(photo))  # a style image runs on the style-image model: no bold rows
    assert c.style_images_active() and not live.boldness.isEnabled()
    assert "style-image model" in live.boldness.toolTip()
    c.set_style("ink")  # back on the fast net
    assert live.boldness.isEnabled()


def _learned_file(c, folder: Path, name: str) -> Path:
    """A learned style for the running fast net as the learning process writes it (rows and thumbnail)."""
    from engine.learned import LearnedStyle, save_learned

    info = c.fast.info
    rows = np.full(info.code_size, 0.1, np.float32)
    thumb = np.zeros((48, 64, 3), np.uint8)
    thumb[:, :, 0] = 200
    meta = {"code_id": info.code_id, "model": info.name, "painting": "sea.png"}
    return save_learned(folder / f"{name}.npz", LearnedStyle(name, rows, -rows, meta, thumb))


def test_learning_events_show_the_progress_then_the_new_style_in_the_gallery(qtbot, window, tmp_path):
    live, c = window.live, window.c
    bar = live.learn_bar
    assert bar.isHidden()
    running = {"name": "sea", "painting": str(tmp_path / "sea.png"), "state": "running", "step": 0,
               "elapsed_s": 0.0, "eta_s": 600.0, "minutes": 10.0, "message": "", "path": None}
    c.session._emit("learning", running)
    assert bar.isVisible() and bar.cancel_button.isVisible() and bar.bar.isVisible()
    assert "Learning 'sea' from sea.png" in bar.label.text() and "starting" in bar.label.text()
    c.session._emit("learning", {**running, "step": 40, "elapsed_s": 150.0, "eta_s": 450.0})
    assert bar.bar.value() == 250 and bar.bar.format() == "ETA 7:30"
    assert "step 40" in bar.label.text() and "about 7:30 left" in bar.label.text()
    # the job's end, through the session's own handler: the style file joins the fast net and the gallery
    path = _learned_file(c, tmp_path, "sea")
    c.session._on_learning({**running, "state": "done", "step": 90, "elapsed_s": 600.0, "eta_s": 0.0,
                            "path": str(path)})
    assert "sea" in c.learned_styles()
    assert bar.isVisible() and not bar.bar.isVisible() and bar.use_button.isVisible()
    assert "'sea' is learned" in bar.label.text() and "Learned the live style 'sea'" in window.notes[-1]
    items = {live.gallery.item(i).data(Qt.UserRole): live.gallery.item(i) for i in range(live.gallery.count())}
    assert items["sea"].toolTip() == LEARNED_TIP and not items["sea"].icon().isNull()  # badge on its thumbnail
    qtbot.mouseClick(bar.use_button, Qt.LeftButton)
    assert c.settings.mix == {"sea": 1.0} and items["sea"].isSelected() and bar.isHidden()
    c.session._emit("learning", {**running, "state": "done"})  # the same end again: not shown twice
    assert bar.isHidden()
    qtbot.mouseClick(live.start_button, Qt.LeftButton)
    wait_frames(qtbot, window)  # the learned style runs live
    [(text, enabled, remove)] = live.gallery_actions("sea")
    assert text == "Remove the learned style sea" and enabled
    remove()
    assert "sea" not in c.learned_styles() and not path.exists()
    assert "sea" not in [live.gallery.item(i).data(Qt.UserRole) for i in range(live.gallery.count())]
    assert c.settings.mix == {"ink": 1.0}
    c.session._emit("learning", {**running, "name": "fog", "state": "failed", "message": "the painting is empty"})
    assert bar.isVisible() and "Learning 'fog' failed: the painting is empty" in bar.label.text()
    assert window.errors == ["learning 'fog' failed: the painting is empty"]
    qtbot.mouseClick(bar.close_button, Qt.LeftButton)
    assert bar.isHidden()


def test_learn_as_a_live_style_starts_the_job_with_the_chosen_name_and_minutes(qtbot, window, photo, monkeypatch,
                                                                              tmp_path):
    """The gallery's action on a painting, the dialog, the real learning process (here it fails at once:
    its checkpoint is missing, so no training runs) and the end shown in the window."""
    live, c = window.live, window.c
    live.add_style_image(str(photo))
    assert live.gallery_actions("ink") == []  # the tiny net's own styles have no painting
    texts = [text for text, _e, _r in live.gallery_actions("photo")]
    assert texts == ["Learn as a live style…", "Remove photo"]
    c.session.learn_args = ["--checkpoint", str(tmp_path / "missing.pt")]
    shown = {}

    def fill_in(dialog):
        assert dialog.minutes.value() == 10 and dialog.name.text() == "photo-live"  # the defaults
        dialog.name.setText("my photo")
        dialog.minutes.setValue(3)
        shown["text"] = dialog.explain.text()
        return QDialog.Accepted

    monkeypatch.setattr(LearnDialog, "exec", fill_in)
    name = live.learn_style("photo")
    assert name == "my-photo"  # the name the engine gives it
    assert "runs in the background; about 3 minutes on this computer; you can keep using the app" in shown["text"]
    command = c.session._learn.command
    assert command[command.index("--name") + 1] == "my-photo" and command[command.index("--minutes") + 1] == "3"
    assert command[command.index("learn-style") + 1] == str(c.learnable_paintings()["photo"])
    assert live.learn_bar.isVisible() and live.learn_bar.cancel_button.isVisible()
    [(text, enabled, _run)] = live.gallery_actions("photo")[:1]
    assert text.startswith("Learn as a live style…") and not enabled  # one job at a time
    qtbot.waitUntil(lambda: c.learning()["state"] == "failed", timeout=120000)
    qtbot.waitUntil(lambda: "failed" in live.learn_bar.label.text(), timeout=5000)
    assert "missing.pt" in live.learn_bar.label.text() and live.learn_bar.close_button.isVisible()
    assert any("learning 'my-photo' failed" in e for e in window.errors)


def test_cancel_stops_the_learning_process_and_hides_the_bar(qtbot, window, photo, monkeypatch, tmp_path):
    live, c = window.live, window.c
    live.add_style_image(str(photo))
    c.session.learn_args = ["--checkpoint", str(tmp_path / "missing.pt")]
    monkeypatch.setattr(LearnDialog, "exec", lambda dialog: QDialog.Accepted)
    assert live.learn_style("photo") == "photo-live"  # the name proposed: the painting's, free
    assert c.session._learn.command[c.session._learn.command.index("--minutes") + 1] == "10"
    qtbot.mouseClick(live.learn_bar.cancel_button, Qt.LeftButton)
    assert c.learning()["state"] in ("cancelling", "cancelled", "failed")
    qtbot.waitUntil(lambda: c.learning()["state"] in ("cancelled", "failed"), timeout=60000)
    if c.learning()["state"] == "cancelled":  # it stopped before it could fail
        qtbot.waitUntil(live.learn_bar.isHidden, timeout=5000)
        assert "resumes where it stopped" in window.notes[-1]

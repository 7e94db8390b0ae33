"""The Live tab as a person uses it: keys where they belong, a window that fits a laptop, every action
answered in the window, boxes that show what runs. Real widgets, real engine, offscreen."""
from __future__ import annotations

import shutil

import numpy as np

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop.app import build_window
from desktop.controller import EngineController
from desktop.live_tab import AUTO, STYLE_MODEL
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

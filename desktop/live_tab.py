"""Live tab: source, style gallery and mixing, style capture, learning a painting as a live style, strength,
boldness, colours, resolution, provider, view, readouts, snapshot, recording, virtual camera and remote control."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QMenu, QScrollArea, QSlider, QVBoxLayout, QWidget)

from .controller import SAMPLE_CLIP, EngineController
from .learn import LEARNED_TIP, LearnBar, LearnDialog, suggest_name, with_badge
from .remote import RemoteBox, RemoteControl
from .video_view import MODES, VideoView
from .widgets import BOLDNESS_TIP, button, slider_row

AUTO = -1  # the Resolution box's entry for auto resolution
RESOLUTIONS = [("Auto (holds the frame rate)", AUTO), ("Native", 0), ("720p", 720), ("540p", 540), ("360p", 360),
               ("270p", 270), ("180p", 180), ("144p", 144)]
REGION_CHOICES = [("Whole frame", "all"), ("Background only", "background"), ("Person only", "person")]
STYLE_MODEL = "style-image model:"  # the Model box's entries for style-image models: this prefix, then the file
# (keys, what they do, where): listed in Help > Keyboard shortcuts
SHORTCUTS = [("Space", "start / stop the preview", "preview focused (click it)"),
             ("Right / Page Down", "next style", "preview focused"),
             ("Left / Page Up", "previous style", "preview focused"),
             ("Arrow keys", "move through the styles", "style gallery focused"),
             ("Ctrl+Right / Ctrl+Left", "next / previous style", "anywhere in the Live tab"),
             ("Ctrl+Space", "start / stop the preview", "anywhere in the Live tab"),
             ("Ctrl+S", "save a snapshot", "anywhere in the Live tab"),
             ("Ctrl+Q", "quit", "anywhere")]


class LiveTab(QWidget):
    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.remote = RemoteControl(controller, self)
        self.catalogue = controller.style_catalogue()
        self.setAcceptDrops(True)
        self.view = VideoView()
        self.stats_label = QLabel("stopped")
        self.stats_label.setObjectName("stats")
        self.provider_label = QLabel("provider: -")
        self.provider_label.setWordWrap(True)
        self._source_widgets()
        self._style_widgets()
        self._settings_widgets()
        self._output_widgets()
        self._layout()
        self._connect()
        self._show_model()
        self._show_boldness_state()
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._show_stats)
        self.timer.start()
        self._recording_since: float | None = None

    # -- widgets --------------------------------------------------------------------------------
    def _source_widgets(self) -> None:
        self.source_box = QComboBox()
        self._fill_sources()
        self.start_button = button("Start", checkable=True, tip="Start or stop the preview (Space)")

    def _style_widgets(self) -> None:
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.IconMode)
        self.gallery.setIconSize(QSize(96, 72))
        self.gallery.setGridSize(QSize(112, 100))
        self.gallery.setResizeMode(QListWidget.Adjust)
        self.gallery.setMovement(QListWidget.Static)
        self.gallery.setSelectionMode(QListWidget.ExtendedSelection)
        self.gallery.setToolTip("Click a style; Ctrl+click several to mix them; right-click a painting to learn "
                                "it as a live style")
        self.gallery.setMinimumHeight(150)
        self.gallery.setContextMenuPolicy(Qt.CustomContextMenu)
        self.add_style_button = button("Add style image…", tip="Use any painting or picture as the style (or drop it on the window)")
        self.capture_button = button("Capture style", tip="Hold a painting, postcard or T-shirt up to the camera: the centre of "
                                     "the frame (or the region you drag on the preview) becomes a new style")
        self.mix_box = QGroupBox("Mix")
        self.mix_form = QFormLayout(self.mix_box)
        self.mix_sliders: dict[str, QSlider] = {}
        self.mix_box.hide()

    def _settings_widgets(self) -> None:
        self.strength = QSlider(Qt.Horizontal)
        self.strength.setRange(0, 100)
        self.strength.setValue(100)
        self.strength_value = QLabel("100 %")
        self.strength_value.setMinimumWidth(40)
        self.boldness = QSlider(Qt.Horizontal)
        self.boldness.setRange(0, 100)
        self.boldness.setValue(0)
        self.boldness.setToolTip(BOLDNESS_TIP)
        self.boldness_value = QLabel("0 %")
        self.boldness_value.setMinimumWidth(40)
        self.preserve = QCheckBox("Keep original colours")
        self.smooth_on = QCheckBox("Reduce flicker")
        self.smooth_on.setToolTip("Temporal smoothing: blends with the previous frame, moved along the optical flow")
        self.smoothing = QSlider(Qt.Horizontal)
        self.smoothing.setRange(0, 100)
        self.smoothing.setValue(70)
        self.smoothing.setEnabled(False)
        self.resolution = QComboBox()
        for label, h in RESOLUTIONS:
            self.resolution.addItem(label, h)
        self.resolution.setToolTip("Processing resolution: lower is faster; the output keeps the source size, "
                                   "sharpened by the source frame. Auto picks the largest size that keeps up "
                                   "with the camera's frame rate on this computer, and follows the load")
        self.resolution_now = QLabel("")  # what auto resolution picked
        self.resolution_now.setObjectName("resolutionNow")
        self.region = QComboBox()
        for label, value in REGION_CHOICES:
            self.region.addItem(label, value)
        self.region.setToolTip("Where the style goes: the whole frame, only the background (you stay as filmed), "
                               "or only you (the room stays as filmed); found by the person-segmentation model")
        self.kept_style = QComboBox()  # what the region left out shows: as filmed, or a style of its own
        self.kept_style.setToolTip("What the other region shows: as filmed, or a style of its own")
        self.kept_style.setEnabled(False)
        self.show_mask = QCheckBox("Show mask")
        self.show_mask.setToolTip("Show where the person was found (the rest dimmed blue) in this preview only; "
                                  "recordings and the virtual camera get the picture")
        self.show_mask.setEnabled(False)
        self.provider = QComboBox()
        self.provider.addItems(["auto", "cuda", "cpu"])
        self.model_box = QComboBox()
        self.model_box.setToolTip("Fast style model: mid8.int8 (default on a CPU: mid8 with int8 convs, "
                                  "~1.3x its speed, the same picture), mid8, light8 (lighter, for slow "
                                  "machines), full8 wants a GPU, light8_steady flickers less "
                                  "(File > Open model adds your own)")
        for name, path in self.c.fast_models():
            self.model_box.addItem(name, path)
        for name, path, tip in self.c.style_models():
            self.model_box.addItem(f"{name} (style images)", STYLE_MODEL + path)
            self.model_box.setItemData(self.model_box.count() - 1, tip, Qt.ToolTipRole)
        self.view_mode = QComboBox()
        self.view_mode.addItems(MODES)

    def _output_widgets(self) -> None:
        self.snapshot_button = button("Snapshot", tip="Save the current stylized frame (Ctrl+S)")
        self.record_button = button("Record", checkable=True, tip="Record the stylized video to a file")
        self.vcam_button = button("Virtual camera", checkable=True,
                                  tip="Send the stylized video to OBS/Zoom (needs pyvirtualcam and a virtual camera driver)")
        self.remote_box = RemoteBox(self.remote)
        self.learn_bar = LearnBar(self.c)

    # -- layout ---------------------------------------------------------------------------------
    def _layout(self) -> None:
        side = QVBoxLayout()
        src = QGroupBox("Source")
        sl = QHBoxLayout(src)
        sl.addWidget(self.source_box, 1)
        sl.addWidget(self.start_button)
        side.addWidget(src)
        styles = QGroupBox("Style")
        st = QVBoxLayout(styles)
        st.addWidget(self.gallery)
        add_row = QHBoxLayout()
        add_row.addWidget(self.add_style_button)
        add_row.addWidget(self.capture_button)
        st.addLayout(add_row)
        st.addWidget(self.mix_box)
        side.addWidget(styles, 1)
        side.addWidget(self._settings_group())
        outs = QHBoxLayout()
        for b in (self.snapshot_button, self.record_button, self.vcam_button):
            outs.addWidget(b)
        side.addLayout(outs)
        side.addWidget(self.remote_box)
        left = QVBoxLayout()
        left.addWidget(self.view, 1)
        left.addWidget(self.learn_bar)  # under the preview, always in sight while a style is learned
        left.addWidget(self.stats_label)
        root = QHBoxLayout(self)
        root.addLayout(left, 3)
        panel = QWidget()
        panel.setLayout(side)
        # the side panel scrolls instead of growing the window: it fits a 1366x768 laptop screen,
        # also when the Mix box appears
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(panel)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.side_scroll.setMinimumWidth(340)
        self.side_scroll.setMaximumWidth(400)
        root.addWidget(self.side_scroll, 1)

    def _settings_group(self) -> QGroupBox:
        settings = QGroupBox("Settings")
        form = QFormLayout(settings)
        form.addRow("Strength", slider_row(self.strength, self.strength_value))
        form.addRow("Boldness", slider_row(self.boldness, self.boldness_value))
        form.addRow("", self.preserve)
        form.addRow(self.smooth_on, self.smoothing)
        form.addRow("Region", self.region)
        form.addRow("", self.show_mask)  # its own row: beside the box it widened the panel past a laptop's screen
        form.addRow("Other region", self.kept_style)
        form.addRow("Resolution", self.resolution)
        form.addRow("", self.resolution_now)
        form.addRow("Model", self.model_box)
        form.addRow("Device", self.provider)
        form.addRow(self.provider_label)  # its own row, full width: the reason fits
        form.addRow("View", self.view_mode)
        return settings

    def _show_model(self, *_args) -> None:
        """Keep the Model box on the model in use: the fast net (also one opened from a file, which
        joins the list), or the style-image model while one of your style images is active."""
        adain = self.c.style_model_path()
        if adain is not None and self.model_box.findData(STYLE_MODEL + adain) < 0:  # opened from a file
            self.model_box.addItem(f"{Path(adain).stem} (style images)", STYLE_MODEL + adain)
        self._show_choice()
        if self.c.style_images_active():
            index = self.model_box.findData(STYLE_MODEL + adain)
        elif self.c.fast_model_path() is not None:
            path = self.c.fast_model_path()
            index = self.model_box.findData(path)
            if index < 0:
                style_models = [i for i in range(self.model_box.count())
                                if str(self.model_box.itemData(i)).startswith(STYLE_MODEL)]
                self.model_box.insertItem(style_models[0] if style_models else self.model_box.count(), Path(path).stem, path)
                index = self.model_box.findData(path)
        else:
            return
        self.model_box.blockSignals(True)
        self.model_box.setCurrentIndex(index)
        self.model_box.blockSignals(False)

    def _show_choice(self, *_args) -> None:
        """The line under Device: what runs where, and why (a fallback says so)."""
        choice = self.c.model_choice()
        if choice is None:
            return
        self.provider_label.setText(f"running on: {choice.provider.upper()} — {choice.reason}")
        self.provider_label.setToolTip(choice.describe())

    def _on_model_chosen(self, index: int) -> None:
        data = str(self.model_box.itemData(index))
        if not data.startswith(STYLE_MODEL):
            self.c.set_model(data)
        else:
            path = data[len(STYLE_MODEL):]
            if path != self.c.style_model_path() and not self.c.set_adain_model(path):
                self._show_model()
                return
            if not self.c.custom_styles():
                self.c.error.emit("a style-image model runs your own pictures: add one with Add style image… first")
            elif not self.c.style_images_active():
                self.c.set_style(self.c.custom_styles()[0])
        self._show_model()

    def _on_provider_chosen(self, provider: str) -> None:
        """Rebuild on the chosen device; when it cannot start (no CUDA here), the box goes back to
        the device in use and the error says why."""
        before = self.c.provider
        self.c.set_provider(provider)
        if self.c.provider != provider:
            self.provider.blockSignals(True)
            self.provider.setCurrentText(before)
            self.provider.blockSignals(False)

    def _connect(self) -> None:
        c = self.c
        c.frame_ready.connect(self._paint_newest)
        c.styles_changed.connect(lambda _names: self.refresh_gallery())
        c.provider_changed.connect(self._show_choice)
        c.running_changed.connect(self._on_running)
        c.vcam_changed.connect(self.vcam_button.setChecked)
        self.start_button.clicked.connect(self.toggle_running)
        self.source_box.activated.connect(self._on_source_chosen)
        self.gallery.itemSelectionChanged.connect(self._on_selection)
        self.add_style_button.clicked.connect(self.choose_style_image)
        self.capture_button.clicked.connect(self.capture_style)
        self.gallery.customContextMenuRequested.connect(self._gallery_menu)
        self.strength.valueChanged.connect(lambda v: c.set_strength(v / 100))
        self.strength.valueChanged.connect(lambda v: self.strength_value.setText(f"{v} %"))
        self.boldness.valueChanged.connect(lambda v: c.set_boldness(v / 100))
        self.boldness.valueChanged.connect(lambda v: self.boldness_value.setText(f"{v} %"))
        c.model_changed.connect(self._show_boldness_state)
        c.learning_changed.connect(self._on_learning)
        self.preserve.toggled.connect(c.set_preserve_colors)
        self.smooth_on.toggled.connect(self._on_smoothing)
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.resolution.currentIndexChanged.connect(lambda _i: c.set_resolution(self.resolution.currentData()))
        self.region.currentIndexChanged.connect(lambda _i: c.set_region(self.region.currentData()))
        self.show_mask.toggled.connect(c.set_show_mask)
        self.kept_style.currentIndexChanged.connect(lambda _i: c.set_person_style(self.kept_style.currentData() or ""))
        self.provider.currentTextChanged.connect(self._on_provider_chosen)
        self.model_box.activated.connect(self._on_model_chosen)
        c.model_changed.connect(self._show_model)
        c.settings_changed.connect(self._show_model)
        self.view_mode.currentTextChanged.connect(self.view.set_mode)
        c.settings_changed.connect(self.show_settings)
        c.settings_changed.connect(self._sync_gallery)
        self.snapshot_button.clicked.connect(self._snapshot)
        self.record_button.clicked.connect(self._toggle_record)
        self.vcam_button.clicked.connect(c.set_virtual_camera)
        # plain keys act on the preview only (sliders, lists and fields keep theirs); with Ctrl, anywhere in the tab
        self.view.setFocusPolicy(Qt.StrongFocus)
        for key, delta in (("Right", 1), ("PgDown", 1), ("Left", -1), ("PgUp", -1)):
            QShortcut(QKeySequence(key), self.view, context=Qt.WidgetShortcut,
                      activated=lambda d=delta: self.step_style(d))
            QShortcut(QKeySequence(f"Ctrl+{key}"), self, context=Qt.WidgetWithChildrenShortcut,
                      activated=lambda d=delta: self.step_style(d))
        QShortcut(QKeySequence("Space"), self.view, context=Qt.WidgetShortcut, activated=self.start_button.click)
        QShortcut(QKeySequence("Ctrl+Space"), self, context=Qt.WidgetWithChildrenShortcut,
                  activated=self.start_button.click)
        QShortcut(QKeySequence("Ctrl+S"), self, context=Qt.WidgetWithChildrenShortcut, activated=self._snapshot)
        c.recording_changed.connect(self._on_recording)

    def _on_smoothing(self, *_args) -> None:
        self.smoothing.setEnabled(self.smooth_on.isChecked())
        self.c.set_smoothing(self.smoothing.value() / 100 if self.smooth_on.isChecked() else 0.0)

    def show_settings(self, s) -> None:
        """Put the controller's settings record on the widgets (it is the truth; they only show it)."""
        widgets = (self.strength, self.boldness, self.preserve, self.smooth_on, self.smoothing, self.resolution,
                   self.region, self.kept_style)
        for w in widgets:
            w.blockSignals(True)
        self.strength.setValue(round(s.strength * 100))
        self.strength_value.setText(f"{round(s.strength * 100)} %")
        self.boldness.setValue(round(s.boldness * 100))
        self.boldness_value.setText(f"{round(s.boldness * 100)} %")
        self._show_boldness_state()
        self.preserve.setChecked(s.preserve_colors)
        self.smooth_on.setChecked(s.smoothing > 0)
        if s.smoothing > 0:  # off keeps the slider where it was, for the next time it is switched on
            self.smoothing.setValue(round(s.smoothing * 100))
        self.smoothing.setEnabled(s.smoothing > 0)
        index = self.resolution.findData(AUTO if s.auto_resolution else s.process_height or 0)
        if index >= 0:
            self.resolution.setCurrentIndex(index)
        if not s.auto_resolution:
            self.resolution_now.setText("")
        self.region.setCurrentIndex(max(0, self.region.findData(s.region)))
        self._fill_kept_styles(s)
        for w in widgets:
            w.blockSignals(False)

    def _show_boldness_state(self, *_args) -> None:
        """Boldness is live only for a fast net with bold rows; otherwise greyed out, the tooltip says why."""
        why = self.c.boldness_unavailable()
        self.boldness.setEnabled(not why)
        self.boldness_value.setEnabled(not why)
        self.boldness.setToolTip(BOLDNESS_TIP if not why else f"{BOLDNESS_TIP}\n\nNot available now: {why}")

    def _fill_kept_styles(self, s) -> None:
        """The Other region box: as filmed, then the model's styles; on the record's choice (signals blocked)."""
        self.kept_style.clear()
        self.kept_style.addItem("As filmed", "")
        for name in self.c.style_names():
            self.kept_style.addItem(name.replace("_", " "), name)
        kept = next(iter(s.person_mix), "") if len(s.person_mix) == 1 else ""
        self.kept_style.setCurrentIndex(max(0, self.kept_style.findData(kept)))
        self.kept_style.setEnabled(s.region != "all")
        self.show_mask.setEnabled(s.region != "all")

    # -- sources --------------------------------------------------------------------------------
    def _fill_sources(self) -> None:
        self.source_box.clear()
        for i in self.c.cameras():
            self.source_box.addItem(f"Camera {i}", f"camera:{i}")
        if SAMPLE_CLIP.is_file():
            self.source_box.addItem("Sample clip (pedestrians)", str(SAMPLE_CLIP))
        self.source_box.addItem("Test pattern", "synthetic")
        self.source_box.addItem("Video or image file…", "__file__")
        idx = self.source_box.findData(self.c.source_spec)
        if idx >= 0:
            self.source_box.setCurrentIndex(idx)

    def _on_source_chosen(self, index: int) -> None:
        spec = self.source_box.itemData(index)
        if spec == "__file__":
            path, _ = QFileDialog.getOpenFileName(self, "Open a video or image", "",
                                                  "Media (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.png *.jpg *.jpeg *.bmp *.webp)")
            if not path:
                return
            self.source_box.insertItem(0, Path(path).name, path)
            self.source_box.setCurrentIndex(0)
            spec = path
        self.c.set_source(spec)

    # -- styles ---------------------------------------------------------------------------------
    def refresh_gallery(self) -> None:
        self._show_choice()
        self.kept_style.blockSignals(True)
        self._fill_kept_styles(self.c.settings)  # the model's styles changed: the Other region box follows
        self.kept_style.blockSignals(False)
        self.gallery.blockSignals(True)
        self.gallery.clear()
        learned = set(self.c.learned_styles())
        for name in self.c.builtin_styles():
            info = self.catalogue.get(name, {})
            item = QListWidgetItem(name.replace("_", " "))
            item.setData(Qt.UserRole, name)
            if name in learned:
                thumb = self.c.learned_thumbnail(name)
                item.setIcon(QIcon(with_badge(QPixmap.fromImage(thumb) if thumb is not None else QPixmap())))
                item.setToolTip(LEARNED_TIP)
            elif info:
                item.setIcon(QIcon(QPixmap(info["path"])))
                item.setToolTip(f"{info['title']} — {info['artist']}, {info['year']}; right-click to learn it as a "
                                "live style")
            self.gallery.addItem(item)
        for name, path in self.c.custom_style_paths().items():
            item = QListWidgetItem(QIcon(QPixmap(path)), name)
            item.setData(Qt.UserRole, name)
            item.setToolTip(f"your style image (AdaIN), kept in {path}; right-click to remove it or to learn it "
                           "as a live style")
            self.gallery.addItem(item)
        active = set(self.c.settings.mix)
        for i in range(self.gallery.count()):
            it = self.gallery.item(i)
            it.setSelected(it.data(Qt.UserRole) in active)
        self.gallery.blockSignals(False)
        self._scroll_to_selection()
        self._rebuild_mix(sorted(active, key=lambda n: -self.c.settings.mix[n]))

    def _scroll_to_selection(self) -> None:
        selected = self.gallery.selectedItems()
        if selected:
            self.gallery.scrollToItem(selected[0])

    def _sync_gallery(self, settings) -> None:
        """Follow a mix chosen elsewhere (keyboard, remote control, restore): selection and weights."""
        names = set(settings.mix)
        selected = {it.data(Qt.UserRole) for it in self.gallery.selectedItems()}
        if names != selected:
            self.gallery.blockSignals(True)
            for i in range(self.gallery.count()):
                it = self.gallery.item(i)
                it.setSelected(it.data(Qt.UserRole) in names)
            self.gallery.blockSignals(False)
            self._scroll_to_selection()
            self._rebuild_mix(sorted(names, key=lambda n: -settings.mix[n]))
        else:
            for n, slider in self.mix_sliders.items():
                slider.blockSignals(True)
                slider.setValue(round(100 * settings.mix.get(n, 0.0)))
                slider.blockSignals(False)

    def _on_selection(self) -> None:
        names = [it.data(Qt.UserRole) for it in self.gallery.selectedItems()]
        if not names:
            return
        old = self.c.settings.mix
        if set(names) == set(old):
            mix = dict(old)
        else:  # a new set of styles starts evenly mixed (1/2 each, 1/3 each...)
            mix = {n: 1.0 / len(names) for n in names}
        self.c.set_mix(mix)
        self._rebuild_mix(names)

    def _rebuild_mix(self, names: list[str]) -> None:
        while self.mix_form.rowCount():
            self.mix_form.removeRow(0)
        self.mix_sliders = {}
        if len(names) < 2:
            self.mix_box.hide()
            QTimer.singleShot(0, self, self._fit_panel)
            return
        for n in names:
            s = QSlider(Qt.Horizontal)
            s.setRange(0, 100)
            s.setValue(round(100 * self.c.settings.mix.get(n, 1.0 / len(names))))
            s.valueChanged.connect(self._on_mix_weights)
            self.mix_sliders[n] = s
            self.mix_form.addRow(n.replace("_", " ")[:18], s)
        self.mix_box.show()
        QTimer.singleShot(0, self, self._fit_panel)  # once the Mix box's own layout has taken its rows

    def _fit_panel(self) -> None:
        """The side panel takes the height its widgets need (the scroll area scrolls it) instead of
        squeezing them over one another when the Mix box appears or grows."""
        panel = getattr(self, "side_scroll", None)
        if panel is None:
            return
        panel = panel.widget()
        panel.layout().activate()
        panel.resize(panel.width(), max(self.side_scroll.viewport().height(), panel.minimumSizeHint().height()))

    def _on_mix_weights(self) -> None:
        self.c.set_mix({n: s.value() / 100 for n, s in self.mix_sliders.items()})

    def add_style_image(self, path: str) -> None:
        auto = self.c.settings.auto_resolution
        name = self.c.add_style_image(path)
        if name:
            self.refresh_gallery()
            self.c.note.emit(f"Added style '{name}' from {Path(path).name}{self._to_auto(auto)}")

    def capture_style(self) -> str | None:
        """The dragged region of the preview, or the centre of the frame, as a new style."""
        region = self.view.selection
        auto = self.c.settings.auto_resolution
        name = self.c.capture_style(region)
        if name:
            self.view.clear_selection()
            self.refresh_gallery()
            self.c.note.emit(f"Captured {'your region' if region else 'the centre of the frame'} as style "
                             f"'{name}' (kept with your styles){self._to_auto(auto)}")
        return name

    def _to_auto(self, auto_before: bool) -> str:
        """What to add to a message when a new style image switched the resolution to Auto."""
        if self.c.settings.auto_resolution and not auto_before:
            return "; Resolution set to Auto so style images keep up with the camera on this CPU"
        return ""

    def gallery_actions(self, name: str) -> list[tuple[str, bool, object]]:
        """The gallery menu of one style: (text, enabled, what it does). A painting (a built-in style's or
        one of your style images) can be learned as a live style; your images and learned styles removed."""
        actions = []
        if name in self.c.learnable_paintings():
            job = self.c.learning()
            busy = job is not None and job.get("state") in ("running", "cancelling")
            actions.append(("Learn as a live style…" + (" (one is being learned)" if busy else ""), not busy,
                            lambda: self.learn_style(name)))
        if name in self.c.custom_styles():
            actions.append((f"Remove {name}", True, lambda: self.c.remove_style(name)))
        elif name in self.c.learned_styles():
            actions.append((f"Remove the learned style {name}", True, lambda: self.c.remove_learned(name)))
        return actions

    def _gallery_menu(self, pos) -> None:
        item = self.gallery.itemAt(pos)
        actions = self.gallery_actions(item.data(Qt.UserRole)) if item is not None else []
        if not actions:
            return
        menu = QMenu(self)
        chosen = {}
        for text, enabled, run in actions:
            action = menu.addAction(text)
            action.setEnabled(enabled)
            chosen[action] = run
        picked = menu.exec(self.gallery.mapToGlobal(pos))
        if picked in chosen:
            chosen[picked]()

    def learn_style(self, style: str) -> str | None:
        """Ask for a name and a training time, then learn the painting behind ``style`` in the background."""
        painting = self.c.learnable_paintings().get(style)
        if painting is None:
            self.c.error.emit(f"{style} has no painting to learn from")
            return None
        taken = set(self.c.builtin_styles()) | set(self.c.custom_styles())
        dialog = LearnDialog(style, painting, self, suggest_name(style, taken))
        accepted = dialog.exec() == QDialog.Accepted
        name, minutes = dialog.values()
        dialog.deleteLater()
        if not accepted:
            return None
        learned = self.c.learn_style(style, name, minutes)
        if learned:
            self.c.note.emit(f"Learning '{learned}' in the background (about {round(minutes)} min); "
                             "you can keep using the app")
        return learned

    def _on_learning(self, status: dict | None) -> None:
        """A style just learned joins the gallery with its thumbnail, in sight."""
        if not status or status.get("state") != "done":
            return
        name = status.get("name")
        if name not in {self.gallery.item(i).data(Qt.UserRole) for i in range(self.gallery.count())}:
            self.refresh_gallery()
        for i in range(self.gallery.count()):
            if self.gallery.item(i).data(Qt.UserRole) == name:
                self.gallery.scrollToItem(self.gallery.item(i))

    def choose_style_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a style image", "", "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif)")
        if path:
            self.add_style_image(path)

    def step_style(self, delta: int) -> None:
        if self.c.step_style(delta):
            self.refresh_gallery()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.add_style_image(url.toLocalFile())

    # -- running --------------------------------------------------------------------------------
    def toggle_running(self) -> None:
        if self.c.running:
            self.c.stop()
        else:
            self.view.set_message("starting…")
            if not self.c.start():
                self.start_button.setChecked(False)

    def _on_running(self, running: bool) -> None:
        self.start_button.setChecked(running)
        self.start_button.setText("Stop" if running else "Start")
        if not running:
            self.stats_label.setText("stopped")

    def _paint_newest(self) -> None:
        pair = self.c.take_frame()
        if pair is not None:
            self.view.set_frames(*pair)

    def _show_stats(self) -> None:
        self._show_recording()
        s = self.c.poll_stats()
        if s is None:
            return
        w, h = s.process_size
        self.stats_label.setText(
            f"{s.output_fps:5.1f} fps · latency {s.latency_ms:4.0f} ms · model {s.inference_ms:4.1f} ms at {w}x{h} · "
            f"dropped {s.frames_dropped} of {s.frames_captured} · {s.provider.upper()}")
        auto = s.auto_resolution and h and self.c.settings.auto_resolution  # not a frame from before a fixed size
        self.resolution_now.setText(f"now {w}x{h}, holding {s.target_fps:.0f} fps" if auto else "")

    # -- outputs --------------------------------------------------------------------------------
    def _snapshot(self) -> None:
        if self.view.stylized is None:
            self.c.error.emit("no frame to save yet: start the preview first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save snapshot", "snapshot.png", "Images (*.png *.jpg)")
        if path and self.c.snapshot(path, self.view.stylized):
            self.c.note.emit(f"Snapshot saved to {Path(path).resolve()}")

    def _toggle_record(self, on: bool) -> None:
        if on:
            path, _ = QFileDialog.getSaveFileName(self, "Record to", "recording.mp4", "Video (*.mp4 *.mkv *.mov)")
            if not path or not self.c.start_recording(path):
                self.record_button.setChecked(False)
            else:
                self._recording_path = Path(path).resolve()
        else:
            self.c.stop_recording()

    def _on_recording(self, on: bool) -> None:
        """The REC mark: the Record button turns red and counts the time while a recording runs."""
        was = self._recording_since is not None
        self._recording_since = time.monotonic() if on else None
        if on:
            self._recording_started = time.time() - 1.0  # file times have a coarse grain on some systems
        self.record_button.setChecked(on)
        self.record_button.setStyleSheet("QPushButton { color: #c00000; font-weight: bold; }" if on else "")
        self._show_recording()
        path, self._recording_path = getattr(self, "_recording_path", None), None
        if was and not on and path is not None and path.is_file() and path.stat().st_mtime >= self._recording_started:
            self.c.note.emit(f"Recording saved to {path}")

    def _show_recording(self) -> None:
        if self._recording_since is None:
            self.record_button.setText("Record")
            return
        m, s = divmod(int(time.monotonic() - self._recording_since), 60)
        self.record_button.setText(f"● REC {m}:{s:02d}")

"""Small widget factories the tabs share."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider

# the Boldness control's tooltip (Live tab and Render tab)
BOLDNESS_TIP = "Faithful: the photo's detail in the painting's colours. Bold: the painting's brush strokes."


def button(text: str, *, checkable: bool = False, enabled: bool = True, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setCheckable(checkable)
    b.setEnabled(enabled)
    if tip:
        b.setToolTip(tip)
    return b


def slider_row(slider: QSlider, value: QLabel) -> QHBoxLayout:
    """A settings slider with its value shown to its right (one form row)."""
    row = QHBoxLayout()
    row.addWidget(slider, 1)
    row.addWidget(value)
    return row

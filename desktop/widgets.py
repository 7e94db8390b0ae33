"""Small widget factories the tabs share."""
from __future__ import annotations

from PySide6.QtWidgets import QPushButton


def button(text: str, *, checkable: bool = False, enabled: bool = True, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setCheckable(checkable)
    b.setEnabled(enabled)
    if tip:
        b.setToolTip(tip)
    return b

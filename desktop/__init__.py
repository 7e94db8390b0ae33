"""PySide6 desktop app: Live, Render (and Studio) tabs over the engine controller."""

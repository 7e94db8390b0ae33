"""The layout rules of docs/ARCHITECTURE.md, checked."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(folder: Path) -> dict[str, set[str]]:
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_engine_never_loads_torch_or_qt():
    code = ("import sys, pkgutil, importlib, engine\n"
            "for m in pkgutil.iter_modules(engine.__path__):\n    if m.name != '__main__': importlib.import_module('engine.' + m.name)\n"
            "bad = [m for m in ('torch', 'PySide6', 'training', 'desktop') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_engine_imports_torch_nowhere_and_desktop_touches_no_sessions():
    for path, names in imported_modules(ROOT / "engine").items():
        assert not names & {"torch", "PySide6", "torchvision"}, path
    if (ROOT / "desktop").is_dir():
        for path, names in imported_modules(ROOT / "desktop").items():
            assert not names & {"onnxruntime", "torch", "training", "export"}, path


def test_training_path_needs_no_qt_or_onnxruntime():
    for path, names in imported_modules(ROOT / "training").items():
        if path.endswith("corpus.py"):  # the one-off corpus builder reads Qt .rcc files
            continue
        if path.endswith("translate.py"):  # Studio inference: engine.faces (OpenCV) only inside --face
            top = ast.parse((ROOT / path).read_text()).body
            top_level = {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
            top_level |= {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
            assert not top_level & {"engine", "cv2"}, path
            names = names - {"engine"}
        assert not names & {"PySide6", "onnxruntime", "engine", "cv2", "av"}, path


def test_no_unsafe_torch_load():
    for folder in ("training", "export", "desktop"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                        getattr(node.func.value, "id", "") == "torch":
                    kw = {k.arg: k.value for k in node.keywords}
                    assert "weights_only" in kw and kw["weights_only"].value is True, f"{path}:{node.lineno}"

"""The layout rules of docs/ARCHITECTURE.md, checked."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

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


# standard library only, and engine.learned (NumPy: the one reader and writer of learned-style files)
ENGINE_FOR_TRAINING = {"engine.formats", "engine.atomic", "engine.errors", "engine.paths", "engine.learned"}


def test_training_path_needs_no_qt_or_onnxruntime():
    for path, names in imported_modules(ROOT / "training").items():
        if path.endswith("corpus.py"):  # the one-off corpus builder reads Qt .rcc files
            continue
        tree = ast.parse((ROOT / path).read_text())
        engine = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        engine |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        engine = {m for m in engine if m.split(".")[0] == "engine"}
        assert engine <= ENGINE_FOR_TRAINING, f"{path} imports {sorted(engine - ENGINE_FOR_TRAINING)}"
        if path.endswith("faces.py"):  # translate --face only: OpenCV inside the functions that need it
            top = tree.body
            top_level = {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
            top_level |= {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
            assert "cv2" not in top_level, path
            names = names - {"cv2"}
        assert not names & {"PySide6", "onnxruntime", "cv2", "av"}, path
    # and at run time: every training module (but the corpus builder) loads without OpenCV, ORT, PyAV or Qt
    code = ("import sys, pkgutil, importlib, training, training.models\n"
            "for pkg in (training, training.models):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__):\n"
            "        if m.name not in ('corpus', '__main__'): importlib.import_module(pkg.__name__ + '.' + m.name)\n"
            "importlib.import_module('training.__main__')\n"
            "bad = [m for m in ('cv2', 'onnxruntime', 'av', 'PySide6') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_no_unsafe_torch_load():
    for folder in ("training", "export", "desktop"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                        getattr(node.func.value, "id", "") == "torch":
                    kw = {k.arg: k.value for k in node.keywords}
                    assert "weights_only" in kw and kw["weights_only"].value is True, f"{path}:{node.lineno}"


LAYERS = {  # package -> packages above it (or beside it) that it must never import, at any depth
    "engine": {"desktop", "training", "export", "bench", "tools"},
    "export": {"desktop", "bench", "tools"},
    "bench": {"desktop"},
}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_upward_imports(package):
    """engine/ is the bottom of the house: no import of an upper package, not even inside a function."""
    for path, names in imported_modules(ROOT / package).items():
        assert not names & LAYERS[package], f"{path} imports {sorted(names & LAYERS[package])}"
    # and nothing smuggled in by name (importlib.import_module("desktop..."), __import__)
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__"):
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    assert arg.value.split(".")[0] not in LAYERS[package], f"{path}:{node.lineno}"


def test_upper_commands_are_registered_entry_points():
    """`stylecast gui|train|gatys|translate` reach desktop/ and training/ through entry points."""
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="stylecast.commands")}
    assert names.get("gui") == "desktop.app:main" and names.get("train") == "training.__main__:main"

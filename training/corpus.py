"""Build the offline training corpus into a cache folder.

    cache/corpus/content/   photos for training (opencv-doc, mate-backgrounds, GCompris photo activities)
    cache/corpus/holdout/   four fixed photos never trained on (sample sheets, model-card losses)
    cache/corpus/styles/    public-domain paintings: starry_night (opencv-doc), the GCompris "paintings"
                            jigsaws rebuilt from their pieces, the Van Gogh pictures of "details"

Debian packages come with ``apt-get download`` + ``dpkg -x`` (no install). GCompris keeps its
images in Qt ``.rcc`` resource files, opened with PySide6's QResource: this is the only part of
training/ that needs Qt, and it runs once, here, not on the training machine.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

DEBS = ("gcompris-qt-data", "opencv-doc", "mate-backgrounds")
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
# GCompris activities whose images are photographs (checked by eye; others are drawings/icons)
PHOTO_ACTIVITIES = ("lang", "explore_monuments", "erase", "explore_world_animals", "explore_farm_animals",
                    "explore_world_music")
# opencv-doc files that are photographs (the rest are charts, text, calibration boards, logos)
OPENCV_PHOTOS = ("aero1.jpg", "aero3.jpg", "apple.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg",
                 "home.jpg", "lena.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "graf1.png",
                 "graf3.png", "Blender_Suzanne1.jpg", "HappyFish.jpg", "ela_original.jpg", "left.jpg", "right.jpg",
                 "sudoku.png", "mask.png", "pic1.png", "tmpl.png", "squirrel_cls.jpg", "notes.png", "box_in_scene.png",
                 "aloeL.jpg", "aloeR.jpg", "basketball1.png", "basketball2.png", "licenseplate_motion.jpg",
                 "opencv-logo.png", "stuff.jpg", "water_coins.jpg", "lena_tmpl.jpg", "smarties.png")
HOLDOUT = ("baboon.jpg", "fruits.jpg", "building.jpg", "HappyFish.jpg")
STYLE_SOURCES_FILE = "styles.json"


def fetch_debs(cache: Path) -> Path:
    """apt-get download + dpkg -x into cache/root (skips what is already there)."""
    debs, root = cache / "debs", cache / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for name in DEBS:
        if not list(debs.glob(f"{name}_*.deb")):
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True)
    if not (root / "usr").exists():
        root.mkdir(parents=True, exist_ok=True)
        for deb in debs.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def _rcc_files(rcc: Path, activity: str, suffixes=(".jpg", ".jpeg", ".png", ".webp")) -> list[str]:
    from PySide6.QtCore import QDirIterator, QResource

    if not QResource.registerResource(str(rcc)):
        return []
    found = []
    it = QDirIterator(f":/gcompris/src/activities/{activity}", QDirIterator.Subdirectories)
    while it.hasNext():
        p = it.next()
        if p.lower().endswith(suffixes):
            found.append(p)
    return sorted(found)


def _qimage(path: str):
    from PySide6.QtGui import QImage

    img = QImage(path)
    return None if img.isNull() else img


def extract_photos(rcc_dir: Path, out: Path, min_side: int = 256) -> int:
    n = 0
    for activity in PHOTO_ACTIVITIES:
        for p in _rcc_files(rcc_dir / f"{activity}.rcc", activity):
            img = _qimage(p)
            if img is None or min(img.width(), img.height()) < min_side:
                continue
            img.save(str(out / f"gc_{activity}_{Path(p).stem}.jpg"), "JPG", 92)
            n += 1
    return n


def _read_text(path: str) -> str:
    from PySide6.QtCore import QFile

    f = QFile(path)
    f.open(QFile.ReadOnly)
    return bytes(f.readAll()).decode("utf-8")


def rebuild_paintings(rcc_dir: Path, out: Path) -> list[dict]:
    """Composite each jigsaw board's pieces at their positions (fractions of the board, piece centres)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage, QPainter

    base = ":/gcompris/src/activities/paintings/resource"
    boards = [p for p in _rcc_files(rcc_dir / "paintings.rcc", "paintings", (".qml",)) if "/board/" in p]
    made = []
    for board in boards:
        text = _read_text(board)
        title = re.search(r'qsTr\("([^"]+)"\)', text)
        size = re.search(r'"width"\s*:\s*(\d+),\s*"height"\s*:\s*(\d+)', text)
        pieces = re.findall(r'"pixmapfile"\s*:\s*"(image/[^"]+\.(?:webp|png|jpg))",\s*"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"', text)
        if not (title and size and pieces):
            continue
        w, h = int(size.group(1)), int(size.group(2))
        canvas = QImage(w, h, QImage.Format_RGB32)
        canvas.fill(QColor("white"))
        painter = QPainter(canvas)
        covered = 0
        box = [w, h, 0, 0]  # the pieces' bounding box: the board has white margins around the painting
        for file, x, y in pieces:
            piece = _qimage(f"{base}/{file}")
            if piece is None:
                continue
            covered += piece.width() * piece.height()
            left, top = float(x) * w - piece.width() / 2, float(y) * h - piece.height() / 2
            painter.drawImage(QPointF(left, top), piece)
            box = [min(box[0], left), min(box[1], top), max(box[2], left + piece.width()), max(box[3], top + piece.height())]
        painter.end()
        x0, y0 = max(0, int(box[0] + 0.5)), max(0, int(box[1] + 0.5))
        canvas = canvas.copy(x0, y0, min(w, int(box[2])) - x0, min(h, int(box[3])) - y0)
        stem = re.sub(r"([-_][a-z]?\d+|[-_][a-z])$", "", Path(pieces[0][0]).stem)
        name = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_").lower()
        canvas.save(str(out / f"{name}.png"))
        made.append({"file": f"{name}.png", "title": title.group(1), "source": "gcompris-qt-data paintings (rebuilt)",
                     "coverage": round(covered / max(1, canvas.width() * canvas.height()), 2)})
    return made


def extract_details(rcc_dir: Path, out: Path) -> list[dict]:
    made = []
    for p in _rcc_files(rcc_dir / "details.rcc", "details"):
        stem = Path(p).stem
        if not stem.endswith("_background") or not re.search(r"(?i)gogh|tanguy|auvers", stem):
            continue
        img = _qimage(p)
        if img is None:
            continue
        name = re.sub(r"[^A-Za-z0-9]+", "_", stem[: -len("_background")]).strip("_").lower()
        img.save(str(out / f"{name}.png"))
        made.append({"file": f"{name}.png", "title": stem[: -len("_background")].replace("_", " "),
                     "source": "gcompris-qt-data details"})
    return made


def build_corpus(cache: str | Path) -> Path:
    from PySide6.QtGui import QGuiApplication  # QImage needs a Gui app for some plugins (webp)

    app = QGuiApplication.instance() or QGuiApplication(["corpus", "-platform", "offscreen"])  # noqa: F841
    cache = Path(cache)
    root = fetch_debs(cache)
    corpus = cache / "corpus"
    content, holdout, styles = corpus / "content", corpus / "holdout", corpus / "styles"
    for d in (content, holdout, styles):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    cv = root / OPENCV_DATA
    for name in OPENCV_PHOTOS:
        if (cv / name).exists():
            shutil.copy(cv / name, (holdout if name in HOLDOUT else content) / f"cv_{name}")
    for p in sorted((root / "usr/share/backgrounds/mate").rglob("*")):
        if p.suffix.lower() in (".jpg", ".png") and p.stat().st_size < 8_000_000:
            shutil.copy(p, content / f"mate_{p.parent.name}_{p.name}")
    n_gc = extract_photos(root / GCOMPRIS_RCC, content)
    sources = [{"file": "starry_night.jpg", "title": "Vincent van Gogh, The Starry Night - 1889", "source": "opencv-doc"}]
    shutil.copy(cv / "starry_night.jpg", styles / "starry_night.jpg")
    sources += rebuild_paintings(root / GCOMPRIS_RCC, styles)
    sources += extract_details(root / GCOMPRIS_RCC, styles)
    (styles / STYLE_SOURCES_FILE).write_text(json.dumps(sources, indent=1))
    print(f"corpus in {corpus}: {len(list(content.iterdir()))} content photos ({n_gc} from GCompris), "
          f"{len(list(holdout.iterdir()))} held out, {len(sources)} paintings")
    return corpus

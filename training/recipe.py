"""Training recipes as data: ``training/recipes/<model>.toml`` holds how a shipped model was trained.

A recipe names its family (fast, adain, anystyle or adain-small), the shipped checkpoint (the result of its last
stage), the
steps behind it, the export command and the model files it writes, and one or more stages. A stage is one
run: a short description and ``[stages.config]``, the values of the trainer's config
(``training/config.py``) that differ from the defaults. A stage starts from scratch, from another
checkpoint's weights (``init_from`` in its config), or continues a run (``resume_from``: that checkpoint
is copied to ``out_dir/last.pt`` when the folder has none, so the step count, the optimizer's state and the
history go on). ``lineage`` lines describe how the start of the first stage was made when its checkpoints
are not kept, so that part cannot be rerun.

``python -m training fast --recipe mid8``: the last stage's settings, starting from the shipped checkpoint's
weights (``--init-from``), i.e. more training of the shipped model by its recipe.
``--recipe mid8 --stage N``: stage N as it ran, from its own start (``--stage 1`` of a recipe trained from
scratch starts from scratch). Flags given on the command line override single values in both cases.
An anystyle run's ``--init-from`` is the fast net it is built on, so ``--recipe anystyle`` without ``--stage``
continues the shipped run instead: a copy of its checkpoint resumed in the run folder, for as many steps again
as the last stage ran (``--max-steps`` counts that run's steps).
"""
from __future__ import annotations

import dataclasses
import shutil
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import atomic_path

from .config import (GRAD_CLIP, TEMPORAL_NOISE, TEMPORAL_SHIFT, AdaINSmallTrainConfig, AdaINTrainConfig,
                     AnyStyleTrainConfig, FastTrainConfig)

RECIPE_DIR = Path(__file__).with_name("recipes")
ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"fast": FastTrainConfig, "adain": AdaINTrainConfig, "anystyle": AnyStyleTrainConfig,
           "adain-small": AdaINSmallTrainConfig}
# what each family's recipe trains, for messages
WHAT = {"fast": "a fast net", "adain": "an AdaIN decoder", "anystyle": "a style-prediction net",
        "adain-small": "the small AdaIN model"}
# families whose --init-from names another family's net (anystyle: the fast net it is built on) or that have none
# (adain-small: its teacher is named by --teacher): more training of the shipped model resumes its run (a copy of
# its checkpoint) instead of starting from its weights
RESUMED = {"anystyle", "adain-small"}
# where a run writes and how long it goes: not part of what it trains, so free to differ from the shipped run's
RUN_LOCAL = ("out_dir", "max_steps", "time_budget_s")
# What a setting meant in checkpoints saved before it existed, where that is not today's default
# (before --amp every run was fp32)
ABSENT = {"fast": {"amp": "none"}, "adain": {}, "anystyle": {}, "adain-small": {}}
TOP_KEYS = {"family", "description", "checkpoint", "steps", "export", "models", "lineage", "stages"}
STAGE_KEYS = {"name", "description", "resume_from", "config"}


def retired_settings(family: str) -> dict[str, Any]:
    """Settings that were flags once and are fixed now, with the value the trainer always uses: a checkpoint
    that recorded another value was trained differently from what its recipe does today."""
    if family == "adain":
        return {"relative_losses": True, "tv_weight": 0.0}
    if family == "anystyle":
        return {}
    if family == "adain-small":  # no --init-from: a run starts from scratch or resumes its own folder
        return {"init_from": ""}
    from .data import CROP_SCALE
    from .losses import LAYOUT_POOL

    return {"grad_clip": GRAD_CLIP, "temporal_shift": TEMPORAL_SHIFT,
            "temporal_noise": TEMPORAL_NOISE, "layout_pool": LAYOUT_POOL, "crop_scale": list(CROP_SCALE),
            "warmup_steps": 0, "dilation": [], "residual_blocks": 0, "teacher": "", "teacher_weight": 0.0,
            "teacher_only": False, "qat": False}


@dataclass(frozen=True)
class Stage:
    number: int  # 1-based
    name: str
    description: str
    settings: dict[str, Any]  # config values that differ from the defaults
    resume_from: str = ""  # a checkpoint this stage's run continues


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    family: str
    description: str
    checkpoint: str  # the shipped result of the last stage
    steps: int  # training steps behind that checkpoint (the lineage's and every stage's)
    export: str  # the export command; {checkpoint} stands for the run's last.pt
    models: list[str]  # the files the export command writes
    lineage: list[str] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)

    def config(self, stage: Stage | None = None):
        """The trainer's config of ``stage`` (default: the last) as the recipe gives it."""
        return CONFIGS[self.family](**(stage or self.stages[-1]).settings)

    def export_command(self, checkpoint: str | Path) -> str:
        return self.export.format(checkpoint=checkpoint)


def available(family: str | None = None) -> list[str]:
    """The recipes' names (of one family's recipes when ``family`` is given)."""
    names = []
    for path in sorted(RECIPE_DIR.glob("*.toml")):
        if family is None or tomllib.loads(path.read_text(encoding="utf-8")).get("family") == family:
            names.append(path.stem)
    return names


def _typed(hint: Any, value: Any, where: str) -> Any:
    """``value`` from TOML as the config field's type (ints where floats are due become floats)."""
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_typed(item, v, where) for v in value]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ValueError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _stage(number: int, raw: Any, cls, where: str) -> Stage:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a stage is a table")
    unknown = set(raw) - STAGE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (a stage has {sorted(STAGE_KEYS)})")
    if not raw.get("name") or not raw.get("description"):
        raise ValueError(f"{where}: a stage needs a name and a description")
    hints = typing.get_type_hints(cls)
    settings = {}
    for key, value in raw.get("config", {}).items():
        if key not in hints:
            raise ValueError(f"{where}: {key!r} is not a setting of {cls.__name__}")
        settings[key] = _typed(hints[key], value, f"{where}, {key}")
    return Stage(number, str(raw["name"]), str(raw["description"]), settings, str(raw.get("resume_from", "")))


def load(name: str) -> Recipe:
    """A recipe by name (``training/recipes/NAME.toml``) or by the path of a .toml file."""
    path = Path(name) if name.endswith(".toml") else RECIPE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"no recipe {name!r} (recipes: {', '.join(available())})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)} (a recipe has {sorted(TOP_KEYS)})")
    missing = TOP_KEYS - {"lineage"} - set(raw)
    if missing:
        raise ValueError(f"{path}: missing {sorted(missing)}")
    family = raw["family"]
    if family not in CONFIGS:
        raise ValueError(f"{path}: family must be one of {sorted(CONFIGS)}, got {family!r}")
    if not raw["stages"]:
        raise ValueError(f"{path}: a recipe needs at least one stage")
    stages = [_stage(i, s, CONFIGS[family], f"{path}, stage {i}") for i, s in enumerate(raw["stages"], 1)]
    recipe = Recipe(name=path.stem, path=path, family=family, description=raw["description"],
                    checkpoint=raw["checkpoint"], steps=int(raw["steps"]), export=raw["export"],
                    models=list(raw["models"]), lineage=list(raw.get("lineage", [])), stages=stages)
    for stage in stages:  # every stage builds a valid config
        recipe.config(stage)
    return recipe


@dataclass(frozen=True)
class Plan:
    """What ``--recipe NAME [--stage N]`` runs: the flag defaults it sets and how the run starts."""

    recipe: Recipe
    stage: Stage
    continuing: bool  # the last stage from the shipped checkpoint's weights (no --stage)
    defaults: dict[str, Any]
    resume_from: str  # copied to out_dir/last.pt when that is absent

    def describe(self) -> str:
        r, s = self.recipe, self.stage
        shown = r.path.relative_to(ROOT) if r.path.resolve().is_relative_to(ROOT) else r.path
        head = f"recipe {r.name} ({shown}), stage {s.number} of {len(r.stages)} {s.name!r}: {s.description}"
        if self.continuing and self.resume_from:
            how = (f"continuing the shipped model: its run resumed from a copy of {r.checkpoint} ({r.steps:,} steps) "
                   f"with the last stage's settings, to step {self.defaults['max_steps']:,} of that run unless "
                   f"--max-steps says otherwise; --stage {s.number} runs that stage from its own start")
        elif self.continuing:
            how = (f"continuing the shipped model: --init-from {r.checkpoint} ({r.steps:,} steps) with the last stage's "
                   f"settings; --stage {s.number} runs that stage from its own start")
        elif self.resume_from:
            how = f"continues {self.resume_from} (copied to the run folder when it has no last.pt)"
        elif self.defaults.get("init_from"):
            how = f"starts from the weights of {self.defaults['init_from']} (--init-from)"
        else:
            how = "starts from scratch"
        return f"{head}\n{how}"

    def after(self, last: str | Path) -> str:
        """What to do with the run's result: the export command, and where the shipped checkpoint lives."""
        lines = [f"export: {self.recipe.export_command(last)}"]
        if self.stage.number == len(self.recipe.stages):
            lines.append(f"to ship it, copy {last} to {self.recipe.checkpoint} and commit it with the exported files")
        return "\n".join(lines)


def _continuing(recipe: Recipe) -> Plan:
    """More training of the shipped model with the last stage's settings: from its weights (``--init-from``),
    or (``RESUMED`` families) its run resumed from a copy of its checkpoint for as many steps again as the
    stage ran."""
    last = recipe.stages[-1]
    if recipe.family not in RESUMED:
        return Plan(recipe, last, True, {**last.settings, "init_from": recipe.checkpoint}, "")
    from .checkpoint import read_checkpoint

    if not Path(recipe.checkpoint).is_file():
        raise ValueError(f"recipe {recipe.name}: the shipped checkpoint {recipe.checkpoint} is not there, so there is "
                         f"nothing to continue; --stage {last.number} runs the last stage from its own start")
    step = int(read_checkpoint(recipe.checkpoint)["step"])
    length = last.settings.get("max_steps", CONFIGS[recipe.family]().max_steps)
    return Plan(recipe, last, True, {**last.settings, "max_steps": step + length}, recipe.checkpoint)


def plan(name: str, family: str, stage: int | None = None) -> Plan:
    recipe = load(name)
    if recipe.family != family:
        raise ValueError(f"recipe {recipe.name} trains {WHAT[recipe.family]}: "
                         f"python -m training {recipe.family} --recipe {recipe.name}")
    if not Path(recipe.checkpoint).exists() and (ROOT / recipe.checkpoint).exists():
        raise ValueError(f"a recipe names files relative to the repository: run this from {ROOT}")
    if stage is None:
        return _continuing(recipe)
    if not 1 <= stage <= len(recipe.stages):
        raise ValueError(f"recipe {recipe.name} has stages 1 to {len(recipe.stages)}, not {stage}")
    chosen = recipe.stages[stage - 1]
    return Plan(recipe, chosen, False, dict(chosen.settings), chosen.resume_from)


def prepare_run_folder(plan: Plan, out_dir: str | Path, log=print) -> None:
    """A stage that continues a run: copy that run's checkpoint into ``out_dir`` unless the folder holds one
    already (then the trainer resumes the folder's own run, as any rerun does)."""
    last = Path(out_dir) / "last.pt"
    if last.exists() and plan.continuing:
        log(f"{last} exists: resuming that run, not starting from {plan.recipe.checkpoint} (another --out-dir would)")
    if not plan.resume_from or last.exists():
        return
    source = Path(plan.resume_from)
    if not source.is_file():
        earlier = [s for s in plan.recipe.stages if Path(s.settings.get("out_dir", "")) == source.parent]
        hint = f": run stage {earlier[0].number} first" if earlier else ""
        raise ValueError(f"stage {plan.stage.number} of recipe {plan.recipe.name} continues {source}, "
                         f"which is not there{hint}")
    last.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(last) as tmp:
        shutil.copyfile(source, tmp)
    log(f"{last}: a copy of {source}, which this stage continues")


def _same(a: Any, b: Any) -> bool:
    """Equal as settings: lists and tuples alike, ints and floats alike, paths by what they name."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str) and "/" in a + b:
        return _where(a) == _where(b)
    return a == b


def _where(path: str) -> Path:
    """A path as the repository sees it: relative paths are relative to its root."""
    p = Path(path)
    return p.resolve() if p.is_absolute() else (ROOT / p).resolve()


def model_config(family: str, cfg) -> dict:
    """The model config a run with ``cfg`` builds (as stored in its checkpoints)."""
    if family == "fast":
        from .train_fast import _style_names, fast_net_config

        return fast_net_config(cfg, _style_names(cfg)).to_dict()
    if family == "anystyle":  # the fast net it predicts for (--init-from) and the predictor
        from .train_anystyle import model_config as anystyle_config

        return anystyle_config(dataclasses.replace(cfg, init_from=str(_where(cfg.init_from)))).to_dict()
    if family == "adain-small":
        from .distil_adain import small_model_config

        return small_model_config(cfg).to_dict()
    from .train_adain import adain_net_config

    return adain_net_config(cfg).to_dict()


def drift(recipe: Recipe, blob: dict | None = None) -> list[str]:
    """How the recipe's last stage differs from the run that made the shipped checkpoint (``blob``: that
    checkpoint, already loaded), one line per difference; [] when the recipe reproduces it. Where a run
    writes and how long it goes (``RUN_LOCAL``) may differ. The run's start is its first history entry's
    ``init_from`` (a resumed run's command need not repeat --init-from)."""
    from .checkpoint import read_checkpoint, total_steps

    blob = blob if blob is not None else read_checkpoint(ROOT / recipe.checkpoint)
    if blob["family"] != recipe.family:
        return [f"family: recipe {recipe.family}, shipped checkpoint {blob['family']}"]
    recorded = dict(blob.get("train_config") or {})
    recorded["init_from"] = (blob.get("history") or [{}])[0].get("init_from", "")
    cfg = recipe.config()
    built = cfg.to_dict()
    defaults = CONFIGS[recipe.family]().to_dict()
    retired, absent = retired_settings(recipe.family), ABSENT[recipe.family]
    found = []
    for key in sorted(set(built) | set(recorded)):
        if key in RUN_LOCAL:
            continue
        if key not in built:
            if key not in retired:
                found.append(f"{key}: the shipped run set {recorded[key]!r}, which this trainer has no setting for")
            elif not _same(recorded[key], retired[key]):
                found.append(f"{key}: the shipped run used {recorded[key]!r}; the trainer now always uses {retired[key]!r}")
            continue
        shipped = recorded[key] if key in recorded else absent.get(key, defaults[key])
        if not _same(built[key], shipped):
            found.append(f"{key}: recipe {built[key]!r}, shipped {shipped!r}")
    if total_steps(blob) != recipe.steps:
        found.append(f"steps: recipe {recipe.steps}, shipped checkpoint {total_steps(blob)}")
    model = model_config(recipe.family, cfg)
    if model != blob["config"]:
        found.append(f"model: the recipe builds {model}, the shipped checkpoint holds {blob['config']}")
    return found

"""Training configs: defaults live here, once. The CLI builds its flags from these dataclasses."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class FastTrainConfig:
    """Johnson-style perceptual-loss training of a multi-style CIN net (one style per batch)."""

    content_dir: str = ""
    style_images: list[str] = field(default_factory=list)
    style_names: list[str] = field(default_factory=list)  # default: the style files' stems
    out_dir: str = "runs/fast"
    width: str = "light"  # "light" (CPU live) or "full" (Johnson's 32-64-128)
    image_size: int = 256
    style_size: int = 384  # longest side of each style image when its Gram targets are computed
    batch_size: int = 4
    lr: float = 1e-3
    grad_clip: float = 5.0  # max global gradient norm
    cin_lr_mult: float = 10.0  # the per-style (gamma, beta) rows learn this much faster: each sees 1/N of the steps
    content_layer: str = "relu2_2"
    style_layers: list[str] = field(default_factory=lambda: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    max_steps: int = 40_000
    time_budget_s: float = 0.0  # 0 = no limit; stops cleanly (with a checkpoint) when spent
    checkpoint_every: int = 200
    sample_every: int = 200
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    vgg_weights: str = ""  # empty = assets/vgg16_hed_relu5_1.fp16.pt
    holdout: list[str] = field(default_factory=list)  # fixed photos for the sample sheet and held-out losses
    holdout_size: int = 256  # centre crop size of the held-out photos

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AdaINTrainConfig:
    """Huang & Belongie: decoder trained with content loss on the AdaIN target + mean/std style loss."""

    content_dir: str = ""
    style_dir: str = ""
    out_dir: str = "runs/adain"
    width_divisor: int = 1
    image_size: int = 256
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5  # lr / (1 + decay * step), as in the reference implementation
    style_weight: float = 10.0  # lambda in the paper
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    max_steps: int = 160_000
    time_budget_s: float = 0.0
    checkpoint_every: int = 200
    sample_every: int = 200
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    vgg_weights: str = ""
    holdout: list[str] = field(default_factory=list)
    holdout_styles: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

"""Training configs: defaults live here, once. The CLI builds its flags from these dataclasses."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LoopConfig:
    """The fields the shared training loop (training/loop.py) reads, besides each trainer's own
    ``out_dir`` and ``max_steps`` defaults."""

    time_budget_s: float = 0.0  # 0 = no limit; stops cleanly (with a checkpoint) when spent
    checkpoint_every: int = 200
    sample_every: int = 200
    log_every: int = 10
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FastTrainConfig(LoopConfig):
    """Johnson-style perceptual-loss training of a multi-style CIN net (one style per batch)."""

    content_dir: str = ""
    style_images: list[str] = field(default_factory=list)
    style_names: list[str] = field(default_factory=list)  # default: the style files' stems
    out_dir: str = "runs/fast"
    width: str = "light"  # "light" (8-16-32), "mid" (8-24-64, the CPU live net) or "full" (Johnson's 32-64-128)
    dilation: list[int] = field(default_factory=list)  # per residual block (first conv); empty = undilated
    residual_blocks: int = 0  # 0: the width preset's count; with --init-from, blocks beyond the source's start as identity
    skips: str = ""  # encoder-to-decoder skips: "half" (1/2 resolution) or "both" (and full); with --init-from new ones start closed (gain 0)
    init_from: str = ""  # fresh run only: start from this fast checkpoint's weights (same widths; its styles or a subset, by name)
    image_size: int = 256
    # each training crop is a square covering this fraction of the photo's shorter side (random in [lo, hi]),
    # resized to image_size: the scale at which the net sees the scene (mid8 card, session 22: 192 px crops of
    # 0.75-1.0, a whole frame's scale, scored worse than this default)
    crop_scale: list[float] = field(default_factory=lambda: [0.6, 1.0])  # training.data.CROP_SCALE
    style_size: int = 384  # longest side of each style image when its Gram targets are computed
    batch_size: int = 4
    lr: float = 1e-3
    grad_clip: float = 5.0  # max global gradient norm
    cin_lr_mult: float = 10.0  # the per-style (gamma, beta) rows learn this much faster: each sees 1/N of the steps
    content_layer: str = "relu2_2"
    style_layers: list[str] = field(default_factory=lambda: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    content_weight: float = 1.0
    style_weight: float = 10.0
    # per style layer, in style_layers' order (empty: all 1). The logged and held-out style loss stays the
    # unweighted one, so runs with different weights compare on the same number
    style_layer_weights: list[float] = field(default_factory=list)
    tv_weight: float = 1.0
    amp: str = "auto"  # "bf16": forward passes under bf16 autocast (norms, Grams, losses fp32); "auto": bf16 on CUDA or a CPU with native bf16, else "none"
    # > 0: keep the photo's light layout (training.losses.layout_loss: luma over layout_pool-px blocks, correlation)
    layout_weight: float = 0.0
    layout_pool: int = 8
    warmup_steps: int = 0  # identity warm-up: the first N steps train output ~ input (pixel L1 + content loss)
    temporal_weight: float = 0.0  # > 0: shifted-frame output consistency (ReCoNet-style output temporal loss)
    temporal_shift: int = 8  # the second frame is the same photo moved by up to this many px (multiple of 4)
    temporal_noise: float = 2.0 / 255  # and given fresh sensor noise (std, 0..1 scale)
    # distillation (issue 12's "cheaper route"): another fast net's outputs teach this one in pixel space.
    # teacher: a fast checkpoint holding every style of this run (rows picked by name); teacher_weight > 0 adds
    # weight x L1(ours, teacher's) to the perceptual losses; teacher_only trains on that L1 alone (no loss
    # network in the step; for a full-width net that saves less than it seems: its own pass costs about what
    # the loss network's does), e.g. to bring a wider net to a trained narrower net's pictures first
    teacher: str = ""
    teacher_weight: float = 0.0
    teacher_only: bool = False
    # quantisation-aware fine-tuning (training/qat.py): every conv but the first sees the int8 rounding of the
    # shipped .int8.onnx file in the forward pass; checkpoints stay ordinary fp32 ones
    qat: bool = False
    max_steps: int = 40_000
    vgg_weights: str = ""  # empty = assets/vgg16_hed_relu5_1.fp16.pt
    holdout: list[str] = field(default_factory=list)  # fixed photos for the sample sheet and held-out losses
    holdout_size: int = 256  # centre crop size of the held-out photos


@dataclass
class AdaINTrainConfig(LoopConfig):
    """Huang & Belongie: decoder trained with content loss on the AdaIN target + mean/std style loss."""

    content_dir: str = ""
    style_dir: str = ""
    out_dir: str = "runs/adain"
    width_divisor: int = 1
    image_size: int = 256
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5  # lr / (1 + decay * step), as in the reference implementation
    style_weight: float = 10.0  # lambda in the paper (with relative_losses, the weight of comparable numbers)
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    relative_losses: bool = True  # content / target energy, style per layer / target statistics energy
    # > 0: SANet's identity loss (Park & Lee 2019): the decoder also rebuilds each photo from its own features
    # (pixel L1 + relative feature loss on the style layers), so the photo's structure survives decoding
    identity_weight: float = 0.0
    # > 0: total variation of the output (as for fast nets): the mean/std style loss is cheapest to meet with a
    # periodic dot pattern on the decoder's upsampling grid; this term makes that pattern cost something
    tv_weight: float = 0.0
    # encoder layers (relu1_1, relu2_1, relu3_1) whose AdaIN-ed features also feed the decoder (Avatar-Net's
    # skip connections); [] = the paper's decoder, which rebuilds the photo from relu4_1 alone
    skip_layers: list[str] = field(default_factory=list)
    # the decoder's x2 upsampling: nearest (the paper's) or bilinear (no free period-2 dot pattern; see AdaINConfig)
    upsample: str = "nearest"
    init_from: str = ""  # fresh run only: start from this AdaIN checkpoint's decoder (same widths and skips; any upsampling)
    amp: str = "auto"  # as for fast nets: bf16 autocast for the forward passes (statistics and losses fp32) where native
    max_steps: int = 160_000
    vgg_weights: str = ""
    holdout: list[str] = field(default_factory=list)
    holdout_styles: list[str] = field(default_factory=list)


@dataclass
class TranslationTrainConfig(LoopConfig):
    """Unpaired two-domain translation: U-GAT-IT (seed 000) or CycleGAN (seed 003), one trainer.

    Weights that read 0 or less take the mode's published value (U-GAT-IT: lr 1e-4, identity 10, CAM 1000;
    CycleGAN: lr 2e-4, identity 0.5 * cycle = 5, no CAM).
    """

    a: str = ""  # folder of domain A images (e.g. photos)
    b: str = ""  # folder of domain B images (e.g. prints)
    out_dir: str = "runs/ugatit"
    mode: str = "ugatit"  # ugatit | cyclegan
    light: bool = True  # U-GAT-IT light generator (gamma/beta from pooled features; any input size)
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 4  # U-GAT-IT 4; CycleGAN 9 at 256 px, 6 at 128 px
    global_layers: int = 7  # U-GAT-IT discriminator depths (h/32 and h/8 at 7 and 5)
    local_layers: int = 5
    image_size: int = 256
    load_size: int = 286  # resize, then random crop image_size (both papers)
    batch_size: int = 1
    lr: float = 0.0
    weight_decay: float = 1e-4  # U-GAT-IT uses 1e-4; CycleGAN 0
    adv_weight: float = 1.0
    cycle_weight: float = 10.0
    identity_weight: float = 0.0
    cam_weight: float = 0.0
    pool_size: int = 50  # history of generated images shown to the discriminators (0 = off)
    max_steps: int = 100_000
    decay_from: int = 50_000  # linear lr decay to 0 from this step to max_steps
    checkpoint_every: int = 500
    sample_every: int = 500
    holdout_a: list[str] = field(default_factory=list)
    holdout_b: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in ("ugatit", "cyclegan"):
            raise ValueError(f"mode must be ugatit or cyclegan, got {self.mode!r}")
        if self.image_size % 4 or self.load_size < self.image_size:
            raise ValueError("image_size must be a multiple of 4 and load_size >= image_size")
        if self.mode == "ugatit":
            for name in ("global_layers", "local_layers"):
                n = getattr(self, name)
                if self.image_size // 2 ** (n - 2) < 3:  # the last 4x4 conv and the classifier need a 3 px map
                    raise ValueError(f"image_size {self.image_size} is too small for a {n}-layer discriminator "
                                     f"(needs at least {3 * 2 ** (n - 2)}); lower --{name.replace('_', '-')} or raise --image-size")

    def resolved(self) -> dict[str, float]:
        ugatit = self.mode == "ugatit"
        return {
            "lr": self.lr if self.lr > 0 else (1e-4 if ugatit else 2e-4),
            "identity_weight": self.identity_weight if self.identity_weight > 0 else (10.0 if ugatit else 0.5 * self.cycle_weight),
            "cam_weight": (self.cam_weight if self.cam_weight > 0 else 1000.0) if ugatit else 0.0,
        }

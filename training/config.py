"""Training configs: defaults live here, once. The CLI builds its flags from these dataclasses, each flag's
help from its field's ``help``; a recipe (training/recipes/*.toml, training/recipe.py) names the values that
differ from these defaults."""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field
from typing import Any


def setting(default: Any = MISSING, *, factory: Any = None, help: str) -> Any:  # noqa: A002 (argparse's word)
    """A config field with the help text of its command-line flag."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


# Fixed settings of the fast-net trainer, not flags: every shipped model was trained with these values
GRAD_CLIP = 5.0  # max global gradient norm of a step
# the per-style (gamma, beta) rows and the skips' gains learn this much faster than the shared weights: each
# style's rows see 1/N of the steps, and a gain starts closed
FAST_LR_MULT = 10.0
TEMPORAL_SHIFT = 8  # the shifted-frame loss moves the photo by up to this many px (a multiple of 4: the net's stride)
TEMPORAL_NOISE = 2.0 / 255  # and gives the moved frame fresh sensor noise of this std (0..1 scale)
# how a boldness run (bold_style_size > 0) draws each step's boldness b: the two ends this often each, else uniform
BOLD_ENDS = (0.25, 0.35)  # P(b = 0), P(b = 1)


@dataclass
class LoopConfig:
    """The fields the shared training loop (training/loop.py) reads, besides each trainer's own
    ``out_dir`` and ``max_steps`` defaults."""

    time_budget_s: float = setting(0.0, help="stop cleanly (with a checkpoint) after this many seconds of training; 0: no limit")
    checkpoint_every: int = setting(200, help="save out_dir/last.pt every N steps (and at the end)")
    sample_every: int = setting(200, help="write a sample sheet of the held-out photos every N steps")
    log_every: int = setting(10, help="average the losses over N steps into one history entry and progress line")
    seed: int = setting(0, help="random seed of the weights' initialisation and of the crops drawn")
    device: str = setting("auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FastTrainConfig(LoopConfig):
    """Johnson-style perceptual-loss training of a multi-style CIN net (one style per batch)."""

    content_dir: str = setting("", help="folder of training photos (random square crops of each)")
    style_images: list[str] = setting(factory=list, help="the paintings, one style each, in the net's order")
    style_names: list[str] = setting(factory=list, help="the styles' names, one per style image (default: the files' stems)")
    out_dir: str = setting("runs/fast", help="run folder: last.pt, samples, history.json; a rerun with the same folder resumes it")
    width: str = setting("light", help="net width preset: light (8-16-32), mid (8-24-64, the CPU live net) or full (Johnson's 32-64-128)")
    skips: str = setting("", help="encoder-to-decoder skips: half (at 1/2 resolution) or both (also at full); with --init-from "
                                  "a net without them, they start closed (gain 0)")
    init_from: str = setting("", help="fresh run only: start from this fast checkpoint's weights (same widths; its styles or "
                                      "a subset, picked by name)")
    image_size: int = setting(256, help="side of the square training crops, px")
    style_size: int = setting(384, help="longest side of each painting when its Gram targets are computed, px")
    batch_size: int = setting(4, help="photos per step (all of them in the step's one style)")
    lr: float = setting(1e-3, help="Adam learning rate of the shared weights (the per-style norm rows and the skip gains: 10x)")
    content_layer: str = setting("relu2_2", help="VGG-16 layer of the content loss")
    style_layers: list[str] = setting(factory=lambda: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"],
                                      help="VGG-16 layers of the Gram style loss")
    content_weight: float = setting(1.0, help="weight of the (relative) content loss")
    style_weight: float = setting(10.0, help="weight of the (relative) Gram style loss")
    # the logged and held-out style loss stays the unweighted one, so runs with different weights compare
    style_layer_weights: list[float] = setting(factory=list, help="weight of each style layer's Gram term, in "
                                                                  "--style-layers' order (default: all 1)")
    tv_weight: float = setting(1.0, help="weight of the output's total variation (smoothness)")
    amp: str = setting("auto", help="bf16: forward passes under bf16 autocast (norms, Grams and losses fp32); none: fp32; "
                                    "auto: bf16 on CUDA or a CPU with native bf16, else none")
    layout_weight: float = setting(0.0, help="weight of the light-layout loss (the photo's luma over 8 px blocks, kept by "
                                             "correlation: no blotches of the painting's colours on flat areas); 0: off")
    temporal_weight: float = setting(0.0, help="weight of the shifted-frame loss (the batch stylized again moved by up to "
                                               "8 px with fresh noise must agree with the first output: less flicker); 0: off")
    max_steps: int = setting(40_000, help="stop at this step (counted from the start of this run; a resumed run goes on to it)")
    bold_style_size: int = setting(0, help="train a second, bold set of norm rows (the bold end of the boldness control) "
                                           "against Gram targets of the paintings at this longest side, px (larger: "
                                           "bigger strokes); 0: no bold rows. Each step draws a boldness b and trains "
                                           "(1 - b) x the faithful objective + b x the bold one on rows mixed by b")
    bold_content_weight: float = setting(8.0, help="content weight of the bold objective")
    bold_content_layer: str = setting("", help="VGG-16 layer of the bold objective's content loss: a deeper one keeps "
                                               "the scene's shapes and gives up the photo's fine texture to the "
                                               "painting's strokes (default: --content-layer)")
    bold_layout_weight: float = setting(0.25, help="light-layout weight of the bold objective")
    bold_style_scales: list[int] = setting(factory=lambda: [1], help="the bold objective's Gram loss is taken on the "
                                           "output at each of these scales (2: average-pooled by 2, so only strokes "
                                           "twice as wide still match the painting's texture) and summed")
    cin_lr_mult: float = setting(FAST_LR_MULT, help="the norm rows and skip gains learn at this multiple of --lr")
    freeze_shared: bool = setting(False, help="train the norm rows only (the convolutions and skip gains stay as "
                                              "--init-from has them): how a new style is learned for a shipped net")
    vgg_weights: str = setting("", help="VGG-16 weights of the loss network (default: assets/vgg16_hed_relu5_1.fp16.pt)")
    holdout: list[str] = setting(factory=list, help="fixed photos for the sample sheets and the held-out losses "
                                                    "(default: the first 4 training photos)")
    holdout_size: int = setting(256, help="side of the held-out photos' centre crops, px")


@dataclass
class AdaINTrainConfig(LoopConfig):
    """Huang & Belongie: decoder trained with content loss on the AdaIN target + mean/std style loss, both
    relative (content / target energy, style per layer / target statistics' energy)."""

    content_dir: str = setting("", help="folder of training photos")
    style_dir: str = setting("", help="folder of training paintings")
    out_dir: str = setting("runs/adain", help="run folder: last.pt, samples, history.json; a rerun with the same folder resumes it")
    width_divisor: int = setting(1, help="the decoder's channels are the paper's divided by this")
    image_size: int = setting(256, help="side of the square training crops (photos and paintings), px")
    batch_size: int = setting(8, help="photo-painting pairs per step")
    lr: float = setting(1e-4, help="Adam learning rate at step 0")
    lr_decay: float = setting(5e-5, help="the rate at step s is lr / (1 + lr_decay * s), as in the reference implementation")
    style_weight: float = setting(10.0, help="weight of the mean/std style loss (lambda in the paper)")
    style_layers: list[str] = setting(factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"],
                                      help="VGG-16 layers of the style loss")
    # SANet's identity loss (Park & Lee 2019): the decoder also rebuilds each photo from its own features
    # (pixel L1 + relative feature loss on the style layers), so the photo's structure survives decoding
    identity_weight: float = setting(0.0, help="weight of the identity loss: the decoder also rebuilds each photo from "
                                               "its own features; 0: off")
    # Avatar-Net's skip connections; [] = the paper's decoder, which rebuilds the photo from relu4_1 alone
    skip_layers: list[str] = setting(factory=list, help="encoder layers (relu1_1 relu2_1 relu3_1) whose AdaIN-ed features "
                                                        "also feed the decoder (default: none, the paper's decoder)")
    # nearest copies give the mean/std loss a free period-2 dot pattern on the decoder's grid; bilinear does not
    upsample: str = setting("nearest", help="the decoder's x2 upsampling: nearest (the paper's) or bilinear")
    init_from: str = setting("", help="fresh run only: start from this AdaIN checkpoint's decoder (same widths and skips; "
                                      "any upsampling)")
    amp: str = setting("auto", help="as for fast nets: bf16 autocast for the forward passes (statistics and losses fp32) "
                                    "where the hardware has native bf16; none: fp32")
    max_steps: int = setting(160_000, help="stop at this step (counted from the start of this run; a resumed run goes on to it)")
    vgg_weights: str = setting("", help="VGG-16 weights of the encoder (default: assets/vgg16_hed_relu5_1.fp16.pt)")
    holdout: list[str] = setting(factory=list, help="fixed photos for the sample sheets and the held-out losses "
                                                    "(default: the first 4 training photos)")
    holdout_styles: list[str] = setting(factory=list, help="fixed paintings for the sample sheets and the held-out losses "
                                                           "(default: the first 4 training paintings)")


@dataclass
class AnyStyleTrainConfig(LoopConfig):
    """A style-prediction network for a shipped fast net (training/models/anystyle.py): any painting becomes a
    style code for the frozen net in one pass, so a style image runs at the fast net's speed. The objectives
    are the fast net's own (its checkpoint's training config)."""

    content_dir: str = setting("", help="folder of training photos (random square crops of each)")
    style_dir: str = setting("", help="folder of training paintings (those in --holdout-styles are left out)")
    builtin_images: list[str] = setting(factory=list, help="the built-in styles' paintings, in the --init-from net's "
                                                           "order: each is trained to predict its own rows")
    init_from: str = setting("", help="the fast checkpoint the prediction is for (its weights stay frozen)")
    out_dir: str = setting("runs/anystyle", help="run folder: last.pt, samples, history.json; a rerun with the same folder resumes it")
    hidden: int = setting(256, help="the predictor's hidden width")
    image_size: int = setting(192, help="side of the square training crops, px")
    style_size: int = setting(256, help="side of the painting crops the prediction reads, px")
    colour_variants: int = setting(3, help="colour-turned copies of each painting trained on (hue and saturation), "
                                           "half the steps; 0: the paintings as they are")
    batch_size: int = setting(4, help="photos per step (all in the step's one painting)")
    lr: float = setting(3e-4, help="Adam learning rate of the predictor")
    anchor_weight: float = setting(1.0, help="weight of the built-in paintings' own rows as the predictor's target")
    prefit_steps: int = setting(500, help="a fresh run first fits the head to the built-in paintings' rows "
                                          "(a regression on crops of them, seconds); 0: start at their mean")
    amp: str = setting("auto", help="as for fast nets: bf16 autocast where the hardware has native bf16; none: fp32")
    max_steps: int = setting(20_000, help="stop at this step (a resumed run goes on to it)")
    vgg_weights: str = setting("", help="VGG-16 weights of the loss network (default: assets/vgg16_hed_relu5_1.fp16.pt)")
    holdout: list[str] = setting(factory=list, help="fixed photos for the sample sheets (default: the first 4 training photos)")
    holdout_styles: list[str] = setting(factory=list, help="paintings never trained on: the sheets and held-out losses")
    holdout_size: int = setting(256, help="side of the held-out photos' centre crops, px")
    teacher: str = setting("", help="an AdaIN checkpoint whose pictures the prediction learns to give "
                                    "(training/distil_anystyle.py); empty: the fast net's own objectives")
    teacher_alphas: list[float] = setting(factory=lambda: [0.7, 1.0],
                                          help="the teacher's content-style trade-off taught to the faithful "
                                               "and the bold end")
    train_net: bool = setting(False, help="with --teacher: the fast net's convolutions learn too (the model is "
                                          "then its own net, not a code for the shipped one)")
    photo_styles: float = setting(0.0, help="with --teacher: share of style images drawn from the training photos")
    feature_weight: float = setting(1.0, help="with --teacher: weight of the loss-network feature distance "
                                              "beside the pixel L1")
    statistics_weight: float = setting(0.0, help="with --teacher: weight of the distance in the features' per-channel "
                                                 "mean and spread (relu1_1-relu4_1) to the teacher's picture")


@dataclass
class AdaINSmallTrainConfig(LoopConfig):
    """The small AdaIN model (training/models/adain_small.py) taught by a big one (training/distil_adain.py):
    for each photo, style image and alpha, the big model's picture is the target."""

    teacher: str = setting("", help="the AdaIN checkpoint whose pictures the small model learns to give")
    content_dir: str = setting("", help="folder of training photos")
    style_dir: str = setting("", help="folder of training paintings")
    photo_styles: float = setting(0.3, help="share of style images drawn from the training photos (any image is a "
                                            "style image to AdaIN)")
    out_dir: str = setting("runs/adain_small", help="run folder: last.pt, samples, history.json; a rerun with the same "
                                                    "folder resumes it")
    widths: list[int] = setting(factory=lambda: [16, 32, 64, 128], help="channels at full, 1/2, 1/4 and 1/8 resolution")
    res_blocks: int = setting(1, help="residual blocks at 1/4 resolution in the decoder")
    image_size: int = setting(128, help="side of the square training crops (photos and style images), px")
    batch_size: int = setting(8, help="photo-style pairs per step")
    lr: float = setting(1e-3, help="Adam learning rate at step 0")
    lr_decay: float = setting(1e-4, help="the rate at step s is lr / (1 + lr_decay * s)")
    detail_weight: float = setting(1.0, help="weight of the L1 distance of the pictures' fine detail (each picture "
                                             "minus its 3x3 blur, at full and half size) beside the pixel L1")
    hint_weight: float = setting(0.1, help="weight of the distance of the small encoder's features (through 1x1 heads) "
                                           "to the big encoder's, on photos and style images")
    pixel_weight: float = setting(1.0, help="weight of the pixel L1 distance to the big model's picture (lower lets the "
                                            "texture terms lead: L1 favours a colour grade of the photo)")
    statistics_weight: float = setting(0.0, help="weight of the distance of the pictures' per-channel feature mean and "
                                                 "spread (the texture layers of the big model's encoder) to the big "
                                                 "model's picture: its texture, which L1 alone averages away")
    decoder_activation: str = setting("relu", help="the decoder's activations: relu, or leaky (LeakyReLU 0.2, which "
                                                   "cannot die and leave the picture to the full-resolution level)")
    init_from: str = setting("", help="fresh run only: start from this small AdaIN checkpoint's weights (same widths "
                                      "and residual blocks; its decoder activation may differ)")
    fresh_decoder: bool = setting(False, help="once per run, when it starts from existing weights (a resume or "
                                              "--init-from): start the decoder's stages below full resolution "
                                              "(dec2-dec4) and their optimizer state again, keeping the encoder and "
                                              "the last stage (for a checkpoint whose deep path died)")
    painting_weight: float = setting(0.0, help="weight of the distance of the picture's feature statistics (the "
                                               "texture layers) to the style image's own, on pairs at full strength: "
                                               "AdaIN's own style loss, the painting's texture beyond the big model's")
    texture_layers: list[str] = setting(factory=lambda: ["relu1_1", "relu2_1", "relu3_1"],
                                        help="the big encoder's layers the statistics distance reads (of relu1_1, "
                                             "relu2_1, relu3_1, relu4_1; relu4_1 carries the larger strokes)")
    perceptual_weight: float = setting(0.0, help="weight of the distance of the pictures' features (relu2_1, relu3_1) "
                                                 "to the big model's picture")
    amp: str = setting("auto", help="bf16 autocast for the forward passes where the hardware has native bf16; "
                                    "none: fp32")
    max_steps: int = setting(20_000, help="stop at this step (a resumed run goes on to it)")
    vgg_weights: str = setting("", help="VGG-16 weights of the teacher's encoder "
                                        "(default: assets/vgg16_hed_relu5_1.fp16.pt)")
    holdout: list[str] = setting(factory=list, help="fixed photos for the sample sheets and the held-out distance "
                                                    "(default: the first 4 training photos)")
    holdout_styles: list[str] = setting(factory=list, help="style images for the sample sheets and the held-out "
                                                           "distance, left out of --style-dir's paintings (default: "
                                                           "the first 4 of them, trained on)")


@dataclass
class TranslationTrainConfig(LoopConfig):
    """Unpaired two-domain translation: U-GAT-IT (Kim et al., ICLR 2020) or CycleGAN (Zhu et al., ICCV 2017),
    one trainer (training/train_translation.py names the sources).

    Weights that read 0 or less take the mode's published value (U-GAT-IT: lr 1e-4, identity 10, CAM 1000;
    CycleGAN: lr 2e-4, identity 0.5 * cycle = 5, no CAM).
    """

    a: str = setting("", help="folder of domain A images (e.g. photos)")
    b: str = setting("", help="folder of domain B images (e.g. prints)")
    out_dir: str = setting("runs/ugatit", help="run folder: last.pt, samples, history.json; a rerun with the same folder resumes it")
    mode: str = setting("ugatit", help="ugatit or cyclegan")
    light: bool = setting(True, help="U-GAT-IT's light generator (gamma/beta from pooled features; any input size)")
    ngf: int = setting(64, help="the generators' base channel count")
    ndf: int = setting(64, help="the discriminators' base channel count")
    n_blocks: int = setting(4, help="the generators' residual blocks (U-GAT-IT 4; CycleGAN 9 at 256 px, 6 at 128 px)")
    global_layers: int = setting(7, help="U-GAT-IT's global discriminator depth (7: an h/32 output map)")
    local_layers: int = setting(5, help="U-GAT-IT's local discriminator depth (5: an h/8 output map)")
    image_size: int = setting(256, help="side of the training crops, px (a multiple of 4)")
    load_size: int = setting(286, help="images are resized to this side, then cropped to --image-size (both papers)")
    batch_size: int = setting(1, help="image pairs per step")
    lr: float = setting(0.0, help="Adam learning rate; 0: the mode's published one (U-GAT-IT 1e-4, CycleGAN 2e-4)")
    weight_decay: float = setting(1e-4, help="Adam weight decay (U-GAT-IT 1e-4, CycleGAN 0)")
    adv_weight: float = setting(1.0, help="weight of the adversarial losses")
    cycle_weight: float = setting(10.0, help="weight of the cycle-consistency loss")
    identity_weight: float = setting(0.0, help="weight of the identity loss; 0: the mode's published one "
                                               "(U-GAT-IT 10, CycleGAN 0.5 x --cycle-weight)")
    cam_weight: float = setting(0.0, help="weight of U-GAT-IT's CAM loss; 0: the published 1000 (CycleGAN has none)")
    pool_size: int = setting(50, help="history of generated images shown to the discriminators; 0: off")
    max_steps: int = setting(100_000, help="stop at this step (a resumed run goes on to it)")
    decay_from: int = setting(50_000, help="the learning rate falls linearly to 0 from this step to --max-steps")
    checkpoint_every: int = setting(500, help="save out_dir/last.pt every N steps (and at the end)")
    sample_every: int = setting(500, help="write a sample sheet of the held-out images every N steps")
    holdout_a: list[str] = setting(factory=list, help="fixed domain A images for the sample sheets (default: the first 3 of --a)")
    holdout_b: list[str] = setting(factory=list, help="fixed domain B images for the sample sheets (default: the first 3 of --b)")

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

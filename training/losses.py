"""Perceptual losses as small pure functions named after the papers.

Conventions: features come from ``VGG16Features`` (RGB [0,1] in; Caffe preprocessing inside).
Gram matrices are normalised by C*H*W (``gram_matrix``), so a layer's style loss does not grow
with the image size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .models.vgg import calc_mean_std, gram_matrix


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Johnson's feature reconstruction loss, relative: ||F - P||^2 / ||P||^2.

    Dividing by the target's energy (floored at 1, on the Caffe 0..255 scale) makes the number independent of the loss network's
    activation scale (our Caffe-style VGG's features are ~255x torchvision's), so the same
    weights work with either network and reported losses compare across models.
    """
    # The floor keeps a dark, flat crop (tiny feature energy) from turning into a huge loss spike.
    return F.mse_loss(features, target) / target.pow(2).mean().detach().clamp_min(1.0)


def gram_style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
                    layer_weights: dict[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of w_l * ||G(F_l) - A_l||^2 / ||A_l||^2 (relative Gram error).

    Raw Gram errors of our VGG span eight orders of magnitude from relu1_2 to relu4_3, so an
    unnormalised sum is all relu1_2 (colour blotches); the relative error weighs layers evenly,
    and ``layer_weights`` then means what it says. Targets broadcast over the batch.
    """
    terms = gram_style_terms(features, target_grams)
    return sum((t if layer_weights is None else layer_weights.get(name, 1.0) * t for name, t in terms.items()),
               features[next(iter(features))].new_zeros(()))


def gram_style_terms(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-layer relative Gram errors (unweighted), so a caller can weigh them without computing Grams twice."""
    out = {}
    for name, target in target_grams.items():
        g = gram_matrix(features[name])
        out[name] = F.mse_loss(g, target.expand_as(g)) / target.pow(2).mean().clamp_min(1e-12)
    return out


def mean_std_style_loss(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """AdaIN's style loss (Huang & Belongie eq. 12): match per-channel mean and std per layer, relative:
    each layer's term is divided by the target statistics' energy (mean of mu^2 + sigma^2), as the Gram loss
    above does. With our Caffe-scale VGG the raw sum is ~20x more relu1_1/relu2_1 (colour) than relu4_1, and
    dwarfs the content term.
    """
    total = features[next(iter(features))].new_zeros(())
    for name, target in targets.items():
        m, s = calc_mean_std(features[name])
        tm, ts = calc_mean_std(target)
        term = F.mse_loss(m, tm) + F.mse_loss(s, ts)
        total = total + term / (tm.pow(2).mean() + ts.pow(2).mean()).detach().clamp_min(1e-6)
    return total


def _luma(image: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of an RGB batch (N x 3 x H x W, 0..1) as N x 1 x H x W."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


LAYOUT_POOL = 8  # px: the light-layout loss compares the luma of blocks this size


def layout_loss(out: torch.Tensor, photo: torch.Tensor, pool: int = LAYOUT_POOL) -> torch.Tensor:
    """Light layout: the photo's large-scale pattern of light and dark must survive stylization.

    Both images' luma is averaged over ``pool`` x ``pool`` blocks and standardised per image (zero mean,
    unit std over the blocks), then compared by MSE, which for standardised maps is 2 x (1 - their
    correlation): 0 = the layout kept, 2 = unrelated, 4 = inverted. A global tint, brightening or contrast
    change costs nothing, and neither does texture finer than a block (where the Gram losses put the
    painting's strokes); a dark blotch laid on a bright lawn, or a bright one in a shadow, does. Per-image
    Gram losses let a fast net spread the painting's colours as blotches over flat regions, since relu2_2
    content barely sees a low-frequency change; Gatys, starting from the photo, keeps its light layout
    (the side-by-side sheets of docs/models/README.md)."""
    def blocks(image: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(_luma(image.float()), pool, ceil_mode=True).flatten(1)
        y = y - y.mean(dim=1, keepdim=True)
        # floored std: a flat photo (no layout to keep) gives a near-zero map instead of amplified noise
        return y / y.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(0.02)
    return F.mse_loss(blocks(out), blocks(photo).detach())


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (mean absolute neighbour difference): smooths high-frequency noise."""
    dh = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs().mean()
    dw = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean()
    return dh + dw


def shifted_frame_loss(net_out_fn, x: torch.Tensor, out: torch.Tensor, shift: tuple[int, int], crop: int,
                       noise: torch.Tensor | None = None, border: int = 8) -> torch.Tensor:
    """Output temporal loss on a synthetic second frame whose motion is known exactly (ReCoNet's output
    term with flow we do not have to estimate): frame 2 = the photo moved by ``shift`` = (dy, dx) px, cropped
    ``crop`` px smaller, plus ``noise``; its stylization must equal the first output moved the same way.
    Compared away from the ``border``, where padding legitimately differs. MSE on the 0..1 scale."""
    dy, dx = shift
    h, w = x.shape[-2] - crop, x.shape[-1] - crop
    frame2 = x[..., dy:dy + h, dx:dx + w]
    if noise is not None:
        frame2 = (frame2 + noise[..., :h, :w]).clamp(0, 1)
    out2 = net_out_fn(frame2)
    moved = out[..., dy:dy + h, dx:dx + w]
    b = border
    return F.mse_loss(out2[..., b:h - b, b:w - b], moved[..., b:h - b, b:w - b])

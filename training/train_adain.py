"""Train AdaIN's decoder (Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization", ICCV 2017).

L = L_c + lambda * L_s with
L_c = || f(g(t)) - t ||^2                      (content loss against the AdaIN target t, not the photo)
L_s = sum_i ||mu(phi_i(g(t))) - mu(phi_i(s))||^2 + ||sigma(phi_i(g(t))) - sigma(phi_i(s))||^2
over relu1_1, relu2_1, relu3_1, relu4_1, both relative (L_c over ||t||^2, each layer's L_s term over the
target statistics' energy), so the layers weigh evenly. The encoder f (our VGG-16 to relu4_1) stays fixed.
With skip layers (``--skip-layers``), t is the AdaIN target at relu4_1 and at each skip layer; the content
loss stays the paper's (relu4_1).
"""
from __future__ import annotations

import random
from pathlib import Path

import torch

from .checkpoint import lineage, read_checkpoint, total_steps
from .common import pick_device
from .config import AdaINTrainConfig
from .data import ImageFolderStream, list_images, save_contact_sheet, to_pil
from .loop import TrainLoop
from .losses import content_loss, mean_std_style_loss
from .models.adain import ENCODER_LAYER, AdaINConfig, AdaINDecoder, AdaINNet, adain_targets, stats_of
from .models.vgg import LAYER_ORDER, load_vgg16
from .train_fast import _amp_mode, autocast_for, load_holdout


def encoder_layers(*groups: list[str]) -> list[str]:
    """The union of layer lists, in the encoder's order."""
    return sorted(set().union(*groups), key=LAYER_ORDER.index)


def adain_losses(net: AdaINNet, content: torch.Tensor, style: torch.Tensor, layers: list[str], amp: str = "none",
                 content_feats: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(relative content loss against the AdaIN target, relative mean/std style loss). Forward passes under
    ``amp``'s autocast; statistics and losses in fp32. ``content_feats``: the photo's encoder features at
    least at ``net.stats_layers``, when already computed."""
    device = content.device
    stats_layers = net.stats_layers
    with torch.no_grad(), autocast_for(amp, device):
        c_feats = content_feats if content_feats is not None else net.encoder(content, stats_layers)
        s_feats = net.encoder(style, encoder_layers(layers, stats_layers))
    s_feats = {k: v.float() for k, v in s_feats.items()}
    targets = adain_targets({k: c_feats[k].float() for k in stats_layers}, *stats_of(s_feats, stats_layers),
                            stats_layers)
    t = targets[ENCODER_LAYER]
    with autocast_for(amp, device):
        out = net.decode(targets)
        o_feats = net.encoder(out, encoder_layers(layers, [ENCODER_LAYER]))  # the content loss reads relu4_1
    o_feats = {k: v.float() for k, v in o_feats.items()}
    loss_c = content_loss(o_feats[ENCODER_LAYER], t)
    loss_s = mean_std_style_loss({k: o_feats[k] for k in layers}, {k: s_feats[k] for k in layers})
    return loss_c, loss_s


def identity_loss(net: AdaINNet, content: torch.Tensor, content_feats: dict[str, torch.Tensor], layers: list[str],
                  amp: str = "none") -> torch.Tensor:
    """SANet's identity loss (Park & Lee 2019): the decoder also rebuilds each photo from its own features
    (AdaIN of a photo with its own statistics is the identity), scored by pixel L1 plus the relative feature
    loss on every style layer. It teaches the decoder the photo's structure directly, which the AdaIN
    losses (relu4_1 content only) teach slowly: people and thin objects survive decoding."""
    with autocast_for(amp, content.device):
        out = net.decode({k: content_feats[k] for k in net.stats_layers})
        o_feats = net.encoder(out, layers)
    pixels = (out.float() - content).abs().mean()
    return pixels + sum(content_loss(o_feats[k].float(), content_feats[k].float()) for k in layers)


@torch.no_grad()
def evaluate_adain(net: AdaINNet, contents: list[torch.Tensor], styles: list[torch.Tensor],
                   layers: list[str]) -> dict[str, float]:
    device = next(net.decoder.parameters()).device
    c_sum = s_sum = 0.0
    n = 0
    for c in contents:
        for s in styles:
            lc, ls = adain_losses(net, c[None].to(device), s[None].to(device), layers)
            c_sum, s_sum, n = c_sum + lc.item(), s_sum + ls.item(), n + 1
    return {"content": c_sum / n, "style": s_sum / n}


@torch.no_grad()
def adain_sheet(net: AdaINNet, contents: list[torch.Tensor], styles: list[torch.Tensor], path: Path) -> Path:
    device = next(net.decoder.parameters()).device
    rows = [[to_pil(torch.ones(3, 8, 8))] + [to_pil(s) for s in styles]]
    for c in contents:
        row = [to_pil(c)]
        for s in styles:
            mean, std = net.style_stats(s[None].to(device))
            row.append(to_pil(net.stylize(c[None].to(device), mean, std, 1.0)[0]))
        rows.append(row)
    return save_contact_sheet(rows, path)


def init_decoder(decoder: AdaINDecoder, path: str, log=print) -> int:
    """Fine-tuning start: another AdaIN checkpoint's decoder weights, loaded strictly. Its config may differ
    only in what has no parameters (the upsampling mode), so a bilinear decoder can start from a nearest one
    and keep what it learned. Returns the steps behind those weights (for the run's lineage)."""
    blob = read_checkpoint(path)
    if blob["family"] != "adain":
        raise ValueError(f"--init-from {path}: a {blob['family']!r} checkpoint, not an AdaIN decoder")
    theirs = AdaINConfig(**blob["config"])
    ours = decoder.config
    if (theirs.width_divisor, theirs.skip_layers) != (ours.width_divisor, ours.skip_layers):
        raise ValueError(f"--init-from {path}: its decoder (width/{theirs.width_divisor}, skips {theirs.skip_layers}) "
                         f"is not this run's (width/{ours.width_divisor}, skips {ours.skip_layers})")
    decoder.load_state_dict(blob["model"])
    log(f"initialised from {path} (step {blob.get('step', 0)}, {total_steps(blob)} in all; "
        f"{theirs.upsample} -> {ours.upsample} upsampling)")
    return total_steps(blob)


def adain_net_config(cfg: AdaINTrainConfig) -> AdaINConfig:
    """The decoder a run trains."""
    return AdaINConfig(width_divisor=cfg.width_divisor, skip_layers=list(cfg.skip_layers), upsample=cfg.upsample)


def train_adain(cfg: AdaINTrainConfig, log=print) -> Path:
    if cfg.identity_weight < 0:
        raise ValueError("identity_weight must be >= 0")
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    encoder = load_vgg16(cfg.vgg_weights or None, last_layer=ENCODER_LAYER).to(device)
    model_cfg = adain_net_config(cfg)
    decoder = AdaINDecoder(model_cfg).to(device)
    net = AdaINNet(encoder, decoder)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    loop = TrainLoop(cfg, "adain", decoder, model_cfg, opt, log=log, loss_network="vgg16-hed")
    steps_before = init_decoder(decoder, cfg.init_from, log) if loop.step == 0 and cfg.init_from else 0
    contents = ImageFolderStream(cfg.content_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step)
    styles = ImageFolderStream(cfg.style_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step + 1)
    hold_c = load_holdout(cfg.holdout or [str(p) for p in list_images(cfg.content_dir)[:4]])
    hold_s = load_holdout(cfg.holdout_styles or [str(p) for p in list_images(cfg.style_dir)[:4]])
    skips = f", skips from {', '.join(model_cfg.skip_layers)}" if model_cfg.skip_layers else ""
    log(f"AdaIN decoder (width/{cfg.width_divisor}{skips}, {model_cfg.upsample} upsampling) on {device}: {len(contents)} content, {len(styles)} style images")

    def evaluate() -> dict[str, float]:
        return evaluate_adain(net, hold_c, hold_s, cfg.style_layers)

    amp = _amp_mode(cfg, device, log)

    def step_fn(step: int) -> dict[str, float]:
        for group in opt.param_groups:
            group["lr"] = cfg.lr / (1.0 + cfg.lr_decay * step)
        content = contents.next_batch().to(device)
        feats = None
        if cfg.identity_weight > 0:
            with torch.no_grad(), autocast_for(amp, device):
                feats = net.encoder(content, encoder_layers(cfg.style_layers, net.stats_layers))
        lc, ls = adain_losses(net, content, styles.next_batch().to(device), cfg.style_layers, amp, feats)
        loss = lc + cfg.style_weight * ls
        parts = {"content": lc.item(), "style": ls.item()}
        if feats is not None:
            li = identity_loss(net, content, feats, cfg.style_layers, amp)
            loss = loss + cfg.identity_weight * li
            parts["identity"] = li.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return parts

    if loop.step == 0:  # a fine-tuning run's lineage stays in its first entry, as for fast nets
        loop.history.append({"step": 0, "heldout": evaluate(), **lineage(cfg.init_from, steps_before)})
    decoder.train()
    keys = ("content", "style") + (("identity",) if cfg.identity_weight > 0 else ())
    loop.run(step_fn, sample=lambda path: adain_sheet(net, hold_c, hold_s, path), progress_keys=keys)
    decoder.eval()
    heldout = evaluate()
    return loop.finish({"heldout": heldout}, summary=f"; held-out {loop.history[0].get('heldout')} -> {heldout}")

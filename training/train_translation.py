"""Unpaired image-to-image translation: U-GAT-IT (Kim et al., 2020) and CycleGAN (Zhu et al., 2017) from one
trainer. Sources: Kim, Kim, Kang & Lee, "U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive
Layer-Instance Normalization for Image-to-Image Translation", ICLR 2020, with the layer tables and weights of
Xiangtian Li's re-implementation report "Neural Style Transfer" (UC Berkeley, undated); Zhu, Park, Isola &
Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks", ICCV 2017, with the
settings of Jianzhi Long and Zi Zhang's report "Style Transfer Between Human and Anime Faces" (UC San Diego,
undated).

Both: LSGAN adversarial loss, cycle L1, identity L1, Adam(beta1 = 0.5), batch 1, an image pool of past
fakes for the discriminators (Shrivastava et al., "Learning from Simulated and Unsupervised Images through
Adversarial Training", CVPR 2017; Long and Zhang use it with p = 0.5), linear lr decay.
U-GAT-IT adds a global and a local discriminator per domain, the CAM terms (discriminator CAM logits in
the LSGAN loss, the generator's CAM classifier with BCE) and clips every rho to [0, 1] after each step:
    L_G = 1 * L_lsgan + 10 * L_cycle + 10 * L_identity + 1000 * L_cam       (Kim et al.; Li's report)
CycleGAN: one PatchGAN per domain, L_G = L_lsgan + 10 * L_cycle + 5 * L_identity, discriminator loss
halved. Adam is element-wise, so one optimiser over both discriminators equals one each.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from .common import pick_device
from .config import TranslationTrainConfig
from .data import ImageFolderStream, list_images, save_contact_sheet, to_pil
from .loop import TrainLoop
from .models.ugatit import CycleGANConfig, UGATITConfig, build_translation_nets, clip_rho
from .train_fast import load_holdout


class ImagePool:
    """History of generated images: once full, each query returns an old fake with probability 1/2
    (and stores the new one in its place), so the discriminator does not forget earlier modes."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return batch.detach()  # the discriminator step must never reach the generators' graph
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() < 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


def model_config(cfg: TranslationTrainConfig) -> UGATITConfig | CycleGANConfig:
    if cfg.mode == "ugatit":
        return UGATITConfig(ngf=cfg.ngf, n_blocks=cfg.n_blocks, img_size=cfg.image_size, light=cfg.light, ndf=cfg.ndf,
                            global_layers=cfg.global_layers, local_layers=cfg.local_layers)
    return CycleGANConfig(ngf=cfg.ngf, n_blocks=cfg.n_blocks, ndf=cfg.ndf)


def _mse_to(x: torch.Tensor, value: float) -> torch.Tensor:
    return F.mse_loss(x, torch.full_like(x, value))


def _bce_to(x: torch.Tensor, value: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, value))


class TranslationLosses:
    """The two updates of one training step, as functions of the nets (so tests can call them directly)."""

    def __init__(self, family: str, nets: dict[str, torch.nn.Module], weights: dict[str, float]) -> None:
        self.family, self.nets, self.w = family, nets, weights
        n = nets
        # discriminators that judge each domain
        self.dis_a = [n["disGA"], n["disLA"]] if family == "ugatit" else [n["disA"]]
        self.dis_b = [n["disGB"], n["disLB"]] if family == "ugatit" else [n["disB"]]

    def _adv_d(self, dis, real, fake) -> torch.Tensor:
        loss = real.new_zeros(())
        for d in dis:
            r_out, r_cam, _ = d(real)
            f_out, f_cam, _ = d(fake)
            loss = loss + _mse_to(r_out, 1.0) + _mse_to(f_out, 0.0)
            if r_cam is not None:
                loss = loss + _mse_to(r_cam, 1.0) + _mse_to(f_cam, 0.0)
        return loss

    def _adv_g(self, dis, fake) -> torch.Tensor:
        loss = fake.new_zeros(())
        for d in dis:
            out, cam, _ = d(fake)
            loss = loss + _mse_to(out, 1.0) + (_mse_to(cam, 1.0) if cam is not None else 0.0)
        return loss

    def discriminator(self, real_a, real_b, fake_b2a, fake_a2b) -> torch.Tensor:
        loss = self._adv_d(self.dis_a, real_a, fake_b2a) + self._adv_d(self.dis_b, real_b, fake_a2b)
        scale = 1.0 if self.family == "ugatit" else 0.5  # CycleGAN as Long and Zhang train it: D loss halved
        return self.w["adv"] * scale * loss

    def forward(self, real_a, real_b) -> dict[str, torch.Tensor]:
        """Every generator output one step needs, with gradients; the D update reuses the two fakes (detached)."""
        a2b, b2a = self.nets["genA2B"], self.nets["genB2A"]
        fw: dict[str, torch.Tensor] = {}
        fw["a2b"], fw["cam_a2b"], _ = a2b(real_a)
        fw["b2a"], fw["cam_b2a"], _ = b2a(real_b)
        fw["a2b2a"] = b2a(fw["a2b"])[0]
        fw["b2a2b"] = a2b(fw["b2a"])[0]
        fw["a2a"], fw["cam_a2a"], _ = b2a(real_a)
        fw["b2b"], fw["cam_b2b"], _ = a2b(real_b)
        return fw

    def generator(self, real_a, real_b, fw: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The generators' loss, judged by the discriminators as they are now."""
        fw = self.forward(real_a, real_b) if fw is None else fw
        adv = self._adv_g(self.dis_a, fw["b2a"]) + self._adv_g(self.dis_b, fw["a2b"])
        cycle = F.l1_loss(fw["a2b2a"], real_a) + F.l1_loss(fw["b2a2b"], real_b)
        identity = F.l1_loss(fw["a2a"], real_a) + F.l1_loss(fw["b2b"], real_b)
        cam = real_a.new_zeros(())
        if fw["cam_a2b"] is not None:
            # each generator's CAM classifier tells its source domain (1) from its target domain (0)
            cam = (_bce_to(fw["cam_a2b"], 1.0) + _bce_to(fw["cam_b2b"], 0.0) + _bce_to(fw["cam_b2a"], 1.0)
                   + _bce_to(fw["cam_a2a"], 0.0))
        total = self.w["adv"] * adv + self.w["cycle"] * cycle + self.w["identity"] * identity + self.w["cam"] * cam
        parts = {"adv": adv.item(), "cycle": cycle.item(), "identity": identity.item(), "cam": cam.item()}
        return total, parts


@torch.no_grad()
def translation_sheet(nets, hold_a: list[torch.Tensor], hold_b: list[torch.Tensor], path: Path) -> Path:
    """Rows: A, A->B, A->B->A for each held-out A; then B, B->A, B->A->B."""
    device = next(nets["genA2B"].parameters()).device
    rows = []
    for images, fwd, back in ((hold_a, nets["genA2B"], nets["genB2A"]), (hold_b, nets["genB2A"], nets["genA2B"])):
        for x in images:
            x = x[None].to(device) * 2 - 1
            y = fwd(x)[0]
            rows.append([to_pil((t[0] + 1) / 2) for t in (x, y, back(y)[0])])
    return save_contact_sheet(rows, path)


@torch.no_grad()
def heldout_cycle(nets, hold_a, hold_b) -> float:
    """Mean L1 of A->B->A and B->A->B on the held-out images (in [-1, 1] units)."""
    device = next(nets["genA2B"].parameters()).device
    total, n = 0.0, 0
    for images, fwd, back in ((hold_a, nets["genA2B"], nets["genB2A"]), (hold_b, nets["genB2A"], nets["genA2B"])):
        for x in images:
            x = x[None].to(device) * 2 - 1
            total += F.l1_loss(back(fwd(x)[0])[0], x).item()
            n += 1
    return total / max(n, 1)


class TranslationStep:
    """One step: the discriminators on pooled fakes, then the generators against the updated
    discriminators. None when a loss is non-finite (it never reaches the weights; the data order moves on)."""

    def __init__(self, cfg: TranslationTrainConfig, nets: dict[str, torch.nn.Module], losses: TranslationLosses,
                 opts: dict[str, torch.optim.Optimizer], streams: tuple[ImageFolderStream, ImageFolderStream]) -> None:
        self.cfg, self.nets, self.losses, self.opt_g, self.opt_d = cfg, nets, losses, opts["G"], opts["D"]
        self.lr = cfg.resolved()["lr"]
        self.stream_a, self.stream_b = streams
        self.pool_a, self.pool_b = ImagePool(cfg.pool_size, cfg.seed), ImagePool(cfg.pool_size, cfg.seed + 1)
        self.device = next(nets["genA2B"].parameters()).device

    def decay_lr(self, step: int) -> None:
        cfg = self.cfg
        if step > cfg.decay_from and cfg.max_steps > cfg.decay_from:
            lr = self.lr * max(0.0, (cfg.max_steps - step) / (cfg.max_steps - cfg.decay_from))
            for group in (*self.opt_g.param_groups, *self.opt_d.param_groups):
                group["lr"] = lr

    def __call__(self, step: int) -> dict[str, float] | None:
        self.decay_lr(step)
        real_a = self.stream_a.next_batch().to(self.device) * 2 - 1
        real_b = self.stream_b.next_batch().to(self.device) * 2 - 1
        fw = self.losses.forward(real_a, real_b)  # one generator pass serves both updates
        # discriminators first, on pooled (detached) fakes
        d_loss = self.losses.discriminator(real_a, real_b, self.pool_a.query(fw["b2a"]), self.pool_b.query(fw["a2b"]))
        self.opt_d.zero_grad(set_to_none=True)
        if math.isfinite(d_loss.item()):
            d_loss.backward()
            self.opt_d.step()
        # generators, against the updated discriminators
        g_loss, parts = self.losses.generator(real_a, real_b, fw)
        self.opt_g.zero_grad(set_to_none=True)
        if not (math.isfinite(d_loss.item()) and math.isfinite(g_loss.item())):
            return None
        g_loss.backward()
        self.opt_g.step()
        for name, net in self.nets.items():
            if name.startswith("gen"):
                clip_rho(net)
        return {"D": d_loss.item(), "G": g_loss.item(), **parts}


def train_translation(cfg: TranslationTrainConfig, log=print) -> Path:
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    family, mcfg, hp = cfg.mode, model_config(cfg), cfg.resolved()
    nets = {k: v.to(device) for k, v in build_translation_nets(family, mcfg).items()}
    opts = {group: torch.optim.Adam([p for k, net in nets.items() if k.startswith(prefix) for p in net.parameters()],
                                    lr=hp["lr"], betas=(0.5, 0.999), weight_decay=cfg.weight_decay)
            for group, prefix in (("G", "gen"), ("D", "dis"))}
    losses = TranslationLosses(family, nets, {"adv": cfg.adv_weight, "cycle": cfg.cycle_weight,
                                              "identity": hp["identity_weight"], "cam": hp["cam_weight"]})
    loop = TrainLoop(cfg, family, nets, mcfg, opts, log=log)
    streams = tuple(ImageFolderStream(folder, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step + i,
                                      load_size=cfg.load_size) for i, folder in enumerate((cfg.a, cfg.b)))
    hold_a = load_holdout(cfg.holdout_a or [str(p) for p in list_images(cfg.a)[:3]], cfg.image_size)
    hold_b = load_holdout(cfg.holdout_b or [str(p) for p in list_images(cfg.b)[:3]], cfg.image_size)
    log(f"{family} ({'light' if getattr(mcfg, 'light', False) else 'full'}) on {device}: "
        f"{len(streams[0])} A images, {len(streams[1])} B images, weights {losses.w}")
    step_fn = TranslationStep(cfg, nets, losses, opts, streams)
    for net in nets.values():
        net.train()
    loop.run(step_fn, sample=lambda path: translation_sheet(nets, hold_a, hold_b, path), progress_keys=("D", "G", "cycle"),
             skipped_steps_count=True)
    for net in nets.values():
        net.eval()
    cycle = heldout_cycle(nets, hold_a, hold_b)
    return loop.finish({"heldout_cycle_l1": cycle}, {"skipped": loop.skipped},
                       summary=f" ({loop.skipped} non-finite steps skipped); held-out cycle L1 {cycle:.4f}")

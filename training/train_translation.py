"""Unpaired image-to-image translation: U-GAT-IT (seed 000) and CycleGAN (seed 003) from one trainer.

Both: LSGAN adversarial loss, cycle L1, identity L1, Adam(beta1 = 0.5), batch 1, an image pool of past
fakes for the discriminators (Shrivastava et al.; seed 003 uses it with p = 0.5), linear lr decay.
U-GAT-IT adds a global and a local discriminator per domain, the CAM terms (discriminator CAM logits in
the LSGAN loss, the generator's CAM classifier with BCE) and clips every rho to [0, 1] after each step:
    L_G = 1 * L_lsgan + 10 * L_cycle + 10 * L_identity + 1000 * L_cam       (seed 000)
CycleGAN: one PatchGAN per domain, L_G = L_lsgan + 10 * L_cycle + 5 * L_identity, discriminator loss
halved. Adam is element-wise, so one optimiser over both discriminators equals one each.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import read_checkpoint, save_translation_checkpoint
from .common import Budget, Progress, pick_device
from .config import TranslationTrainConfig
from .data import ImageFolderStream, contact_sheet, list_images, to_pil
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
        scale = 1.0 if self.family == "ugatit" else 0.5  # seed 003 halves the discriminator loss
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
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(rows).save(path)
    return path


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


def train_translation(cfg: TranslationTrainConfig, log=print) -> Path:
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    family = cfg.mode
    mcfg = model_config(cfg)
    nets = {k: v.to(device) for k, v in build_translation_nets(family, mcfg).items()}
    gens = [v for k, v in nets.items() if k.startswith("gen")]
    diss = [v for k, v in nets.items() if k.startswith("dis")]
    hp = cfg.resolved()
    opt_g = torch.optim.Adam([p for g in gens for p in g.parameters()], lr=hp["lr"], betas=(0.5, 0.999), weight_decay=cfg.weight_decay)
    opt_d = torch.optim.Adam([p for d in diss for p in d.parameters()], lr=hp["lr"], betas=(0.5, 0.999), weight_decay=cfg.weight_decay)
    losses = TranslationLosses(family, nets, {"adv": cfg.adv_weight, "cycle": cfg.cycle_weight,
                                              "identity": hp["identity_weight"], "cam": hp["cam_weight"]})
    last = out_dir / "last.pt"
    step, history = 0, []
    if last.exists():
        blob = read_checkpoint(last)
        if blob["family"] != family or blob["config"] != mcfg.to_dict():
            raise ValueError(f"{last} was trained with another model config; use a new --out-dir")
        for name, net in nets.items():
            net.load_state_dict(blob["model"][name])
        opt_g.load_state_dict(blob["optimizer"]["G"])
        opt_d.load_state_dict(blob["optimizer"]["D"])
        step, history = int(blob["step"]), list(blob.get("history", []))
        log(f"resuming from {last} at step {step}")
    stream_a = ImageFolderStream(cfg.a, cfg.image_size, cfg.batch_size, seed=cfg.seed + step, load_size=cfg.load_size)
    stream_b = ImageFolderStream(cfg.b, cfg.image_size, cfg.batch_size, seed=cfg.seed + step + 1, load_size=cfg.load_size)
    hold_a = load_holdout(cfg.holdout_a or [str(p) for p in list_images(cfg.a)[:3]], cfg.image_size)
    hold_b = load_holdout(cfg.holdout_b or [str(p) for p in list_images(cfg.b)[:3]], cfg.image_size)
    pool_a, pool_b = ImagePool(cfg.pool_size, cfg.seed), ImagePool(cfg.pool_size, cfg.seed + 1)
    log(f"{family} ({'light' if getattr(mcfg, 'light', False) else 'full'}) on {device}: "
        f"{len(stream_a)} A images, {len(stream_b)} B images, weights {losses.w}")

    def checkpoint() -> None:
        save_translation_checkpoint(last, family, nets, mcfg, optimizer={"G": opt_g.state_dict(), "D": opt_d.state_dict()},
                                    step=step, history=history, train_config=cfg.to_dict())

    budget = Budget(cfg.max_steps, cfg.time_budget_s)
    progress = Progress(cfg.max_steps, step)
    sums: dict[str, float] = {}
    skipped = 0
    for net in nets.values():
        net.train()
    while not budget.done(step):
        if step > cfg.decay_from and cfg.max_steps > cfg.decay_from:
            lr = hp["lr"] * max(0.0, (cfg.max_steps - step) / (cfg.max_steps - cfg.decay_from))
            for group in (*opt_g.param_groups, *opt_d.param_groups):
                group["lr"] = lr
        real_a = stream_a.next_batch().to(device) * 2 - 1
        real_b = stream_b.next_batch().to(device) * 2 - 1
        fw = losses.forward(real_a, real_b)  # one generator pass serves both updates
        # discriminators first, on pooled (detached) fakes
        d_loss = losses.discriminator(real_a, real_b, pool_a.query(fw["b2a"]), pool_b.query(fw["a2b"]))
        opt_d.zero_grad(set_to_none=True)
        if math.isfinite(d_loss.item()):
            d_loss.backward()
            opt_d.step()
        # generators, against the updated discriminators
        g_loss, parts = losses.generator(real_a, real_b, fw)
        opt_g.zero_grad(set_to_none=True)
        if not (math.isfinite(d_loss.item()) and math.isfinite(g_loss.item())):
            skipped += 1  # a non-finite loss never reaches the weights; the data order moves on
            step += 1
            continue
        g_loss.backward()
        opt_g.step()
        for g in gens:
            clip_rho(g)
        step += 1
        for k, v in {"D": d_loss.item(), "G": g_loss.item(), **parts}.items():
            sums[k] = sums.get(k, 0.0) + v
        if step % cfg.log_every == 0:
            history.append({"step": step, **{k: v / cfg.log_every for k, v in sums.items()}})
            sums = {}
            progress.update(step, D=history[-1]["D"], G=history[-1]["G"], cycle=history[-1]["cycle"])
        if step % cfg.sample_every == 0:
            translation_sheet(nets, hold_a, hold_b, out_dir / "samples" / f"step_{step:06d}.png")
        if step % cfg.checkpoint_every == 0:
            checkpoint()
    progress.close()
    for net in nets.values():
        net.eval()
    history.append({"step": step, "heldout_cycle_l1": heldout_cycle(nets, hold_a, hold_b), "seconds": budget.elapsed,
                    "skipped": skipped})
    checkpoint()
    translation_sheet(nets, hold_a, hold_b, out_dir / "samples" / "final.png")
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    log(f"done at step {step} in {budget.elapsed:.0f} s ({skipped} non-finite steps skipped); "
        f"held-out cycle L1 {history[-1]['heldout_cycle_l1']:.4f}")
    return last

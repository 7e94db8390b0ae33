"""A tiny fast net with bold rows and a style code, and learned styles for it: built here through the real
export path (random weights, tests only), for the boldness and learned-style tests of the CLI, the remote
control and renders on Ray. Import the fixture into a test module: ``from tests.bold_models import tiny_bold``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.learned import LearnedStyle


@dataclass(frozen=True)
class BoldNet:
    path: Path  # the exported .onnx: styles ink and fire, each with a faithful and a bold row
    faithful: np.ndarray  # a learned style's rows for this net (code_size float32)
    bold: np.ndarray
    code_id: str

    def learned(self, name: str = "mine", code_id: str | None = None) -> LearnedStyle:
        meta = {"code_id": self.code_id if code_id is None else code_id, "model": "tiny_bold", "painting": "p.png"}
        return LearnedStyle(name, self.faithful, self.bold, meta, np.zeros((8, 8, 3), np.uint8))


@pytest.fixture(scope="session")
def tiny_bold(tmp_path_factory) -> BoldNet:
    import torch

    from engine.modelfile import inspect_model
    from export.onnx_export import export_fast
    from training.checkpoint import save_checkpoint
    from training.models.transformer import FastNetConfig, TransformerNet

    folder = tmp_path_factory.mktemp("bold")
    torch.manual_seed(0)
    config = FastNetConfig(style_names=["ink", "fire"], channels=(4, 8, 8), n_residual=1, outer_kernel=3, bold=True)
    net = TransformerNet(config)
    with torch.no_grad():  # rows [ink, fire, ink bold, fire bold]: every row visibly its own
        for norm in net.norms():
            norm.beta[1] += 0.5
            norm.gamma[2:] *= 1.8
            norm.beta[2:] -= 0.4
        faithful = (net.row_code(1) + 0.3 * torch.randn(net.code_size)).numpy().astype(np.float32)
        bold = (net.row_code(3) - 0.3 * torch.randn(net.code_size)).numpy().astype(np.float32)
    save_checkpoint(folder / "tiny_bold.pt", "fast", net, config)
    result = export_fast(folder / "tiny_bold.pt", folder / "tiny_bold.onnx")
    assert result.parity_max_abs < 1e-4
    info = inspect_model(result.paths[0])
    assert info.bold and info.code_size == faithful.size and info.code_id
    return BoldNet(result.paths[0], faithful, bold, info.code_id)

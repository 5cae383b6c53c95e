"""Learned aggregators in PyTorch: [T, F, D] frame descriptors -> [T, D] unit track descriptors.

Both weigh the track's unit frame descriptors and L2-normalize the weighted sum, so the
result stays in the references' space whatever was learned, and both are invariant to
the order of frames and take any frame count (the ONNX graph keeps F dynamic).

- `attention`: a content weight per frame from a small MLP (a frame's look says how good
  it is). Sharp and fragile: a foreign frame that looks good gets a large weight.
- `gated`: the same content weight, gated by the frame's agreement with the track's
  robust centre (the frames weighted by their mean similarity to the others, a soft
  medoid); a frame of someone else disagrees with the centre and its weight collapses,
  whatever it looks like. No median: torch.median does not export to ONNX opset 17.
"""

from __future__ import annotations

import torch
from torch import nn

EPSILON = 1e-12
ARCHITECTURES = ("gated", "attention")


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(EPSILON)


class ContentWeights(nn.Module):
    """A logit per frame from the frame's unit descriptor and its log norm: [T, F, D] -> [T, F]."""

    def __init__(self, dim: int, hidden: int) -> None:
        """An MLP D+1 -> hidden -> 1."""
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim + 1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, frames: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        """Return the content logits [T, F] of `frames` (raw) and `unit` (their unit versions)."""
        log_norm = frames.norm(dim=-1, keepdim=True).clamp_min(EPSILON).log()
        return self.mlp(torch.cat([unit, log_norm], dim=-1)).squeeze(-1)


class AttentionAggregator(nn.Module):
    """Softmax over frames of the content logits; the weighted sum of unit frames, L2-normalized."""

    def __init__(self, dim: int = 128, hidden: int = 32) -> None:
        """A content MLP of `hidden` units over `dim`-dimensional descriptors."""
        super().__init__()
        self.content = ContentWeights(dim, hidden)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Return the unit track descriptors [T, D] of `frames` [T, F, D]."""
        unit = _unit(frames)
        weights = torch.softmax(self.content(frames, unit), dim=1)
        return _unit((weights.unsqueeze(-1) * unit).sum(dim=1))


class GatedAggregator(nn.Module):
    """Content logits plus a learned gate on each frame's cosine to the track's soft medoid.

    logit_i = content_i + log sigmoid(scale * (cos(frame_i, centre) - threshold)): the gate
    is about 1 for frames that agree with the centre and drives the weight to 0 below the
    threshold. The centre weighs frames by softmax(sharpness * mean cosine to all frames).
    """

    def __init__(self, dim: int = 128, hidden: int = 32) -> None:
        """A content MLP of `hidden` units; gate threshold 0.5, scale 20 and centre sharpness 10 to start."""
        super().__init__()
        self.content = ContentWeights(dim, hidden)
        self.threshold = nn.Parameter(torch.tensor(0.5))
        self.log_scale = nn.Parameter(torch.tensor(3.0))
        self.log_sharpness = nn.Parameter(torch.tensor(2.3))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Return the unit track descriptors [T, D] of `frames` [T, F, D]."""
        unit = _unit(frames)
        consistency = torch.matmul(unit, unit.transpose(1, 2)).mean(dim=2)
        centre = _unit((torch.softmax(self.log_sharpness.exp() * consistency, dim=1).unsqueeze(-1) * unit).sum(dim=1))
        agreement = (unit * centre.unsqueeze(1)).sum(dim=-1)
        gate = nn.functional.logsigmoid(self.log_scale.exp() * (agreement - self.threshold))
        weights = torch.softmax(self.content(frames, unit) + gate, dim=1)
        return _unit((weights.unsqueeze(-1) * unit).sum(dim=1))


def build(arch: str, dim: int = 128, hidden: int = 32) -> nn.Module:
    """Return a new aggregator of architecture `arch` (one of ARCHITECTURES) for `dim`-dimensional descriptors.

    Raises ValueError for an unknown architecture.
    """
    if arch == "gated":
        return GatedAggregator(dim, hidden)
    if arch == "attention":
        return AttentionAggregator(dim, hidden)
    raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")

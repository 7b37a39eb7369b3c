"""Segmentation losses: soft Dice + cross-entropy (the nnU-Net default)."""

from __future__ import annotations

import torch
from torch import nn


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, include_background: bool = False, eps: float = 1e-5) -> torch.Tensor:
    """1 - mean soft Dice over classes, pooled over the batch ("batch Dice").

    Parameters
    ----------
    logits : Tensor of shape (batch, n_classes, *spatial)
    target : LongTensor of shape (batch, *spatial)
        Class indices.
    include_background : bool, default=False
        Whether class 0 enters the mean.

    Notes
    -----
    For class ``c`` with softmax probabilities ``p`` and one-hot ``y``:
    ``Dice_c = (2 sum p y + eps) / (sum p + sum y + eps)``, sums over the batch and all voxels,
    which keeps classes absent from one slice from dominating (Isensee 2021).
    """
    n_classes = logits.shape[1]
    p = torch.softmax(logits, dim=1)
    y = nn.functional.one_hot(target.long(), n_classes).movedim(-1, 1).to(p.dtype)
    dims = (0, *range(2, p.ndim))
    inter = (p * y).sum(dims)
    denom = p.sum(dims) + y.sum(dims)
    dice = (2 * inter + eps) / (denom + eps)
    if not include_background:
        dice = dice[1:]
    return 1.0 - dice.mean()


class DiceCELoss(nn.Module):
    """``dice_weight * soft Dice loss + ce_weight * cross-entropy``."""

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0) -> None:
        super().__init__()
        self.dice_weight = dice_weight
        self.ce_weight = ce_weight
        self.ce = nn.CrossEntropyLoss()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.dice_weight * soft_dice_loss(logits, target) + self.ce_weight * self.ce(logits, target.long())

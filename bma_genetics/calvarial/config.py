"""Training settings of the calvarial profile network, apart from :mod:`.training` so that the
command line can show their defaults without importing torch (the CLI starts in a second)."""

from __future__ import annotations

from dataclasses import dataclass

from bma_genetics._check import fail


@dataclass(frozen=True)
class ProfileTrainConfig:
    """Training settings (defaults: the study's notebook).

    Attributes
    ----------
    epochs : int, default=100
    batch_size : int, default=8192
    lr : float, default=0.01
        Adam learning rate.
    validation_fraction : float, default=0.33
        Share of the (shuffled) profiles held out for the validation loss.
    hidden : tuple of int, default=(300, 100, 100)
    dropout : tuple of float, default=(0.1, 0.3, 0.3)
    seed : int, default=11
        Seeds the shuffle, the initial weights, dropout and batch order (the notebook's 11).
    threads : int, default=1
        torch CPU threads while training (restored afterwards).
    """

    epochs: int = 100
    batch_size: int = 8192
    lr: float = 0.01
    validation_fraction: float = 0.33
    hidden: tuple[int, ...] = (300, 100, 100)
    dropout: tuple[float, ...] = (0.1, 0.3, 0.3)
    seed: int = 11
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise fail(f"ProfileTrainConfig/{name}", f"expected an integer >= 1, found {v!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise fail("ProfileTrainConfig/lr", f"expected a number > 0, found {self.lr!r}")
        if not 0 <= self.validation_fraction < 1:
            raise fail("ProfileTrainConfig/validation_fraction", f"expected a value in [0, 1), found "
                                                                 f"{self.validation_fraction!r}")

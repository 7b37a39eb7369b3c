"""Training the calvarial profile network on simulated profiles (Kaufmann 2024).

The study's settings: Adam (learning rate 0.01), mean squared error on the boundaries / 50,
batch 8,192, a third of the profiles held out for validation, 100 epochs in the shared notebook
(300 in the paper). Training is seeded (torch and NumPy) and runs on the CPU; inference never
imports this module. The checkpoint (read by
:func:`bma_genetics.calvarial.inference.load_profile_model`) is a ``torch.save`` dict
``{"state_dict": ..., "meta": json string}`` loadable with ``weights_only=True``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bma_genetics._check import fail
from bma_genetics.calvarial.config import ProfileTrainConfig
from bma_genetics.calvarial.inference import normalise_profiles
from bma_genetics.calvarial.networks import ProfileNet
from bma_genetics.calvarial.profiles import N_SAMPLES, ProfileSet

log = logging.getLogger(__name__)


def train_profile_net(profiles: ProfileSet, config: ProfileTrainConfig = ProfileTrainConfig()) -> tuple[ProfileNet, dict[str, Any]]:
    """Fit a :class:`ProfileNet` to simulated profiles.

    Parameters
    ----------
    profiles : ProfileSet
        From :func:`bma_genetics.calvarial.profiles.simulate_profiles`.
    config : ProfileTrainConfig

    Returns
    -------
    (ProfileNet, dict)
        The network (eval mode) and the history: ``train_loss``, ``val_loss`` per epoch,
        ``n_train``, ``n_val``, ``seconds``.
    """
    if not isinstance(profiles, ProfileSet):
        raise fail("train_profile_net/profiles", f"expected a ProfileSet, found {type(profiles).__name__}")
    x = normalise_profiles(profiles.intensities, where="train_profile_net/profiles")
    y = profiles.boundaries.astype(np.float32) / np.float32(N_SAMPLES)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(x))
    n_val = int(round(config.validation_fraction * len(x)))
    val, tr = order[:n_val], order[n_val:]
    if len(tr) == 0:
        raise fail("train_profile_net/profiles", "no profiles left to train on")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        net = ProfileNet(N_SAMPLES, config.hidden, config.dropout, 6)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr)
        loss_fn = torch.nn.MSELoss()
        xt, yt = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
        xv, yv = torch.from_numpy(x[val]), torch.from_numpy(y[val])
        gen = torch.Generator().manual_seed(config.seed)
        hist: dict[str, Any] = {"train_loss": [], "val_loss": []}
        t0 = time.perf_counter()
        for _ in range(config.epochs):
            net.train()
            perm = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for lo in range(0, len(xt), config.batch_size):
                idx = perm[lo:lo + config.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            hist["train_loss"].append(total / len(xt))
            if n_val:
                net.eval()
                with torch.no_grad():
                    hist["val_loss"].append(float(loss_fn(net(xv), yv)))
        hist.update(n_train=int(len(tr)), n_val=int(n_val), seconds=round(time.perf_counter() - t0, 2))
    finally:
        torch.set_num_threads(old_threads)
    net.eval()
    log.info("profile network: %d epochs on %d profiles in %.1f s (validation MSE %s)", config.epochs, len(tr),
             hist["seconds"], f"{hist['val_loss'][-1]:.3g}" if hist["val_loss"] else "n/a")
    return net, hist


def save_profile_checkpoint(path: str | Path, net: ProfileNet, meta: dict[str, Any]) -> Path:
    """Write ``{"state_dict", "meta"}`` (meta as JSON, with the architecture under ``network``) atomically."""
    import os
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    body = {"state_dict": net.state_dict(), "meta": json.dumps({**meta, "network": net.config}, default=_json)}
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(body, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def _json(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def config_dict(config: ProfileTrainConfig) -> dict[str, Any]:
    """The settings as a JSON-able dict."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}

"""The recipe that produced the shipped weights (reproducible: ``python scripts/train_shipped_weights.py``).

A script, not a module of the package: it needs both the simulator (training volumes) and the
phenotypes stage's trainer, and a stage never imports ``simulate/``.

1. Simulate clean labelled Dixon volumes with random per-site fat fractions
   (:func:`bma_genetics.simulate.dixon.simulate_training_volumes`): training, validation and a
   held-out test set from disjoint seeds.
2. Train the 2.5D U-Net (:class:`~bma_genetics.phenotypes.training.TrainConfig` defaults) on
   CPU, keeping the best validation checkpoint; then fine-tune it from those weights with
   upper-thoracic and T12 patches oversampled (:func:`finetune_shipped`,
   ``python scripts/train_shipped_weights.py OUT.pt finetune:INIT.pt``).
3. Evaluate on the held-out set -- per-site Dice after side/level assignment, BMFF against the
   simulated truth -- and write the model card and the QC reference into the checkpoint.
4. The QC mask-volume reference: median and 1.4826 * MAD of the log volume of the model's own
   site masks on 80 more clean simulated volumes (seeds 404-407, :func:`build_qc_reference`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRAIN_SEED, VAL_SEED, TEST_SEED = 101, 202, 303
#: Seeds of the clean volumes behind the QC mask-volume reference (20 volumes each).
REFERENCE_SEEDS = (404, 405, 406, 407)


def _volumes(n: int, seed: int):
    from bma_genetics.phenotypes.training import Volume
    from bma_genetics.simulate.dixon import simulate_training_volumes

    raw = simulate_training_volumes(n, seed=seed)
    return [Volume.from_arrays(w, f, lab, eid=f"sim{seed}_{i}") for i, (w, f, lab, _) in enumerate(raw)], raw


def train_shipped(out: str | Path, *, n_train: int = 24, n_val: int = 4, max_minutes: float = 15.0, threads: int = 1,
                  init_checkpoint: str | Path | None = None, lr: float = 3e-3, max_steps: int = 3000,
                  focus_labels: tuple[int, ...] = (), focus_prob: float = 0.0, seed: int = 0,
                  note: str = "") -> dict[str, Any]:
    """Steps 1-2: simulate and train; returns the training summary.

    ``focus_labels``/``focus_prob`` oversample patches centred on those site label codes
    (:class:`~bma_genetics.phenotypes.training.TrainConfig`); ``note`` is stored in the summary
    (and so in the model card) to describe a multi-stage run.
    """
    import torch

    from bma_genetics.phenotypes.training import TrainConfig, train

    torch.set_num_threads(threads)
    t0 = time.time()
    train_vols, _ = _volumes(n_train, TRAIN_SEED)
    val_vols, _ = _volumes(n_val, VAL_SEED)
    log.info("simulated %d + %d volumes in %.0f s", n_train, n_val, time.time() - t0)
    # The first run had separate head and neck classes (0..4); they merged into one.
    cfg = TrainConfig(max_minutes=max_minutes, max_steps=max_steps, lr=lr, seed=seed,
                      focus_labels=tuple(focus_labels), focus_prob=focus_prob,
                      extra={"head_class_map": [[0], [1], [2, 3], [4]]})
    summary = train(train_vols, val_vols, config=cfg, out=out, init_checkpoint=init_checkpoint,
                    extra_meta={"training_data": f"{n_train} simulated volumes (seed {TRAIN_SEED}), "
                                                 f"{n_val} validation (seed {VAL_SEED}); bma_genetics.simulate.dixon"})
    if note:
        summary["note"] = note
    return summary


#: The fine-tune that produced the current shipped weights from the previous ones.
FINETUNE: dict[str, Any] = {"n_train": 40, "n_val": 4, "lr": 1e-3, "max_steps": 2400, "max_minutes": 40.0, "seed": 1,
                            "focus_labels": (7, 8, 9, 11, 17), "focus_prob": 0.4}


def finetune_shipped(out: str | Path, init_checkpoint: str | Path, **overrides: Any) -> dict[str, Any]:
    """Warm-started fine-tune (:data:`FINETUNE`): 40 % of patches centred on T7-T10 and T12 marrow.

    The shipped weights came from the previous ones this way (T8 held-out Dice 0.89 -> 0.95).
    """
    return train_shipped(out, init_checkpoint=init_checkpoint, **{**FINETUNE, **overrides})


def evaluate_held_out(checkpoint: str | Path, *, n_test: int = 8, seed: int = TEST_SEED, threads: int = 1) -> dict[str, Any]:
    """Per-site Dice and BMFF accuracy of a checkpoint on freshly simulated held-out volumes."""
    import torch

    from bma_genetics.phenotypes.bmff import assign_sites, measure, site_dice
    from bma_genetics.phenotypes.inference import load_model
    from bma_genetics.simulate.dixon import simulate_training_volumes

    torch.set_num_threads(threads)
    model = load_model(checkpoint)
    dice_rows, err_rows, site_maps = [], [], []
    t_inf = 0.0
    for w, f, lab, truth in simulate_training_volumes(n_test, seed=seed):
        t0 = time.time()
        sites = assign_sites(model.segment(w, f))
        t_inf += time.time() - t0
        dice_rows.append(site_dice(sites, lab))
        site_maps.append(sites)
        row = measure(w, f, sites, spacing=(3.0, 2.2, 2.2))
        err_rows.append({k: (row[k], truth[k]) for k in truth})
    dice = {k: float(np.nanmean([d[k] for d in dice_rows])) for k in dice_rows[0]}
    dice_min = {k: float(np.nanmin([d[k] for d in dice_rows])) for k in dice_rows[0]}
    pairs = np.array([v for r in err_rows for v in r.values()], dtype=float)
    ok = np.isfinite(pairs).all(1)
    return {
        "n_test": n_test,
        "seed": seed,
        "dice_mean": dice,
        "dice_min": dice_min,
        "bmff_r": float(np.corrcoef(pairs[ok, 0], pairs[ok, 1])[0, 1]),
        "bmff_mae": float(np.abs(pairs[ok, 0] - pairs[ok, 1]).mean()),
        "bmff_max_abs_error": float(np.abs(pairs[ok, 0] - pairs[ok, 1]).max()),
        "n_site_values": int(ok.sum()),
        "n_missing_sites": int((~ok).sum()),
        "seconds_per_volume": t_inf / n_test,
        "site_maps": site_maps,
    }


def build_qc_reference(checkpoint: str | Path, *, seeds: tuple[int, ...] = REFERENCE_SEEDS, n_per_seed: int = 20,
                       threads: int = 1) -> dict[str, Any]:
    """The QC reference of a checkpoint: its own site masks on clean simulated volumes.

    Per site, median and ``1.4826 * MAD`` of log mask volume (:func:`~bma_genetics.phenotypes.api.volume_reference`)
    over ``len(seeds) * n_per_seed`` volumes; expected coverage and station count of the geometry.
    """
    import torch

    from bma_genetics.phenotypes.api import volume_reference
    from bma_genetics.phenotypes.bmff import assign_sites
    from bma_genetics.phenotypes.inference import load_model
    from bma_genetics.simulate.dixon import DixonGeometry, simulate_training_volumes

    torch.set_num_threads(threads)
    model = load_model(checkpoint)
    maps = []
    for seed in seeds:
        for w, f, _, _ in simulate_training_volumes(n_per_seed, seed=seed):
            maps.append(assign_sites(model.segment(w, f)))
    geo = DixonGeometry()
    ref = volume_reference(maps, geo.spacing, geo.n_slices, geo.n_stations)
    ref["volume_source"] = f"{len(maps)} clean simulated volumes, seeds {', '.join(map(str, seeds))}"
    return ref


def finalise_shipped(checkpoint: str | Path, target_dir: str | Path, held_out: dict[str, Any], train_summary: dict[str, Any] | None = None,
                     reference: dict[str, Any] | None = None) -> Path:
    """Store held-out results and the QC reference in the checkpoint; write it and its model card.

    ``reference`` defaults to :func:`build_qc_reference` of ``checkpoint``.
    """
    import torch

    from bma_genetics._atomic import atomic_path, sha256_file, write_text

    # The mask-volume reference describes what this model produces on good images: its own
    # site masks on clean volumes (true label volumes would flag its systematic
    # over/under-segmentation); robust (median, MAD) so its own rare failures do not widen it.
    ref = build_qc_reference(checkpoint) if reference is None else reference
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    meta = json.loads(ckpt["meta"])
    meta["reference"] = ref
    meta["held_out_dice"] = held_out["dice_mean"]
    meta["held_out_bmff"] = {k: held_out[k] for k in ("bmff_r", "bmff_mae", "bmff_max_abs_error", "n_test")}
    meta.pop("history", None)
    target_dir = Path(target_dir)
    target = target_dir / "bmff_unet2d.pt"
    with atomic_path(target) as tmp:
        torch.save({"state_dict": ckpt["state_dict"], "meta": json.dumps(meta, default=float)}, tmp)
    sha = sha256_file(target)
    tc = meta["train_config"]
    minutes = "" if train_summary is None else f", {train_summary['minutes']:.1f} min"
    if train_summary and train_summary.get("note"):
        minutes += f"; {train_summary['note']}"
    lines = [
        "# Model card: bmff_unet2d (shipped marrow segmentation weights)",
        "",
        f"- File: `bma_genetics/data/models/bmff_unet2d.pt` ({target.stat().st_size / 1e6:.2f} MB), sha256 `{sha}`",
        f"- Architecture: 2.5D U-Net (per axial slice; input water + fat of the slice and {meta['context']} "
        f"neighbour(s) either side = {meta['network']['in_channels']} channels), levels {meta['network']['features']}, "
        f"instance norm, leaky ReLU, attention gates: {meta['network']['attention']}; "
        f"{meta['n_parameters']:,} parameters; output {len(meta['classes'])} classes {meta['classes']}.",
        f"- Training data: {meta.get('training_data', '')}. Synthetic only: the phantom of "
        "`bma_genetics.simulate.dixon` (UK Biobank-like geometry 2.2 x 2.2 x 3 mm, three stations, "
        "bias field, Rician noise, partial volume), random per-site marrow fat fractions "
        "(femoral 0.35-0.97, vertebral 0.10-0.90). Not validated on real UK Biobank images.",
        f"- Training: Dice + cross-entropy, AdamW lr {tc['lr']}, batch {tc['batch_size']} patches of "
        f"{tc['patch']} px, seeded augmentation (flip, gain, water/fat gain, noise); best validation "
        f"checkpoint at step {meta.get('step')} (validation Dice {meta.get('val_dice', float('nan')):.4f}); "
        f"CPU, 1 torch thread{minutes}.",
        f"- Recipe: `python scripts/train_shipped_weights.py OUT.pt [MINUTES]` from scratch, "
        f"`python scripts/train_shipped_weights.py OUT.pt finetune:INIT.pt` for the fine-tune (seeds train {TRAIN_SEED}, "
        f"validation {VAL_SEED}, held-out test {TEST_SEED}, QC reference {', '.join(map(str, REFERENCE_SEEDS))}).",
        "",
        f"## Held-out Dice per site ({held_out['n_test']} simulated volumes, seed {held_out['seed']})",
        "",
        "| site | mean Dice | min Dice |",
        "|---|---|---|",
        *[f"| {k} | {v:.3f} | {held_out['dice_min'][k]:.3f} |" for k, v in held_out["dice_mean"].items()],
        "",
        "## Held-out BMFF against the simulated truth (all per-site values pooled)",
        "",
        f"- r = {held_out['bmff_r']:.4f}, MAE = {100 * held_out['bmff_mae']:.3f} percentage points, "
        f"max |error| = {100 * held_out['bmff_max_abs_error']:.2f} pp, {held_out['n_site_values']} site values, "
        f"{held_out['n_missing_sites']} missing.",
        f"- CPU inference: {held_out['seconds_per_volume']:.1f} s per volume (1 thread, shared machine).",
        "",
        "## QC reference stored in the checkpoint",
        "",
        f"Per-site log mask volume of this model's own masks on {ref.get('volume_source', 'clean simulated volumes')}: "
        f"{ref.get('volume_rule', '')}. Used by `qc_mask_volume_outlier` when a batch has fewer than 50 clean rows "
        f"(larger batches use their own median and MAD; `bma_genetics.phenotypes.qc`). Expected coverage "
        f"{ref['expected_coverage_mm']:.0f} mm in {ref['expected_stations']} stations.",
        "",
    ]
    write_text(target_dir / "bmff_unet2d.md", "\n".join(lines))
    return target


if __name__ == "__main__":
    from bma_genetics._logging import configure

    configure()
    # python scripts/train_shipped_weights.py [CKPT] [MINUTES|finetune:INIT_CKPT] [eval-only]
    ckpt = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bmff_unet2d.pt"
    summary = None
    if not (len(sys.argv) > 3 and sys.argv[3] == "eval-only"):
        if len(sys.argv) > 2 and sys.argv[2].startswith("finetune:"):
            summary = finetune_shipped(ckpt, sys.argv[2].split(":", 1)[1])
        else:
            summary = train_shipped(ckpt, max_minutes=float(sys.argv[2]) if len(sys.argv) > 2 else 15.0)
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1, default=float))
    held = evaluate_held_out(ckpt, n_test=16)
    print(json.dumps({k: v for k, v in held.items() if k != "site_maps"}, indent=1))
    out_dir = Path(__file__).resolve().parents[1] / "bma_genetics" / "data" / "models"
    print(finalise_shipped(ckpt, out_dir, held, summary))

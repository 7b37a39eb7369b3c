"""U-Net inference throughput: our 2.5D marrow U-Net vs a MONAI ``UNet`` of similar size.

Same simulated Dixon volumes, same per-slice (2.5D) input, same batch size, same torch version
(2.13.0) and thread count, measured in the same run. MONAI runs in its own environment
(``benchmarks.peers.peer_python("monai", ...)``); its network is untrained (weights do not change
the arithmetic) and configured like ours: 2D, 6 input channels, same classes, channels
(8, 16, 32, 64), strides (2, 2, 2), instance norm, 2 residual units per level (102k parameters
against our 121k; MONAI's UNet has one convolution per level without residual units).

Usage: ``python benchmarks/unet_inference.py [--volumes 3] [--threads 2] [--batch 8] [--device cpu|cuda]``.
Prints volumes per minute for both and the ratio ours / MONAI; ours is timed from raw water and
fat (normalisation included) and also through the generic operators its inference fast paths
replace (``ours_generic_ops_volumes_per_min``, with a check that the labels are identical).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MONAI_SCRIPT = r'''
import json, sys, time
import numpy as np, torch
from monai.networks.nets import UNet
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
dev = args["device"]
net = UNet(spatial_dims=2, in_channels=6, out_channels=args["classes"], channels=(8, 16, 32, 64), strides=(2, 2, 2),
           num_res_units=args["res_units"], norm="INSTANCE").to(dev).eval()
n_params = sum(p.numel() for p in net.parameters())
vols = [np.load(p) for p in args["volumes"]]

def slices(x, ks):
    idx = np.clip(ks[:, None] + np.arange(-1, 2)[None, :], 0, x.shape[1] - 1)
    return x[:, idx].transpose(1, 2, 0, 3, 4).reshape(len(ks), -1, x.shape[2], x.shape[3])

def run(x):
    out = np.zeros(x.shape[1:], np.uint8)
    with torch.inference_mode():
        for s in range(0, x.shape[1], args["batch"]):
            ks = np.arange(s, min(s + args["batch"], x.shape[1]))
            out[ks] = net(torch.from_numpy(np.ascontiguousarray(slices(x, ks))).to(dev)).argmax(1).cpu().numpy()
    return out

run(vols[0])  # warm-up
t0 = time.perf_counter()
for x in vols:
    run(x)
if dev.startswith("cuda"):
    torch.cuda.synchronize()
print(json.dumps({"seconds": time.perf_counter() - t0, "n_params": n_params}))
'''


def main(argv: list[str] | None = None) -> dict:
    import torch

    from bma_genetics.phenotypes.inference import load_model
    from bma_genetics.phenotypes.networks import count_parameters
    from bma_genetics.phenotypes.transforms import normalise
    from bma_genetics.simulate.dixon import simulate_training_volumes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--volumes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--res-units", type=int, default=2, help="MONAI num_res_units (2: similar size to ours)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    raw = simulate_training_volumes(args.volumes, seed=909)
    model = load_model(device=args.device)
    tmp = Path(tempfile.mkdtemp(prefix="bench_unet_"))
    paths = []
    for i, (w, f, _, _) in enumerate(raw):
        p = tmp / f"v{i}.npy"
        np.save(p, normalise(w, f))
        paths.append(str(p))
    model.segment(raw[0][0], raw[0][1], batch_size=args.batch)  # warm-up
    t0 = time.perf_counter()
    for w, f, _, _ in raw:
        model.segment(w, f, batch_size=args.batch)
    ours_s = time.perf_counter() - t0
    # The same network through the generic operators (nn.MaxPool2d, argmax over dim 1) that the
    # inference fast paths replace -- what they gain, with identical labels.
    import bma_genetics.phenotypes.inference as inf
    import bma_genetics.phenotypes.networks as nets

    fast_ops = nets._max_pool2x2, inf.argmax_classes
    nets._max_pool2x2 = lambda x: torch.nn.functional.max_pool2d(x, 2)
    inf.argmax_classes = lambda logits: logits.argmax(1).to(torch.uint8)
    try:
        t0 = time.perf_counter()
        generic = [model.segment(w, f, batch_size=args.batch) for w, f, _, _ in raw]
        generic_s = time.perf_counter() - t0
    finally:
        nets._max_pool2x2, inf.argmax_classes = fast_ops
    identical = all(np.array_equal(g, model.segment(w, f, batch_size=args.batch)) for g, (w, f, _, _) in zip(generic, raw, strict=True))
    result = {
        "device": args.device,
        "threads": args.threads,
        "volumes": args.volumes,
        "volume_shape": list(raw[0][0].shape),
        "ours_params": count_parameters(model.network),
        "ours_volumes_per_min": 60 * args.volumes / ours_s,
        "ours_generic_ops_volumes_per_min": 60 * args.volumes / generic_s,
        "fast_paths_identical_labels": identical,
    }
    try:
        from benchmarks.peers import PeerUnavailable, peer_python

        py = peer_python("monai", ["monai", "torch==2.13.0"])
        res = subprocess.run([str(py), "-c", MONAI_SCRIPT, json.dumps({"volumes": paths, "threads": args.threads, "batch": args.batch, "device": args.device,
                                                                        "res_units": args.res_units,
                                                                        "classes": int(model.meta["network"]["out_channels"])})],
                             capture_output=True, text=True, check=True)
        peer = json.loads(res.stdout.strip().splitlines()[-1])
        result["monai_params"] = peer["n_params"]
        result["monai_volumes_per_min"] = 60 * args.volumes / peer["seconds"]
        result["ratio_ours_over_monai"] = result["ours_volumes_per_min"] / result["monai_volumes_per_min"]
    except (PeerUnavailable, subprocess.CalledProcessError) as exc:
        result["monai_error"] = str(getattr(exc, "stderr", exc))[-500:]
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()

"""Seconds per training epoch and peak memory of AttentionAE-sc against the number of cells.

Seconds per epoch are the median over the timed epochs (one forward, backward and optimizer
step each), so one-time costs are not spread over them: the clustering stage's Leiden
initialisation is its own column. Each size runs in a fresh process (so peak RSS is that run's
own), full batch (``max_cells=None``), with the paper's defaults (2500 HVGs, 15 neighbours,
8 heads), on simulated counts or on the first cells of a raw-count ``.h5ad`` (``--input``; real
counts are sparser than the simulation, which the ZINB loss exploits). It prints one table row
per size and device.

    python benchmarks/epoch_time.py                      # CPU: 1k, 2k, 5k, 10k cells
    python benchmarks/epoch_time.py --cells 1886 --input Baron_Pancreas_mouse.h5ad
    python benchmarks/epoch_time.py --device cuda --cells 10000 20000 50000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import torch

CHILD = """
import json, sys, anndata, torch
from attentionae_sc import AttentionAESC
from attentionae_sc.simulation import simulate_counts
n_cells, device, threads, epochs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
if sys.argv[5]:
    adata = anndata.read_h5ad(sys.argv[5])[:n_cells].copy()
    adata.obs = adata.obs[[]]
else:
    adata = simulate_counts(n_cells, 5000, 8, de_prob=0.1, seed=0)
model = AttentionAESC(seed=0, device=device, progress=False, max_cells=None,
                      epochs_pretrain=epochs, epochs_cluster=epochs, tol=0.0,
                      min_cluster_epochs=epochs).fit(adata)
info = model.run_info()
print(json.dumps({"n_cells": adata.n_obs, "timings": info["timings"], "memory": info["memory"],
                  "pretrain_epoch_s": info["history"]["pretrain"]["seconds"].tolist(),
                  "cluster_epoch_s": info["history"]["cluster"]["seconds"].tolist()}))
"""


def measure(n_cells: int, device: str, threads: int, epochs: int, data: str) -> dict:
    """Run one size in a child process and return its timings and memory."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(n_cells), device, str(threads),
                          str(epochs), data], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs timed in each stage (default 10)")
    parser.add_argument("--input", default="", metavar="H5AD",
                        help="raw counts in .X to time on (first N cells) instead of simulated")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA is not available on this machine")
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{args.threads} threads"
    data = args.input or "simulated counts"
    print(f"# AttentionAE-sc epoch time, torch {torch.__version__}, {name}, {data}")
    print("cells\tpretrain_s_per_epoch\tcluster_s_per_epoch\tcluster_init_s\tpeak_rss_mb"
          "\tpeak_gpu_mb")
    for n_cells in args.cells:
        result = measure(n_cells, args.device, args.threads, args.epochs, args.input)
        if "error" in result:
            print(f"{n_cells}\terror: {result['error']}", flush=True)
            continue
        timings, memory = result["timings"], result["memory"]
        print(f"{result['n_cells']}\t{statistics.median(result['pretrain_epoch_s']):.3f}"
              f"\t{statistics.median(result['cluster_epoch_s']):.3f}"
              f"\t{timings['cluster_init_s']:.1f}"
              f"\t{memory['peak_rss_mb']:.0f}\t{memory.get('peak_gpu_mb') or 'NA'}", flush=True)


if __name__ == "__main__":
    main()

"""DDP on CPU: the real `valor-model train` under torchrun with 2 gloo processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from valor_model.train import load_checkpoint


def test_torchrun_two_gloo_processes_keep_parameters_in_sync(shards, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "valor_model.cli", "train", "--config", "tiny", "--train-shards", str(shards.train[0].parent),
           "--out", str(out), "--batch-size", "2", "--max-steps", "3", "--num-workers", "0", "--log-every", "1",
           "--checkpoint-every", "2", "--device", "cpu", "--no-progress", "--json", "--accum-steps", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["world_size"] == 2 and summary["step"] == 3
    assert summary["ranks_in_sync"] is True  # every rank's parameters equal after 3 DDP steps
    # 2 ranks x 2 micro-batches x 2 samples x 3 steps, the counters summed over the ranks
    assert summary["samples"]["ok"] >= 2 * 2 * 2 * 3
    ckpt = load_checkpoint(out)
    assert ckpt["world_size"] == 2 and len(ckpt["ranks"]) == 2
    rng0, rng1 = (r["rng"]["torch"] for r in ckpt["ranks"])
    assert not torch.equal(rng0, rng1)  # per-rank RNG states are saved separately
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3]

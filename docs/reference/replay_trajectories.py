#!/usr/bin/env python3
"""Replays the decisions of `snndt eval --trajectories` through the PyTorch reference (snndt_torch.py)
and reports how far its outputs are from the ones snndt acted on: a check of snndt's numbers on
your checkpoint, backend and machine (the tfjs-node-gpu backend, say) by a second implementation.

    python3 docs/reference/replay_trajectories.py runs/cartpole/checkpoints/best runs/cartpole/eval/trajectories.arrow

Each step's window is rebuilt from the episode's observations, actions and the return-to-go the model
was given; the reference's output is compared with `action_logits` (discrete) or `action`
(continuous). Differences of float32 rounding (about 1e-6 of the outputs' scale) are expected; a
spike that one side fires and the other does not, on a membrane at its threshold, can make a larger
one now and then. Needs torch, numpy and pyarrow.
"""
import argparse
import os
import sys

import numpy as np
import pyarrow.ipc as ipc
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snndt_torch import load_checkpoint, window  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the checkpoint directory eval loaded (e.g. <run>/checkpoints/best)")
    parser.add_argument("trajectories", help="trajectories.arrow from snndt eval --trajectories")
    args = parser.parse_args()
    model, norm = load_checkpoint(args.checkpoint)
    table = ipc.open_file(args.trajectories).read_all()
    discrete = norm["actionSpace"]["kind"] == "discrete"
    columns = {name: table.column(name).to_pylist() for name in ("episode_id", "observation", "action", "conditioned_return_to_go")}
    reference = table.column("action_logits").to_pylist() if discrete else columns["action"]
    episodes = {}
    for row, episode in enumerate(columns["episode_id"]):
        episodes.setdefault(episode, []).append(row)
    worst, scale, disagreements, decisions = 0.0, 0.0, 0, 0
    with torch.no_grad():
        for rows in episodes.values():
            observations = np.array([columns["observation"][r] for r in rows], dtype=np.float32)
            actions = np.array([columns["action"][r] for r in rows], dtype=np.float32)
            returns_to_go = np.array([columns["conditioned_return_to_go"][r] for r in rows])
            for t, row in enumerate(rows):
                out = model(**window(norm, observations, actions, returns_to_go, t))[0, -1].numpy()
                snndt = np.array(reference[row], dtype=np.float32).reshape(-1)
                worst = max(worst, float(np.abs(out - snndt).max()))
                scale = max(scale, float(np.abs(snndt).max()))
                if discrete and int(out.argmax()) != int(columns["action"][row]):
                    disagreements += 1
                decisions += 1
    print(f"{decisions} decisions in {len(episodes)} episodes: largest |difference| {worst:.3g} (outputs up to {scale:.3g})")
    if discrete:
        print(f"the reference chose another action in {disagreements} of them")


if __name__ == "__main__":
    main()

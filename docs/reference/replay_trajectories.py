#!/usr/bin/env python3
"""Replays the decisions of `snndt eval --trajectories` through the PyTorch reference (snndt_torch.py)
and reports how far its outputs are from the ones snndt acted on: a check of snndt's numbers on
your checkpoint, backend and machine (the tfjs-node-gpu backend, say) by a second implementation.

    python3 docs/reference/replay_trajectories.py runs/cartpole/checkpoints/best runs/cartpole/eval/trajectories.arrow

Each step's window is rebuilt from the episode's observations, actions and the return-to-go the model
was given (the action at the decision's own step is 0, as snndt has it); the reference's output is
compared with `action_logits` (discrete) or `action` (continuous). Float32 rounding makes differences
of about 1e-6 of the outputs' scale. A larger one is a bug, unless a neuron's membrane sat at its
threshold, where the two implementations' rounding can fire a spike on one side only: for every
decision that differs by more than --tolerance, the script gives the smallest distance of any
membrane (or oscillator) to its threshold in the reference, so such ties can be told apart.
Needs torch, numpy and pyarrow.
"""
import argparse
import os
import sys

import numpy as np
import pyarrow.ipc as ipc
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snndt_torch  # noqa: E402
from snndt_torch import load_checkpoint, window  # noqa: E402

TIE = 1e-5


def smallest_margin(model, inputs):
    """min |membrane - threshold| (and |sin| of the oscillators) over one forward pass of the reference."""
    margins = []
    original = snndt_torch.Spike.apply

    def watching(u, k, strict):
        margins.append(float(u.abs().min()))
        return original(u, k, strict)

    snndt_torch.Spike.apply = watching
    try:
        model(**inputs)
    finally:
        snndt_torch.Spike.apply = original
    return min(margins) if margins else float("inf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the checkpoint directory eval loaded (e.g. <run>/checkpoints/best)")
    parser.add_argument("trajectories", help="trajectories.arrow from snndt eval --trajectories")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest difference, relative to the outputs' scale, taken as rounding (default 1e-4)")
    args = parser.parse_args()
    model, norm = load_checkpoint(args.checkpoint)
    table = ipc.open_file(args.trajectories).read_all()
    evaluated = (table.schema.metadata or {}).get(b"snndt.eval.checkpoint", b"").decode()
    if evaluated and os.path.realpath(evaluated) != os.path.realpath(args.checkpoint):
        print(f"warning: {args.trajectories} was made by evaluating {evaluated}, not {args.checkpoint}", file=sys.stderr)
    discrete = norm["actionSpace"]["kind"] == "discrete"
    columns = {name: table.column(name).to_pylist() for name in ("episode_id", "step", "observation", "action", "conditioned_return_to_go")}
    reference = table.column("action_logits").to_pylist() if discrete else columns["action"]
    episodes = {}
    for row, episode in enumerate(columns["episode_id"]):
        episodes.setdefault(episode, []).append(row)
    results = []  # (episode, step, difference, snndt's largest |output|, another action chosen, the actions the window saw)
    with torch.no_grad():
        for episode, rows in episodes.items():
            rows.sort(key=lambda r: columns["step"][r])
            observations = np.array([columns["observation"][r] for r in rows], dtype=np.float32)
            actions = np.array([columns["action"][r] for r in rows], dtype=np.float32)
            returns_to_go = np.array([columns["conditioned_return_to_go"][r] for r in rows])
            for t, row in enumerate(rows):
                seen = actions.copy()
                seen[t] = 0  # not chosen yet at this decision
                out = model(**window(norm, observations, seen, returns_to_go, t))[0, -1].numpy()
                snndt = np.array(reference[row], dtype=np.float32).reshape(-1)
                other = discrete and int(out.argmax()) != int(columns["action"][row])
                results.append((episode, t, float(np.abs(out - snndt).max()), float(np.abs(snndt).max()), other, seen))
    scale = max(r[3] for r in results) if results else 0.0
    worst = max(r[2] for r in results) if results else 0.0
    print(f"{len(results)} decisions in {len(episodes)} episodes: largest |difference| {worst:.3g} (outputs up to {scale:.3g})")
    if discrete:
        print(f"the reference chose another action in {sum(r[4] for r in results)} of them")
    beyond = [r for r in results if r[2] > args.tolerance * max(scale, 1e-12)]
    print(f"{len(beyond)} decision(s) differ by more than {args.tolerance:g} of the outputs' scale")
    unexplained = 0
    for episode, t, difference, _, other, seen in beyond:
        rows = episodes[episode]
        observations = np.array([columns["observation"][r] for r in rows], dtype=np.float32)
        returns_to_go = np.array([columns["conditioned_return_to_go"][r] for r in rows])
        with torch.no_grad():
            margin = smallest_margin(model, window(norm, observations, seen, returns_to_go, t))
        tie = margin < TIE
        unexplained += not tie
        verdict = "a threshold tie" if tie else "NOT a tie"
        print(f"  episode {episode} step {t}: difference {difference:.3g}{', another action' if other else ''}; smallest margin {margin:.2g}: {verdict}")
    if unexplained:
        print(f"{unexplained} difference(s) that no threshold tie explains: please report them with this checkpoint")
        sys.exit(1)


if __name__ == "__main__":
    main()

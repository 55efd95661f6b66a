#!/usr/bin/env python3
"""Replays the decisions of `snndt eval --trajectories` through the PyTorch reference (snndt_torch.py)
and reports how far its outputs are from the ones snndt acted on: a check of snndt's numbers on
your checkpoint, backend and machine (the tfjs-node-gpu backend, say) by a second implementation.

    python3 docs/reference/replay_trajectories.py runs/cartpole/checkpoints/best runs/cartpole/eval/trajectories.arrow

Each step's window is rebuilt from the episode's observations, actions and the return-to-go the model
was given (the action at the decision's own step is 0, as snndt has it); the reference's output is
compared with `action_logits` (discrete) or `action` (continuous), and the reference's spike count
with `spikes` where eval counted one. Float32 rounding makes differences of about 1e-6 of the
outputs' scale. A larger one, or another spike count, is a bug, unless a neuron's membrane sat at
its threshold, where the two implementations' rounding can fire a spike on one side only: for every
such decision the script gives the smallest distance of any membrane (or oscillator) to its
threshold in the reference, and it exits with 1 if one is not such a tie. A file played by a model
of another configuration than the checkpoint's (another run), or by another checkpoint that is still
where eval found it, is refused with exit code 2, as are inputs that cannot be read. A run of
thousands of decisions takes minutes. Needs torch, numpy and pyarrow.
"""
import argparse
import json
import os
import sys

import numpy as np
import pyarrow.ipc as ipc
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snndt_torch import checkpoint_directory, load_checkpoint, watched, window  # noqa: E402

# A margin this small is a few float32 roundings of a membrane near 1: there the two implementations
# may fire differently. (Over MountainCar-v0 decisions, a third of windows have some membrane within
# 1e-5 of its threshold, so a wider margin would excuse real differences.)
TIE = 1e-6
# Decisions listed one by one; a wrong checkpoint would list them all.
SHOWN = 20


def refuse(message):
    """Inputs that are not a checkpoint and the trajectories it played: exit code 2, not 1 (a finding)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def weights_hash(directory):
    """The sha256 a checkpoint's checksums.json records for its weights (None where it cannot be read)."""
    try:
        with open(os.path.join(directory, "checksums.json")) as f:
            return json.load(f).get("model.safetensors")
    except (OSError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the checkpoint directory eval loaded (e.g. <run>/checkpoints/best)")
    parser.add_argument("trajectories", help="trajectories.arrow from snndt eval --trajectories")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest difference, relative to the outputs' scale, taken as rounding (default 1e-4)")
    args = parser.parse_args()
    try:
        model, norm = load_checkpoint(args.checkpoint)
    except (OSError, ValueError) as err:  # no such directory, not a checkpoint, a corrupt one
        refuse(str(err))
    try:
        table = ipc.open_file(args.trajectories).read_all()
    except (OSError, ValueError) as err:  # no such file, not an Arrow file
        refuse(f"{args.trajectories}: {err}")
    discrete = norm["actionSpace"]["kind"] == "discrete"
    names = ["episode_id", "step", "observation", "action", "conditioned_return_to_go"] + (["action_logits"] if discrete else [])
    missing = [name for name in names if name not in table.column_names]
    if missing:
        refuse(f"{args.trajectories} is not a trajectories file of snndt eval --trajectories: it has no column {', '.join(missing)}")
    metadata = table.schema.metadata or {}
    evaluated = metadata.get(b"snndt.eval.checkpoint", b"").decode()
    if evaluated and os.path.realpath(evaluated) != os.path.realpath(checkpoint_directory(args.checkpoint)):
        if os.path.isdir(evaluated) and weights_hash(evaluated) != weights_hash(checkpoint_directory(args.checkpoint)):
            refuse(f"{args.trajectories} was made by evaluating {evaluated}, not {args.checkpoint}, whose weights differ: give the checkpoint that eval loaded")
        # Not where eval found it: the run may have moved since, so the config hash below decides.
        print(f"warning: {args.trajectories} was made by evaluating {evaluated}, not {args.checkpoint}", file=sys.stderr)
    # Another run's model (config and seed) differs everywhere: that is no finding about snndt.
    with open(os.path.join(checkpoint_directory(args.checkpoint), "state.json")) as f:
        config_hash = json.load(f)["configHash"]
    played_by = metadata.get(b"snndt.eval.config_hash", b"").decode()
    if played_by and played_by != config_hash:
        refuse(f"{args.trajectories} was played by a model of another configuration (config hash {played_by[:12]}, "
               f"{args.checkpoint}'s is {config_hash[:12]}): give the checkpoint that eval loaded")
    columns = {name: table.column(name).to_pylist() for name in names}
    counted = table.column("spikes").to_pylist() if "spikes" in table.column_names else [None] * table.num_rows
    reference = table.column("action_logits").to_pylist() if discrete else columns["action"]
    episodes = {}
    for row, episode in enumerate(columns["episode_id"]):
        episodes.setdefault(episode, []).append(row)
    decisions = []
    with torch.no_grad():
        for episode, rows in episodes.items():
            rows.sort(key=lambda r: columns["step"][r])
            observations = np.array([columns["observation"][r] for r in rows], dtype=np.float32)
            actions = np.array([columns["action"][r] for r in rows], dtype=np.float32)
            returns_to_go = np.array([columns["conditioned_return_to_go"][r] for r in rows])
            for t, row in enumerate(rows):
                seen = actions.copy()
                seen[t] = 0  # not chosen yet at this decision
                out, spikes, margin = watched(model, window(norm, observations, seen, returns_to_go, t))
                out = out[0, -1].numpy()
                snndt = np.array(reference[row], dtype=np.float32).reshape(-1)
                decisions.append({
                    "where": f"episode {episode} step {t}",
                    "difference": float(np.abs(out - snndt).max()),
                    "scale": float(np.abs(snndt).max()),
                    "other_action": discrete and int(out.argmax()) != int(columns["action"][row]),
                    "spikes": None if counted[row] is None else (int(counted[row]), int(spikes)),
                    "margin": margin,
                })
    scale = max((d["scale"] for d in decisions), default=0.0)
    print(f"{len(decisions)} decisions in {len(episodes)} episodes: largest |difference| {max((d['difference'] for d in decisions), default=0.0):.3g} (outputs up to {scale:.3g})")
    if discrete:
        print(f"the reference chose another action in {sum(d['other_action'] for d in decisions)} of them")
    with_spikes = [d for d in decisions if d["spikes"] is not None]
    if with_spikes:
        print(f"spikes counted on {len(with_spikes)} of them; the reference's count differs on {sum(d['spikes'][0] != d['spikes'][1] for d in with_spikes)}")
    beyond = [d for d in decisions if d["difference"] > args.tolerance * max(scale, 1e-12) or (d["spikes"] is not None and d["spikes"][0] != d["spikes"][1])]
    print(f"{len(beyond)} decision(s) differ by more than {args.tolerance:g} of the outputs' scale or in their spikes")
    unexplained = 0
    for shown, d in enumerate(beyond):
        tie = d["margin"] < TIE
        unexplained += not tie
        if shown < SHOWN:
            spikes = "" if d["spikes"] is None else f", spikes {d['spikes'][0]} (snndt) against {d['spikes'][1]}"
            print(f"  {d['where']}: difference {d['difference']:.3g}{', another action' if d['other_action'] else ''}{spikes}; "
                  f"smallest margin {d['margin']:.2g}: {'a threshold tie' if tie else 'NOT a tie'}")
    if len(beyond) > SHOWN:
        print(f"  ... and {len(beyond) - SHOWN} more")
    if unexplained:
        print(f"{unexplained} difference(s) that no threshold tie explains: please report them with this checkpoint")
        sys.exit(1)


if __name__ == "__main__":
    main()

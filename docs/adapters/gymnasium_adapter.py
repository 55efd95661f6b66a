#!/usr/bin/env python3
"""Serve a Gymnasium environment to snndt over the JSON-lines protocol of docs/env-protocol.md.

    pip install gymnasium numpy
    snndt eval RUN --env-cmd "python3 docs/adapters/gymnasium_adapter.py CartPole-v1"

Observations of any space are flattened to one float vector (gymnasium.spaces.flatten). Actions:
Discrete(n, start) is offered as 0..n-1 (start is added back here); Box actions of any shape are
offered flat. Extra keyword arguments for gymnasium.make can be given as JSON with --make-kwargs.
"""
import argparse
import json
import math
import sys

import numpy as np
import gymnasium as gym
from gymnasium import spaces

PROTOCOL = 1

# The protocol owns stdout: keep the real stream for replies and send every stray print to stderr.
protocol_out = sys.stdout
sys.stdout = sys.stderr


def send(message):
    protocol_out.write(json.dumps(message, allow_nan=False) + "\n")
    protocol_out.flush()


def limits(values):
    """Space bounds as JSON: finite numbers, None (null) where unbounded."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel()]


def vector(values, what):
    flat = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"the {what} has non-finite values: {flat.tolist()}")
    return flat.tolist()


class Adapter:
    def __init__(self, env_id, max_episode_steps, make_kwargs):
        if max_episode_steps is not None:
            make_kwargs["max_episode_steps"] = max_episode_steps
        self.env = gym.make(env_id, **make_kwargs)
        self.env_id = env_id
        self.flat_observation_space = spaces.flatten_space(self.env.observation_space)
        spec = self.env.spec
        self.max_episode_steps = max_episode_steps or (spec.max_episode_steps if spec else None)
        self.reward_threshold = spec.reward_threshold if spec else None

    def spec(self, request):
        if request.get("protocol") != PROTOCOL:
            raise ValueError(f"this adapter speaks protocol {PROTOCOL}, snndt asked for {request.get('protocol')}")
        if not self.max_episode_steps:
            raise ValueError(f"{self.env_id} has no time limit: pass --max-episode-steps N")
        action_space = self.env.action_space
        if isinstance(action_space, spaces.Discrete):
            action = {"type": "discrete", "n": int(action_space.n)}
        elif isinstance(action_space, spaces.Box):
            action = {"type": "box", "low": limits(action_space.low), "high": limits(action_space.high)}
            if None in action["low"] or None in action["high"]:
                raise ValueError("unbounded Box actions are not supported: snndt needs finite action bounds")
        else:
            raise ValueError(f"action space {action_space} is neither Discrete nor Box")
        flat = self.flat_observation_space
        return {
            "protocol": PROTOCOL,
            "env_id": self.env_id,
            "observation_space": {"shape": [int(flat.shape[0])], "low": limits(flat.low), "high": limits(flat.high)},
            "action_space": action,
            "max_episode_steps": int(self.max_episode_steps),
            "reward_threshold": None if self.reward_threshold is None else float(self.reward_threshold),
        }

    def observation(self, observation):
        flat = spaces.flatten(self.env.observation_space, observation)
        return vector(flat, "observation")

    def reset(self, request):
        observation, _info = self.env.reset(seed=request.get("seed"))
        return {"observation": self.observation(observation)}

    def step(self, request):
        action_space = self.env.action_space
        if isinstance(action_space, spaces.Discrete):
            action = int(action_space.start) + int(request["action"])
        else:
            action = np.asarray(request["action"], dtype=action_space.dtype).reshape(action_space.shape)
        observation, reward, terminated, truncated, _info = self.env.step(action)
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"the reward is not finite: {reward}")
        return {
            "observation": self.observation(observation),
            "reward": reward,
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_id", help="a registered Gymnasium id, e.g. CartPole-v1")
    parser.add_argument("--max-episode-steps", type=int, help="time limit (required if the env has none)")
    parser.add_argument("--make-kwargs", default="{}", help='JSON object of gymnasium.make arguments, e.g. \'{"g": 9.81}\'')
    args = parser.parse_args()

    adapter = None
    startup_error = None
    try:
        adapter = Adapter(args.env_id, args.max_episode_steps, json.loads(args.make_kwargs))
    except Exception as error:  # reported in answer to the spec request, where snndt shows it
        startup_error = f"could not make {args.env_id}: {type(error).__name__}: {error}"

    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            continue
        request = json.loads(line)
        request_id = request.get("id")
        kind = request.get("type")
        if kind == "close":
            if adapter is not None:
                adapter.env.close()
            send({"id": request_id, "closed": True})
            return
        try:
            if startup_error is not None:
                raise RuntimeError(startup_error)
            if kind not in ("spec", "reset", "step"):
                raise ValueError(f"unknown request type {kind!r}")
            reply = getattr(adapter, kind)(request)
        except Exception as error:
            send({"id": request_id, "error": f"{type(error).__name__}: {error}"})
            continue
        send({"id": request_id, **reply})
    # stdin closed: snndt has gone away
    if adapter is not None:
        adapter.env.close()


if __name__ == "__main__":
    main()

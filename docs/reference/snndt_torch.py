#!/usr/bin/env python3
"""snndt's models in PyTorch: a second, independent implementation of the SNN-DT (every variant) and
the plain DT that loads an snndt checkpoint directory (state.json + model.safetensors).

Two uses:
  - take a model trained by snndt into PyTorch: `load_checkpoint`, then call the model on windows;
    or `load_training` on a step checkpoint and go on training it with `train_step` (the weights,
    AdamW's moments and update count, the plasticity trace), as `snndt train --resume` would for a
    run without dropout. The reference has none: snndt trains with `model.dropout` (0.1 by default),
    so add it here to continue such a run alike;
  - check snndt's TensorFlow.js math against it: test/fixtures/torch-reference/ holds outputs,
    gradients and training steps this file computed for checkpoints snndt trained, and tests compare
    snndt with them.

It follows the equations of snndt's documentation, one readable function per idea, with autograd
for every gradient (snndt's fused kernels have hand-written ones). Needs torch and numpy only.

    G, s, a tokens:  x = LN( [W_G G + b | W_s s + b | W_a a + b] + time(t) [+ token_type] ), interleaved
    time(t):         learned table row t (DT, baseline, route-only), or the positional spikes'
                     code 1[sin(nu_h t / max_ep_len + phi_h) > 0] W_pos (pos-only, full)
    block:           x += attention(LN1 x);  x += FFN(LN2 x)
    spiking:         Q|K|V = rates of LIF neurons driven by the projections; FFN = W2 rates(LIF(W1 x))
    LIF (T steps):   p_t = (1 - dt/tau_m) z_{t-1} + dt C_m c x,  S_t = 1[p_t >= V_th - V_rest],
                     z_t = p_t (1 - S_t);  rate = sum_t S_t / T;  surrogate dS/dp = 1/(1 + |k (p - theta)|)^2
    attention:       softmax(Q K^T / sqrt(d_head) + M) V per head; heads concatenated, or routed:
                     alpha = sigmoid(W_g relu(W_h [y_1..y_H] + b) + b), out = sum_h alpha_h y_h
    head:            on the state tokens after LN_f: logits (discrete), low + sigmoid(2 z)(high - low)

A training step (`train_step`), for a batch of windows (a step's micro-batches taken together):

    loss:            mean over real steps of the squared error (mean over action dims), or of the
                     cross entropy of the logits
    clipping:        every gradient scaled by min(1, grad_clip / (global norm + 1e-6)), torch's way
                     (snndt leaves out the 1e-6: a difference of 1e-6 of the norm); grad_clip 0: none
    AdamW:           torch.optim.AdamW; weight decay on parameters of rank >= 2 only
    learning rate:   linear warm-up lr (s + 1) / W for s < W, then constant or cosine to min_lr_ratio lr
    plasticity:      (spiking models, if enabled) with pre = LN_f output at each state token, post = tanh(W^T pre + b)
                     and delta = the batch-normalised return-to-go over real steps:
                     E <- lambda E + mean_n delta_n pre_n post_n^T;  W <- W + eta_local E

Inputs are windows as snndt builds them (src/data/windows.ts; `window` below builds one): returns-to-go
divided by rtg_scale [B, K, 1], normalised states [B, K, obs_dim], actions [B, K, 1] (indices) or
[B, K, dim], int timesteps [B, K] and a mask [B, K] (1 = real step, 0 = left padding; padding is 0
everywhere). For example, the action at step t of an episode played so far:

    model, norm = load_checkpoint("runs/cartpole/checkpoints/best")
    out = model(**window(norm, observations, actions, returns_to_go, t))   # [1, K, width]
    action = out[0, -1].argmax() if norm["actionSpace"]["kind"] == "discrete" else out[0, -1]
"""
import hashlib
import json
import math
import os
import re
import struct

import numpy as np
import torch
import torch.nn.functional as F

LAYER_NORM_EPS = 1e-5
NORMALISE_EPS = 1e-6  # plasticity's delta = (G - mean) / (std + NORMALISE_EPS)
MASKED = -1e9
DEFAULT_CURRENT_SCALE = 1.0
MIN_STATE_STD = 1e-6


def read_safetensors(path, with_metadata=False):
    """{name: tensor} of a safetensors file (little-endian F32 or I32, as snndt writes); with
    `with_metadata`, also its metadata."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in ("F32", "I32"):
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, expected F32 or I32")
        begin, end = info["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype="<f4" if info["dtype"] == "F32" else "<i4").reshape(info["shape"])
        tensors[name] = torch.tensor(values.copy())
    return (tensors, header.get("__metadata__", {})) if with_metadata else tensors


def window(norm, observations, actions, returns_to_go, end):
    """The window of K steps ending at step `end` of one episode, as a batch of 1, built as snndt builds
    it: `observations` [T, obs_dim] raw, `actions` [T] indices or [T, dim], `returns_to_go` [T] not
    yet scaled (at evaluation: the target less the rewards received so far). The action at `end` is
    not chosen yet: snndt puts 0 there. No state token sees it, but it is embedded (an index must be
    valid) and its neurons' spikes are counted."""
    k, obs_dim = norm["context"], norm["obsDim"]
    discrete = norm["actionSpace"]["kind"] == "discrete"
    width = 1 if discrete else norm["actionSpace"]["dim"]
    if end >= norm["maxEpLen"]:
        raise ValueError(f"step {end} is beyond max_ep_len = {norm['maxEpLen']} (snndt never clips timesteps)")
    first = max(0, end - k + 1)
    pad = k - (end - first + 1)
    mean = torch.tensor(norm["stateMean"], dtype=torch.float64)
    std = torch.tensor(norm["stateStd"], dtype=torch.float64)
    std = torch.where(std == 0, torch.ones_like(std), std.clamp_min(MIN_STATE_STD))  # constant: centred, not scaled
    steps = torch.arange(first, end + 1)
    real_states = (torch.tensor(np.array(observations, dtype=np.float32)[first:end + 1], dtype=torch.float64) - mean) / std
    real_actions = torch.tensor(np.array(actions, dtype=np.float32)[first:end + 1]).reshape(-1, width)
    real_rtg = torch.tensor(np.array(returns_to_go, dtype=np.float64)[first:end + 1]) / norm["rtgScale"]
    padded = lambda real, *shape: torch.cat([torch.zeros(pad, *shape), real.to(torch.float32).reshape(-1, *shape)])[None]
    return {
        "returns_to_go": padded(real_rtg, 1),
        "states": padded(real_states, obs_dim),
        "actions": padded(real_actions, width),
        "timesteps": torch.cat([torch.zeros(pad, dtype=torch.int32), steps.to(torch.int32)])[None],
        "mask": torch.cat([torch.zeros(pad), torch.ones(end + 1 - first)])[None],
    }


def checkpoint_directory(target, resume=False):
    """The checkpoint a path names: a checkpoint directory (it holds checksums.json), or in a run
    directory its checkpoints/best, else its newest checkpoints/step-N, as snndt eval finds it; with
    `resume`, its newest checkpoints/step-N, as snndt train --resume does."""
    if os.path.exists(os.path.join(target, "checksums.json")):
        return target
    best = os.path.join(target, "checkpoints", "best")
    if not resume and os.path.exists(os.path.join(best, "checksums.json")):
        return best
    found = os.listdir(os.path.join(target, "checkpoints")) if os.path.isdir(os.path.join(target, "checkpoints")) else []
    steps = sorted((int(m.group(1)), name) for name in found if (m := re.fullmatch(r"step-(\d+)", name))
                   and os.path.exists(os.path.join(target, "checkpoints", name, "checksums.json")))
    if not steps:
        raise FileNotFoundError(f"{target} is neither a checkpoint directory (with checksums.json) nor a run directory with a complete checkpoint")
    return os.path.join(target, "checkpoints", steps[-1][1])


def verify_checksums(directory, names):
    """Refuse a checkpoint whose files `names` lack a sha256 in checksums.json or do not match it."""
    with open(os.path.join(directory, "checksums.json")) as f:
        sums = json.load(f)
    for name in names:
        if name not in sums:
            raise ValueError(f"{directory}/checksums.json has no sha256 for {name}")
        with open(os.path.join(directory, name), "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != sums[name]:
                raise ValueError(f"{directory}/{name} is corrupt: its sha256 is not the one in checksums.json")


def load_checkpoint(target, config=None, resume=False):
    """(model, normalisation) of an snndt checkpoint directory (or a run directory: its checkpoint as
    `checkpoint_directory` finds it), its files checked against checksums.json; the model's parameters require grad,
    and a model with plasticity gets the checkpoint's eligibility trace. `config` replaces the run's
    config (state.json's "config"), e.g. to turn plasticity on (its trace then starts at zero)."""
    directory = checkpoint_directory(target, resume)
    verify_checksums(directory, ["model.safetensors", "state.json"])
    with open(os.path.join(directory, "state.json")) as f:
        state = json.load(f)
    params = read_safetensors(os.path.join(directory, "model.safetensors"))
    for tensor in params.values():
        tensor.requires_grad_(True)
    norm = state["normalisation"]
    model = SnndtModel((config or state["config"])["model"], norm["actionSpace"], params)
    if model.eligibility is not None:
        saved = (state.get("trainer") or {}).get("plasticity") or {}
        # Checkpoints older than the key hold their one trace under another name.
        trace = saved.get("head.eligibility") or (next(iter(saved.values())) if len(saved) == 1 else None)
        if trace is not None:
            model.eligibility = torch.tensor(trace["data"], dtype=torch.float32).reshape(trace["shape"])
        elif config is None:
            raise ValueError(f"{directory}/state.json has no plasticity trace, but the run's model uses plasticity")
    return model, norm


def load_training(target, config=None):
    """(model, normalisation, optimizer, step) to continue the run of a step checkpoint (of a run
    directory: its newest, as snndt train --resume takes): its weights,
    AdamW's moments and update count (optimizer.safetensors, in PyTorch's names) and the plasticity
    trace. The next update is `train_step(model, optimizer, batch, learning_rate(step, train), train)`
    with train = the run's config["train"]; then step + 1. `config` replaces the run's config."""
    directory = checkpoint_directory(target, resume=True)
    verify_checksums(directory, ["optimizer.safetensors"])
    with open(os.path.join(directory, "state.json")) as f:
        config = config or json.load(f)["config"]
    model, norm = load_checkpoint(directory, config)
    moments, metadata = read_safetensors(os.path.join(directory, "optimizer.safetensors"), with_metadata=True)
    optimizer = adamw(model, config["train"])
    step = int(metadata["step"])
    for name, param in model.params.items():
        optimizer.state[param] = {
            "step": torch.tensor(float(step)),
            "exp_avg": moments[f"exp_avg/{name}"].clone(),
            "exp_avg_sq": moments[f"exp_avg_sq/{name}"].clone(),
        }
    return model, norm, optimizer, step


def adamw(model, train):
    """torch.optim.AdamW over the model's parameters, weight decay on those of rank >= 2 only."""
    params = [model.params[name] for name in sorted(model.params)]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": train["weight_decay"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=train["lr"], betas=(train["beta1"], train["beta2"]), eps=train["eps"])


def learning_rate(step, train):
    """The learning rate of update index `step` (0-based: the updates already applied)."""
    lr, warmup = train["lr"], train["warmup_steps"]
    if step < warmup:
        return lr * (step + 1) / warmup
    if train["schedule"] == "constant":
        return lr
    progress = min(1.0, (step - warmup) / max(1, train["steps"] - warmup))
    low = train["min_lr_ratio"] * lr
    return low + (lr - low) * (1 + math.cos(math.pi * progress)) / 2


def action_loss(model, output, actions, mask):
    """Mean over the real steps of the squared error (continuous) or the cross entropy (discrete)."""
    if model.action_space["kind"] == "discrete":
        per_step = F.cross_entropy(output.transpose(1, 2), actions[..., 0].long(), reduction="none")
    else:
        per_step = ((output - actions) ** 2).mean(dim=-1)
    return (per_step * mask).sum() / mask.sum().clamp_min(1)


def train_step(model, optimizer, batch, lr, train):
    """One update on `batch` (a dict of window tensors: a step's micro-batches concatenated, as one
    large batch). Returns (loss, the gradients' global norm before clipping)."""
    optimizer.zero_grad()
    loss = action_loss(model, model(**batch), batch["actions"], batch["mask"])
    if not math.isfinite(float(loss.detach())):
        raise FloatingPointError(f"the loss is {float(loss.detach())}; no update applied")
    loss.backward()
    params = [model.params[name] for name in sorted(model.params)]
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params if p.grad is not None))
    if train["grad_clip"] > 0:
        torch.nn.utils.clip_grad_norm_(params, train["grad_clip"])
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    if model.eligibility is not None:
        with torch.no_grad():
            plasticity_step(model, batch)
    return float(loss.detach()), float(norm)


def plasticity_step(model, batch):
    """The three-factor update of the head after the optimizer's, on the batch just trained on."""
    p, settings = model.params, model.config["plasticity"]
    pre = model.head_inputs(**batch).reshape(-1, model.config["d_model"])
    post = torch.tanh(dense(pre, p, "head"))
    returns_to_go, mask = batch["returns_to_go"].reshape(-1), batch["mask"].reshape(-1)
    count = mask.sum().clamp_min(1)
    centered = (returns_to_go - (returns_to_go * mask).sum() / count) * mask
    delta = centered / (torch.sqrt((centered ** 2).sum() / count) + NORMALISE_EPS)
    model.eligibility = settings["lambda"] * model.eligibility + (pre * delta[:, None]).T @ post / count
    p["head.weight"] += settings["eta_local"] * model.eligibility


class Spike(torch.autograd.Function):
    """Heaviside step forward (u >= 0, or u > 0 when strict), fast-sigmoid surrogate backward."""

    @staticmethod
    def forward(ctx, u, k, strict):
        ctx.save_for_backward(u)
        ctx.k = k
        return (u > 0).to(u.dtype) if strict else (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad / (1 + (ctx.k * u).abs()) ** 2, None, None


def lif_rates(x, lif, k):
    """Spike rates of LIF neurons driven by a constant current per token, unrolled over T steps."""
    leak = 1 - lif["dt"] / lif["tau_m"]
    scale = lif["current_scale"] if lif["current_scale"] is not None else DEFAULT_CURRENT_SCALE
    drive = x * (lif["dt"] * lif["c_m"] * scale)
    theta = lif["v_th"] - lif["v_rest"]
    z = torch.zeros_like(x)  # membrane minus V_rest, starting at rest
    count = torch.zeros_like(x)
    for _ in range(lif["T"]):
        p = z * leak + drive
        s = Spike.apply(p - theta, k, False)
        z = p * (1 - s)  # hard reset to V_rest, not detached: gradients flow through the reset
        count = count + s
    # + (drive - drive): NaN where the input is NaN or infinite, as snndt gives, so a diverged model shows.
    return count / lif["T"] + (drive - drive)


def dense(x, params, name):
    """x W + b, with snndt's [in, out] kernels."""
    return x @ params[f"{name}.weight"] + params[f"{name}.bias"]


def layer_norm(x, params, name):
    return F.layer_norm(x, (x.shape[-1],), params[f"{name}.weight"], params[f"{name}.bias"], LAYER_NORM_EPS)


def attention_bias(mask):
    """[B, 1, L, L]: 0 where query i may see key j (j <= i and j real, or j == i), MASKED elsewhere."""
    length = mask.shape[1]
    causal = torch.tril(torch.ones(length, length))
    key_allowed = torch.maximum(mask[:, None, :], torch.eye(length)[None])
    return ((1 - causal[None] * key_allowed) * MASKED)[:, None]


class MarginWatch:
    """Within `with MarginWatch() as watch:`, every spike decision is watched: `watch.spikes` counts the
    spikes fired (LIF neurons and oscillators, as snndt counts them) and `watch.margin` is the smallest
    distance of any membrane (or oscillator) to its threshold. Where that distance is at float32
    rounding level, another implementation may fire differently."""

    def __enter__(self):
        self.spikes, self.margin = 0.0, float("inf")
        self.original = Spike.apply

        def watching(u, k, strict):
            self.margin = min(self.margin, float(u.detach().abs().min()))
            s = self.original(u, k, strict)
            self.spikes += float(s.detach().sum())
            return s

        Spike.apply = watching
        return self

    def __exit__(self, *exc):
        Spike.apply = self.original


def watched(model, inputs):
    """(output, spikes, margin) of one forward pass: see MarginWatch."""
    with MarginWatch() as watch:
        out = model(**inputs)
    return out, watch.spikes, watch.margin


class SnndtModel:
    def __init__(self, config, action_space, params):
        self.config = config
        self.action_space = action_space
        self.params = params
        self.spiking = config["kind"] == "snn-dt"
        variant = config["variant"]
        self.positional_spikes = self.spiking and variant in ("pos-only", "full")
        self.routing = self.spiking and variant in ("route-only", "full")
        plastic = self.spiking and config["plasticity"]["enabled"]
        self.eligibility = torch.zeros(params["head.weight"].shape) if plastic else None

    def time_code(self, timesteps):
        p = self.params
        if not self.positional_spikes:
            return p["embed.timestep"][timesteps]
        clock = timesteps.to(torch.float32)[..., None] / self.config["max_ep_len"]
        spikes = Spike.apply(torch.sin(clock * p["embed.pos.frequency"] + p["embed.pos.phase"]), self.config["surrogate"]["k"], True)
        return spikes @ p["embed.pos.weight"]

    def tokens(self, returns_to_go, states, actions, timesteps):
        p = self.params
        batch, context = timesteps.shape
        if self.action_space["kind"] == "discrete":
            actions = F.one_hot(actions[..., 0].long(), self.action_space["n"]).to(torch.float32)
        time = self.time_code(timesteps)
        rtg = dense(returns_to_go, p, "embed.rtg") + time
        state = dense(states, p, "embed.state") + time
        action = dense(actions, p, "embed.action") + time
        if self.positional_spikes:
            rtg, state, action = rtg + p["embed.token_type"][0], state + p["embed.token_type"][1], action + p["embed.token_type"][2]
        interleaved = torch.stack([rtg, state, action], dim=2).reshape(batch, 3 * context, -1)
        return layer_norm(interleaved, p, "embed.ln")

    def attention(self, x, bias, name):
        p = self.params
        batch, length, d = x.shape
        heads = self.config["n_heads"]
        dh = d // heads
        project = lambda part: dense(x, p, f"{name}.{part}")
        q, k, v = project("q"), project("k"), project("v")
        if self.spiking:
            q, k, v = (lif_rates(t, self.config["lif"], self.config["surrogate"]["k"]) for t in (q, k, v))
        split = lambda t: t.reshape(batch, length, heads, dh).transpose(1, 2)  # [B, H, L, dh]
        scores = split(q) @ split(k).transpose(2, 3) / math.sqrt(dh) + bias
        per_head = (torch.softmax(scores, dim=-1) @ split(v)).transpose(1, 2)  # [B, L, H, dh]
        if self.routing:
            hidden = torch.relu(dense(per_head.reshape(batch, length, d), p, f"{name}.router.hidden"))
            alpha = torch.sigmoid(dense(hidden, p, f"{name}.router.gate"))  # [B, L, H]
            merged = (per_head * alpha[..., None]).sum(dim=2)
        else:
            merged = per_head.reshape(batch, length, d)
        return dense(merged, p, f"{name}.out")

    def feed_forward(self, x, name):
        hidden = dense(x, self.params, f"{name}.hidden")
        if self.spiking:
            hidden = lif_rates(hidden, self.config["lif"], self.config["surrogate"]["k"])
        else:
            hidden = F.gelu(hidden, approximate="tanh")
        return dense(hidden, self.params, f"{name}.out")

    def head_inputs(self, returns_to_go, states, actions, timesteps, mask):
        """The head's inputs: the final layer norm's output at every state token, [B, K, d_model]."""
        p = self.params
        if int(timesteps.min()) < 0 or int(timesteps.max()) >= self.config["max_ep_len"]:
            raise ValueError(f"timesteps must lie in [0, {self.config['max_ep_len']})")
        x = self.tokens(returns_to_go, states, actions, timesteps)
        bias = attention_bias(mask.repeat_interleave(3, dim=1))
        for i in range(self.config["n_layers"]):
            x = x + self.attention(layer_norm(x, p, f"blocks.{i}.ln1"), bias, f"blocks.{i}.attn")
            x = x + self.feed_forward(layer_norm(x, p, f"blocks.{i}.ln2"), f"blocks.{i}.mlp")
        return layer_norm(x, p, "ln_f")[:, 1::3]

    def __call__(self, returns_to_go, states, actions, timesteps, mask):
        """Actions (continuous) or logits (discrete) at every state token: [B, K, width]."""
        z = dense(self.head_inputs(returns_to_go, states, actions, timesteps, mask), self.params, "head")
        if self.action_space["kind"] == "discrete":
            return z
        low = torch.tensor(self.action_space["low"], dtype=torch.float32)
        high = torch.tensor(self.action_space["high"], dtype=torch.float32)
        return low + torch.sigmoid(2 * z) * (high - low)

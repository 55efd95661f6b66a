#!/usr/bin/env python3
"""The PyTorch peer of `npm run bench -- train|infer`: the same model shapes as snndt's default
SNN-DT (variant full) and plain DT, trained and queried the way a PyTorch user would write them.

snn-dt: tokens (G, s, a) embedded by linear layers (one-hot actions) plus a token type and the
phase-shifted positional spikes of the episode timestep through their weights, layer norm; per block
a fused Q|K|V projection drives LIF neurons
(forward Euler, hard reset not detached, T steps unrolled, spike = Heaviside forward with the
fast-sigmoid surrogate 1/(1+|k u|)^2 backward); attention over spike rates with the causal mask;
dendritic routing (MLP gates over the heads, gated sum, projection); a spiking feed-forward
(Linear -> LIF -> Linear, width 4d). dt: GPT blocks with a GELU MLP and a learned timestep embedding.
Both: pre-layer-norm residual blocks, dropout, final layer norm, action head on the state tokens,
cross-entropy, AdamW, gradient clipping, one thread.

Prints one JSON object: median ms per training step, per batch-1 decision, and peak RSS.
Only the benchmark uses Python; snndt itself never does.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid surrogate backward."""

    @staticmethod
    def forward(ctx, u, k):
        ctx.save_for_backward(u)
        ctx.k = k
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad / (1 + (ctx.k * u).abs()) ** 2, None


class StrictSpike(FastSigmoidSpike):
    @staticmethod
    def forward(ctx, u, k):
        ctx.save_for_backward(u)
        ctx.k = k
        return (u > 0).to(u.dtype)


def lif_rates(x, T, dt=1.0, tau_m=20.0, v_rest=0.0, v_th=1.0, c_m=1.0, scale=1.0, k=10.0):
    v = torch.full_like(x, v_rest)
    count = torch.zeros_like(x)
    for _ in range(T):
        v = v + (dt / tau_m) * (v_rest - v) + dt * c_m * scale * x
        s = FastSigmoidSpike.apply(v - v_th, k)
        v = v * (1 - s) + v_rest * s
        count = count + s
    return count / T


def causal_bias(mask):
    """Additive bias [B, 1, L, L]: query i sees key j <= i if j is real, and always itself."""
    L = mask.shape[1]
    causal = torch.tril(torch.ones(L, L))
    allowed = causal * (mask[:, None, :] + torch.eye(L) * (1 - mask[:, None, :]))
    return ((1 - allowed) * -1e9)[:, None]


def attend(q, k, v, bias, heads):
    B, L, d = q.shape
    dh = d // heads
    split = lambda t: t.view(B, L, heads, dh).transpose(1, 2)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(dh) + bias
    return torch.softmax(scores, -1) @ split(v)  # [B, H, L, dh]


class SpikingBlock(nn.Module):
    def __init__(self, d, heads, T, dropout):
        super().__init__()
        self.d, self.heads, self.T = d, heads, T
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.route_hidden = nn.Linear(d, max(8, d // 4))
        self.route_gate = nn.Linear(max(8, d // 4), heads)
        self.out = nn.Linear(d // heads, d)
        self.hidden = nn.Linear(d, 4 * d)
        self.fed = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        B, L, d = x.shape
        rates = lif_rates(self.qkv(self.ln1(x)), self.T)
        q, k, v = rates.split(d, -1)
        y = attend(q, k, v, bias, self.heads).transpose(1, 2)  # [B, L, H, dh]
        alpha = torch.sigmoid(self.route_gate(torch.relu(self.route_hidden(y.reshape(B, L, d)))))
        x = x + self.drop(self.out((y * alpha[..., None]).sum(2)))
        return x + self.drop(self.fed(lif_rates(self.hidden(self.ln2(x)), self.T)))


class GptBlock(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.hidden = nn.Linear(d, 4 * d)
        self.fed = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        B, L, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, -1)
        x = x + self.drop(self.out(attend(q, k, v, bias, self.heads).transpose(1, 2).reshape(B, L, d)))
        return x + self.drop(self.fed(F.gelu(self.hidden(self.ln2(x)), approximate="tanh")))


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        d = a.d_model
        self.kind, self.actions = a.kind, a.actions
        self.rtg, self.state, self.action = nn.Linear(1, d), nn.Linear(a.obs_dim, d), nn.Linear(a.actions, d)
        self.timestep = nn.Embedding(a.max_ep_len, d) if a.kind == "dt" else None
        if a.kind == "snn-dt":
            self.max_ep_len = a.max_ep_len
            self.freq = nn.Parameter(torch.linspace(0.5, 3.0, a.heads) * a.max_ep_len)
            self.phase = nn.Parameter(torch.rand(a.heads) * 2 * math.pi)
            self.pos_weight = nn.Parameter(torch.randn(a.heads, d) * math.sqrt(2 / (a.heads + d)))
            self.token_type = nn.Parameter(torch.randn(3, d) * math.sqrt(2 / (1 + d)))
        self.ln_in, self.ln_f = nn.LayerNorm(d), nn.LayerNorm(d)
        self.blocks = nn.ModuleList(
            SpikingBlock(d, a.heads, a.T, a.dropout) if a.kind == "snn-dt" else GptBlock(d, a.heads, a.dropout)
            for _ in range(a.layers)
        )
        self.drop = nn.Dropout(a.dropout)
        self.head = nn.Linear(d, a.actions)

    def forward(self, rtg, states, actions, timesteps, mask):
        B, K = mask.shape
        tokens = [self.rtg(rtg), self.state(states), self.action(F.one_hot(actions, self.actions).float())]
        if self.timestep is not None:
            time = self.timestep(timesteps)
            tokens = [t + time for t in tokens]
        else:
            clock = timesteps.float()[..., None] / self.max_ep_len
            time = StrictSpike.apply(torch.sin(clock * self.freq + self.phase), 10.0) @ self.pos_weight
            tokens = [t + time + self.token_type[i] for i, t in enumerate(tokens)]
        x = self.drop(self.ln_in(torch.stack(tokens, 2).reshape(B, 3 * K, -1)))
        bias = causal_bias(mask.repeat_interleave(3, 1))
        for block in self.blocks:
            x = block(x, bias)
        return self.head(self.ln_f(x).view(B, K, 3, -1)[:, :, 1])


def random_batch(a, B):
    K = a.context
    return (
        torch.rand(B, K, 1),
        torch.randn(B, K, a.obs_dim),
        torch.randint(0, a.actions, (B, K)),
        torch.randint(0, a.max_ep_len - K, (B, 1)) + torch.arange(K),
        torch.ones(B, K),
    )


def median_ms(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kind", choices=["snn-dt", "dt"], default="snn-dt")
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=20)
    p.add_argument("--T", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--obs-dim", type=int, default=4)
    p.add_argument("--actions", type=int, default=2)
    p.add_argument("--max-ep-len", type=int, default=1000)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Model(a)
    result = {"torch": torch.__version__, "kind": a.kind, "mode": a.mode, "threads": torch.get_num_threads()}
    if a.mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        batch = random_batch(a, a.batch)

        def step():
            logits = model(*batch)
            loss = F.cross_entropy(logits.reshape(-1, a.actions), batch[2].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss.item()

        result["ms"] = median_ms(step, a.warmup, a.steps)
    else:
        model.eval()
        batch = random_batch(a, 1)

        def decide():
            with torch.no_grad():
                return model(*batch)[0, -1].numpy()

        result["ms"] = median_ms(decide, a.warmup * 10, a.steps)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { createModel, type SequenceModel } from "../../src/model/index.js";
import { SpikingSelfAttention } from "../../src/model/attention.js";
import { LifNeuron } from "../../src/model/lif.js";
import { ParamStore } from "../../src/model/params.js";
import { StatsCollector } from "../../src/model/stats.js";
import { Rng } from "../../src/runtime/rng.js";
import { disposeAll, randomRaw, tinyConfig } from "./tiny.js";
import { toInputs } from "./tiny.js";

before(async () => {
  await selectBackend("wasm");
});

/** Set every weight of the named layers to 0 and their bias to a constant, so each neuron's current is known. */
function fixLayer(model: SequenceModel, layer: string, bias: number): void {
  const find = (name: string) => model.variables[model.parameterNames.indexOf(name)]!;
  const weight = find(`${layer}.weight`);
  weight.assign(tf.zerosLike(weight));
  const b = find(`${layer}.bias`);
  b.assign(tf.fill(b.shape, bias));
}

// Hand count, T = 4, tau_m = 20, dt = 1, V_th = 1, current_scale = 1 (V[t+1] = 0.95 V[t] + x):
//   x = 1.0: V = 1 -> fires on all 4 steps                          4 spikes
//   x = 0.6: V = 0.6, 1.17 (fire, reset), 0.6, 1.17 (fire)           2 spikes
//   x = 0.3: V = 0.3, 0.585, 0.85575, 1.1129625 (fire)               1 spike
//   x = 0:   silent                                                  0 spikes
// Model: d_model 2, 1 head, 1 layer, K = 1 (L = 3 tokens), batch B = 2.
const B = 2;
const L = 3;
const D = 2;

function tinySpikingModel(variant: "baseline" | "full"): SequenceModel {
  const config = tinyConfig({
    variant,
    d_model: D,
    n_heads: 1,
    context: 1,
    lif: { T: 4, dt: 1, tau_m: 20, v_rest: 0, v_th: 1, c_m: 1, current_scale: 1 },
  });
  return createModel(config, 0);
}

function statsOf(model: SequenceModel) {
  const inputs = toInputs(randomRaw(model.config, B, 3));
  const out = model.forward(inputs, { training: false, collectStats: true });
  out.actions.dispose();
  disposeAll(inputs);
  return out.stats!;
}

test("spike and synaptic-operation counts equal a hand count (baseline: no positional spikes)", () => {
  const model = tinySpikingModel("baseline");
  fixLayer(model, "blocks.0.attn.q", 1.0);
  fixLayer(model, "blocks.0.attn.k", 0.6);
  fixLayer(model, "blocks.0.attn.v", 0);
  fixLayer(model, "blocks.0.mlp.hidden", 0.3);
  const stats = statsOf(model);
  const layer = stats.layers[0]!;
  // q: B*L*D neurons x 4; k: x 2; v: 0; feed-forward: B*L*(4D) neurons x 1.
  assert.deepEqual(layer.spikes, { q: B * L * D * 4, k: B * L * D * 2, v: 0, positional: 0, other: B * L * 4 * D });
  // A feed-forward spike drives D output weights. q/k/v spikes feed only the attention products,
  // which run on rates and are MACs (below), so they are not charged again as synaptic operations.
  assert.deepEqual(layer.synapticOps, { q: 0, k: 0, v: 0, positional: 0, other: B * L * 4 * D * D });
  assert.equal(stats.totalSynapticOps, B * L * 4 * D * D);
  // MACs: q/k/v and output projections 4 L D^2, the feed-forward's float input 4 L D^2, the attention products 2 L^2 D.
  assert.equal(layer.macs, B * (8 * L * D * D + 2 * L * L * D));
  assert.equal(stats.totalSpikes, 48 + 24 + 48);
  assert.equal(stats.batchSize, B);
  assert.equal(stats.tokensPerWindow, L);
  assert.ok(stats.totalMacs > 0 && layer.macs > 0);
  model.dispose();
});

test("positional spikes are counted once per step, with block 0, each driving its weights into the step's 3 tokens", () => {
  const model = tinySpikingModel("full");
  const find = (name: string) => model.variables[model.parameterNames.indexOf(name)]!;
  // Frequency 0, phase pi/2: sin = 1 > 0 at every timestep, so the (one) oscillator spikes on every step.
  find("embed.pos.frequency").assign(tf.zeros([1]));
  find("embed.pos.phase").assign(tf.fill([1], Math.PI / 2));
  fixLayer(model, "blocks.0.attn.q", 1.0);
  fixLayer(model, "blocks.0.attn.k", 0.6);
  fixLayer(model, "blocks.0.attn.v", 0.3);
  fixLayer(model, "blocks.0.mlp.hidden", 0);
  const layer = statsOf(model).layers[0]!;
  // One step per window (K = 1): B oscillator spikes in all; the attention neurons see only their biases.
  assert.deepEqual(layer.spikes, { q: B * L * D * 4, k: B * L * D * 2, v: B * L * D * 1, positional: B, other: 0 });
  assert.equal(layer.synapticOps.positional, B * 3 * D);
  assert.equal(layer.synapticOps.v, 0);
  model.dispose();
});

test("q/k/v spike counts stay exact past 2^24, where a float32 sum would drop spikes", () => {
  const d = 128;
  const rows = 60_000;
  const T = 3;
  const lif = new LifNeuron({ T, dt: 1, tau_m: 20, v_rest: 0, v_th: 1, c_m: 1, current_scale: 1, k: 10 });
  const attention = new SpikingSelfAttention(new ParamStore(new Rng(0)), "attn", d, 1, lif, null);
  // Every q/k/v neuron fires on all T steps: 23 million spikes per population, an odd count per neuron.
  const rates = tf.ones([1, rows, 3 * d]);
  const stats = new StatsCollector(1, rows, 1);
  (attention as unknown as { count(r: tf.Tensor, s: StatsCollector, layer: number, batch: number, length: number): void }).count(rates, stats, 0, 1, rows);
  const spikes = stats.finish("snn-dt").layers[0]!.spikes;
  assert.deepEqual([spikes.q, spikes.k, spikes.v], [rows * d * T, rows * d * T, rows * d * T]);
  rates.dispose();
  attention.dispose();
});

test("the plain DT reports multiply-accumulates and no spikes", () => {
  const model = createModel(tinyConfig({ kind: "dt", d_model: D, n_heads: 1, context: 1 }), 0);
  const stats = statsOf(model);
  assert.equal(stats.model, "dt");
  assert.equal(stats.totalSpikes, 0);
  // Per layer: q/k/v/out projections 4 L D^2, feed-forward 8 L D^2, attention products 2 L^2 D; per window.
  assert.equal(stats.layers[0]!.macs, B * (4 * L * D * D + 8 * L * D * D + 2 * L * L * D));
  // Embeddings (rtg 1, state obs_dim 3, one-hot action 3) per step, head D x 3 per step.
  assert.equal(stats.ioMacs, B * (D * (1 + 3 + 3) + D * 3));
  model.dispose();
});

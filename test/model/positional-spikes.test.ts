import { test, before } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, tf } from "../../src/runtime/backend.js";
import { PositionalSpikeEncoder } from "../../src/model/positional-spikes.js";
import { ParamStore } from "../../src/model/params.js";
import { Rng } from "../../src/runtime/rng.js";

before(async () => {
  await selectBackend("wasm");
});

const MAX_EP_LEN = 200;
const CONTEXT = 20;

function encoder(oscillators = 4, width = 8): { store: ParamStore; encoder: PositionalSpikeEncoder } {
  const store = new ParamStore(new Rng(5));
  return { store, encoder: new PositionalSpikeEncoder(store, "embed.pos", width, oscillators, MAX_EP_LEN, CONTEXT, 10) };
}

test("oscillator h spikes exactly when sin(nu_h t / max_ep_len + phi_h) > 0, at the episode timestep", () => {
  const { store, encoder: pos } = encoder();
  const timesteps = [0, 1, 2, 3, 57, 199, 200, 451]; // past max_ep_len too: nothing is clipped
  const spikes = tf.tidy(() => pos.spikes(tf.tensor2d([timesteps], undefined, "int32")).arraySync()[0]!);
  const nu = pos.frequency.dataSync();
  const phi = pos.phase.dataSync();
  timesteps.forEach((t, i) => {
    for (let h = 0; h < pos.oscillators; h++) {
      const expected = Math.sin(nu[h]! * (t / MAX_EP_LEN) + phi[h]!) > 0 ? 1 : 0;
      assert.equal(spikes[i]![h], expected, `oscillator ${h} at t=${t}`);
    }
  });
  // Initial periods span one window (K steps) to 2 * max_ep_len.
  assert.ok(Math.abs((2 * Math.PI * MAX_EP_LEN) / nu[0]! - CONTEXT) < 1e-3);
  assert.ok(Math.abs((2 * Math.PI * MAX_EP_LEN) / nu[pos.oscillators - 1]! - 2 * MAX_EP_LEN) < 1e-2);
  tf.dispose(store.variables);
});

test("the time code is the sum of the weight rows of the oscillators that spiked, and depends on the timestep only", () => {
  const { store, encoder: pos } = encoder(3, 5);
  tf.tidy(() => {
    // The same timesteps at different places in two windows get the same code.
    const first = pos.encode(tf.tensor2d([[10, 11, 12]], undefined, "int32"), null).arraySync()[0]!;
    const second = pos.encode(tf.tensor2d([[11, 12, 13]], undefined, "int32"), null).arraySync()[0]!;
    assert.deepEqual(second.slice(0, 2), first.slice(1));
    const spikes = pos.spikes(tf.tensor2d([[10]], undefined, "int32")).arraySync()[0]![0]!;
    const weight = pos.weight.arraySync();
    const expected = weight[0]!.map((_, j) => spikes.reduce((sum, s, h) => sum + s * weight[h]![j]!, 0));
    first[0]!.forEach((v, j) => assert.ok(Math.abs(v - expected[j]!) < 1e-6));
  });
  tf.dispose(store.variables);
});

test("frequencies, phases and weights learn: the surrogate gives them finite, non-zero gradients of bounded size", () => {
  const { store, encoder: pos } = encoder();
  const timesteps = tf.tensor2d([Array.from({ length: 20 }, (_, i) => 150 + i)], undefined, "int32");
  const target = tf.randomNormal([1, 20, 8], 0, 1, "float32", 1);
  const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(pos.encode(timesteps, null), target))) as tf.Scalar, [pos.frequency, pos.phase, pos.weight]);
  for (const variable of [pos.frequency, pos.phase, pos.weight]) {
    const g = grads[variable.name]!.dataSync();
    assert.ok(g.every(Number.isFinite), `${variable.name}: finite`);
    assert.ok(g.some((v) => v !== 0), `${variable.name}: non-zero`);
  }
  // The clock is t / max_ep_len: at a single timestep t, d/dnu = (t / max_ep_len) d/dphi, so late
  // timesteps do not blow up the frequency gradient.
  const single = tf.variableGrads(
    () => tf.sum(tf.mul(pos.encode(tf.tensor2d([[150]], undefined, "int32"), null), tf.ones([1, 1, 8]))) as tf.Scalar,
    [pos.frequency, pos.phase],
  ).grads;
  const dNu = single[pos.frequency.name]!.dataSync();
  const dPhi = single[pos.phase.name]!.dataSync();
  dNu.forEach((g, h) => assert.ok(Math.abs(g - (150 / MAX_EP_LEN) * dPhi[h]!) < 1e-4, `oscillator ${h}: ${g} vs ${dPhi[h]}`));
  tf.dispose(Object.values(single));
  tf.dispose([timesteps, target, ...Object.values(grads), ...store.variables]);
});

/**
 * Phase-shifted positional spikes: the SNN-DT's clock, in place of the DT's learned float timestep
 * embedding. Oscillator h (one per attention head, as the paper counts them) has a learned frequency
 * nu_h and phase phi_h and, at episode timestep t, emits
 *
 *     s_h(t) = 1[sin(nu_h t / max_ep_len + phi_h) > 0]
 *
 * (exact step forward, fast-sigmoid surrogate backward, so nu_h and phi_h learn). The spikes reach
 * the three tokens (G_t, s_t, a_t) of step t through learned synaptic weights W [H, d]:
 *
 *     time_code(t) = s(t) W        (a sum of the weight rows of the oscillators that spiked)
 *
 * Why the episode timestep, not the token's place in the window: a model whose only clock is the
 * window position cannot tell an early window from a late one, and a return-to-go means something
 * different with 180 steps left than with 10 (docs/results-findings.md measured the cost on
 * Pendulum-v1 and MountainCar-v0). The frequency is in radians per max_ep_len so its gradient,
 * which grows with t, stays O(1) and does not dominate gradient clipping. Nothing is clipped or
 * looked up here; the model still refuses a timestep at or past max_ep_len for every variant, as
 * the DT's table must, so that one config means one valid range of inputs.
 */
import { tf } from "../runtime/backend.js";
import { dense } from "./dense.js";
import type { ParamStore } from "./params.js";
import type { StatsCollector } from "./stats.js";
import { strictSpikeFunction } from "./surrogate.js";

export class PositionalSpikeEncoder {
  readonly frequency: tf.Variable<tf.Rank.R1>;
  readonly phase: tf.Variable<tf.Rank.R1>;
  /** Synaptic weights [H, d] from the oscillators to the token embedding. */
  readonly weight: tf.Variable<tf.Rank.R2>;
  private readonly spike: (u: tf.Tensor) => tf.Tensor;

  /**
   * Initial periods grow geometrically from one window (K steps) to 2 * max_ep_len across the
   * oscillators: the fastest marks where a window sits in its neighbourhood, the slowest halves the
   * episode. (Starting at 2 steps, as sinusoidal encodings do, spent an oscillator on odd versus even
   * steps and scored lower: docs/results-findings.md.) Initial phases are uniform in [0, 2 pi);
   * weights are Glorot-normal.
   */
  constructor(
    store: ParamStore,
    name: string,
    width: number,
    readonly oscillators: number,
    private readonly maxEpLen: number,
    context: number,
    surrogateK: number,
  ) {
    const longest = 2 * Math.max(1, maxEpLen);
    const shortest = Math.min(Math.max(2, context), longest);
    const frequencies = Array.from({ length: oscillators }, (_, h) => {
      const period = shortest * Math.pow(longest / shortest, oscillators > 1 ? h / (oscillators - 1) : 1);
      return (2 * Math.PI * maxEpLen) / period;
    });
    this.frequency = store.vector(`${name}.frequency`, frequencies);
    this.phase = store.vector(`${name}.phase`, frequencies.map(() => store.uniform(0, 2 * Math.PI)));
    this.weight = store.normal(`${name}.weight`, [oscillators, width], Math.sqrt(2 / (oscillators + width))) as tf.Variable<tf.Rank.R2>;
    this.spike = strictSpikeFunction(surrogateK);
  }

  /** Spikes [B, K, H] of the oscillators at timesteps [B, K]. */
  spikes(timesteps: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, context] = timesteps.shape;
      const clock = tf.reshape(tf.div(tf.cast(timesteps, "float32"), this.maxEpLen), [batch, context, 1]);
      return this.spike(tf.sin(tf.add(tf.mul(clock, this.frequency), this.phase))) as tf.Tensor3D;
    });
  }

  /**
   * The time code [B, K, d] added to the three tokens of each step. Stats: every oscillator spike
   * drives its d weights into each of the step's 3 tokens.
   */
  encode(timesteps: tf.Tensor2D, stats: StatsCollector | null): tf.Tensor3D {
    return tf.tidy(() => {
      const spikes = this.spikes(timesteps);
      const code = dense(spikes, this.weight);
      if (stats) {
        const count = tf.sum(tf.cast(spikes, "int32"));
        stats.addSpikes(0, "positional", count as tf.Scalar, tf.mul(tf.cast(count, "float32"), 3 * this.weight.shape[1]) as tf.Scalar);
      }
      return code as tf.Tensor3D;
    });
  }
}

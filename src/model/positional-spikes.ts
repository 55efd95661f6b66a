/**
 * Phase-shifted positional spikes. Head h of a layer has a learned frequency w_h and phase phi_h and,
 * at token position t of the window (0 .. 3K-1), emits
 *
 *     P_h(t) = 1[sin(w_h t + phi_h) > 0]
 *
 * (exact step forward, fast-sigmoid surrogate backward, so w_h and phi_h learn). The spike is added,
 * in units of the neurons' input, to the query and key inputs of every neuron of head h: the head's
 * attention pattern then depends on position without a float positional embedding.
 *
 * Positions count tokens within the window, so the pattern is the same for every window and the
 * gradient of w_h stays bounded by the window length (episode timesteps can reach max_ep_len).
 */
import { tf } from "../runtime/backend.js";
import type { ParamStore } from "./params.js";
import type { StatsCollector } from "./stats.js";
import { strictSpikeFunction } from "./surrogate.js";

export class PositionalSpikes {
  readonly frequency: tf.Variable<tf.Rank.R1>;
  readonly phase: tf.Variable<tf.Rank.R1>;
  private readonly spike: (u: tf.Tensor) => tf.Tensor;

  /**
   * Initial periods grow geometrically from 2 tokens to 1.5 windows across the heads (like
   * sinusoidal encodings); initial phases are uniform in [0, 2 pi).
   */
  constructor(
    store: ParamStore,
    name: string,
    private readonly width: number,
    private readonly heads: number,
    tokensPerWindow: number,
    surrogateK: number,
  ) {
    const longest = Math.max(2, 1.5 * tokensPerWindow);
    const frequencies = Array.from({ length: heads }, (_, h) => {
      const period = 2 * Math.pow(longest / 2, heads > 1 ? h / (heads - 1) : 0);
      return (2 * Math.PI) / period;
    });
    this.frequency = store.vector(`${name}.frequency`, frequencies);
    this.phase = store.vector(`${name}.phase`, frequencies.map(() => store.uniform(0, 2 * Math.PI)));
    this.spike = strictSpikeFunction(surrogateK);
  }

  /** Spikes [L, H] for positions offset .. offset+L-1. */
  spikes(length: number, offset = 0): tf.Tensor2D {
    return tf.tidy(() => {
      const position = tf.reshape(tf.range(offset, offset + length, 1, "float32"), [length, 1]);
      return this.spike(tf.sin(tf.add(tf.mul(position, this.frequency), this.phase))) as tf.Tensor2D;
    });
  }

  /**
   * The extra neuron input [L, 3d] for the fused [Q | K | V] population: the head's spike on its
   * query and key neurons, nothing on the values. `offset` is the window position of the first token.
   */
  input(length: number, batch: number, stats: StatsCollector | null, layer: number, offset = 0): tf.Tensor2D {
    return tf.tidy(() => {
      const spikes = this.spikes(length, offset);
      const dh = this.width / this.heads;
      const perNeuron = tf.reshape(tf.mul(tf.expandDims(spikes, 2), tf.ones([1, 1, dh])), [length, this.width]);
      if (stats) {
        const count = tf.mul(tf.sum(spikes), batch);
        stats.addSpikes(layer, "positional", tf.cast(count, "int32") as tf.Scalar, tf.mul(count, 2 * dh) as tf.Scalar);
      }
      return tf.concat([perNeuron, perNeuron, tf.zeros([length, this.width])], 1) as tf.Tensor2D;
    });
  }
}

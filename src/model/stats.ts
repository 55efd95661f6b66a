/**
 * Spike and operation accounting for one forward pass, for eval's spikes-per-decision and energy
 * estimates. Counts are accumulated as scalar tensors during the pass and read back once at its end
 * (only when `collectStats` is asked for).
 *
 * - spikes: LIF spikes over all T steps (rate x T), per layer and kind: q/k/v (attention neurons),
 *   positional (phase-shifted positional spikes of the token embedding, counted with layer 0, whose
 *   input they drive), other (feed-forward neurons).
 * - synapticOps: each spike times its fan-out, the number of downstream synapses it drives: a
 *   positional spike its d_model weights into each of the step's 3 tokens, a feed-forward spike the
 *   d_model weights of its output row. q/k/v spikes have none: the attention products they feed run
 *   on spike rates and are counted as MACs (charging their fan-out too would count them twice).
 * - macs: float multiply-accumulates (dense layers on float inputs, attention products on rates,
 *   routing); for the plain DT every product is counted here.
 */
import { tf } from "../runtime/backend.js";

export const SPIKE_KINDS = ["q", "k", "v", "positional", "other"] as const;
export type SpikeKind = (typeof SPIKE_KINDS)[number];
export type SpikeCounts = Record<SpikeKind, number>;

export interface LayerStats {
  layer: number;
  spikes: SpikeCounts;
  synapticOps: SpikeCounts;
  macs: number;
}

export interface ForwardStats {
  model: "snn-dt" | "dt";
  /** Windows in the batch (B) and tokens per window (3K). */
  batchSize: number;
  tokensPerWindow: number;
  layers: LayerStats[];
  /** MACs outside the blocks: token embeddings and the action head. */
  ioMacs: number;
  totalSpikes: number;
  totalSynapticOps: number;
  totalMacs: number;
}

function zeroCounts(): SpikeCounts {
  return { q: 0, k: 0, v: 0, positional: 0, other: 0 };
}

/** Collects one forward pass's counts; `finish` reads them back with a single readback. */
export class StatsCollector {
  private readonly pending: { layer: number; kind: SpikeKind; spikes: tf.Scalar; synapticOps: tf.Scalar }[] = [];
  private readonly macs = new Map<number, number>();

  constructor(
    readonly batchSize: number,
    readonly tokensPerWindow: number,
    private readonly layerCount: number,
  ) {}

  /** Record spikes of one kind in one layer (tensors are kept until `finish`); `spikes` is int32. */
  addSpikes(layer: number, kind: SpikeKind, spikes: tf.Scalar, synapticOps: tf.Scalar): void {
    this.pending.push({ layer, kind, spikes: tf.keep(spikes), synapticOps: tf.keep(synapticOps) });
  }

  /** Record float MACs; layer -1 is the embeddings and the head. */
  addMacs(layer: number, count: number): void {
    this.macs.set(layer, (this.macs.get(layer) ?? 0) + count);
  }

  finish(model: "snn-dt" | "dt"): ForwardStats {
    const layers: LayerStats[] = [];
    for (let i = 0; i < this.layerCount; i++) layers.push({ layer: i, spikes: zeroCounts(), synapticOps: zeroCounts(), macs: this.macs.get(i) ?? 0 });
    if (this.pending.length > 0) {
      // Spike counts are int32 (exact); operation counts float32 (they can pass 2^31).
      const spikes = tf.tidy(() => tf.stack(this.pending.map((p) => tf.cast(p.spikes, "int32"))).dataSync());
      const ops = tf.tidy(() => tf.stack(this.pending.map((p) => tf.cast(p.synapticOps, "float32"))).dataSync());
      this.pending.forEach((p, i) => {
        layers[p.layer]!.spikes[p.kind] += spikes[i]!;
        layers[p.layer]!.synapticOps[p.kind] += ops[i]!;
      });
      for (const p of this.pending) {
        p.spikes.dispose();
        p.synapticOps.dispose();
      }
    }
    const sum = (counts: SpikeCounts) => SPIKE_KINDS.reduce((acc, kind) => acc + counts[kind], 0);
    const ioMacs = this.macs.get(-1) ?? 0;
    return {
      model,
      batchSize: this.batchSize,
      tokensPerWindow: this.tokensPerWindow,
      layers,
      ioMacs,
      totalSpikes: layers.reduce((acc, l) => acc + sum(l.spikes), 0),
      totalSynapticOps: layers.reduce((acc, l) => acc + sum(l.synapticOps), 0),
      totalMacs: ioMacs + layers.reduce((acc, l) => acc + l.macs, 0),
    };
  }
}

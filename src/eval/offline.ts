/**
 * Offline action quality: how well the model reproduces the dataset's actions on held-out
 * episodes, from the same windows training and rollouts use. Each window ends at one step; the
 * prediction for that step (from its state token) is compared with the recorded action:
 * accuracy of the argmax for discrete actions, mean squared error for continuous ones.
 */
import { tf } from "../runtime/backend.js";
import type { Episode } from "../data/types.js";
import { allocateBatch, writeWindow, type WindowSpec } from "../data/windows.js";
import { disposeInputs, inputsFromBatch, type SequenceModel } from "../model/index.js";

export interface OfflineQuality {
  episodes: number;
  /** Windows evaluated (every step, or an evenly spaced subset of at most maxWindows). */
  windows: number;
  accuracy: number | null;
  mse: number | null;
}

export function offlineActionQuality(model: SequenceModel, episodes: Episode[], spec: WindowSpec, maxWindows = 2048, batchSize = 64): OfflineQuality {
  const ends: [number, number][] = [];
  episodes.forEach((ep, e) => {
    for (let t = 0; t < ep.length; t++) ends.push([e, t]);
  });
  const count = Math.min(ends.length, maxWindows);
  const chosen = Array.from({ length: count }, (_, i) => ends[Math.floor((i * ends.length) / count)]!);
  const discrete = spec.actionSpace.kind === "discrete";
  const width = spec.actionSpace.kind === "discrete" ? 1 : spec.actionSpace.dim;
  let hits = 0;
  let squaredError = 0;
  for (let start = 0; start < chosen.length; start += batchSize) {
    const part = chosen.slice(start, start + batchSize);
    const batch = allocateBatch(part.length, spec);
    part.forEach(([e, t], row) => writeWindow(batch, row, episodes[e]!, t, spec));
    const inputs = inputsFromBatch(batch);
    const output = model.forward(inputs, { training: false });
    const k = spec.context;
    const predictions = tf.tidy(() => output.actions.slice([0, k - 1, 0], [part.length, 1, -1]).reshape([part.length, -1]));
    const values = predictions.dataSync();
    const outWidth = predictions.shape[1]!;
    tf.dispose([predictions, output.actions]);
    disposeInputs(inputs);
    part.forEach(([e, t], row) => {
      const recorded = episodes[e]!.actions.subarray(t * width, (t + 1) * width);
      if (discrete) {
        let best = 0;
        for (let a = 1; a < outWidth; a++) if (values[row * outWidth + a]! > values[row * outWidth + best]!) best = a;
        if (best === recorded[0]) hits += 1;
      } else {
        for (let d = 0; d < width; d++) squaredError += (values[row * outWidth + d]! - recorded[d]!) ** 2;
      }
    });
  }
  const n = chosen.length;
  return {
    episodes: episodes.length,
    windows: n,
    accuracy: discrete && n > 0 ? hits / n : null,
    mse: !discrete && n > 0 ? squaredError / (n * width) : null,
  };
}

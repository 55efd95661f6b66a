/** Reading the PyTorch reference's fixtures (test/fixtures/torch-reference/, made by its make.py). */
import assert from "node:assert/strict";
import { tf } from "../../src/runtime/backend.js";
import type { TensorEntry } from "../../src/train/safetensors.js";
import type { ModelInputs } from "../../src/model/index.js";

/** The tensor `key` of a fixture file, which must hold it. */
export function fixtureTensor(tensors: Map<string, TensorEntry>, file: string, key: string): TensorEntry {
  const found = tensors.get(key);
  assert.ok(found, `${file} has no ${key}`);
  return found;
}

/** The windows stored under `prefix` ("input.", "step0.micro1.") as the models take them. */
export function fixtureInputs(tensors: Map<string, TensorEntry>, file: string, prefix: string): ModelInputs {
  const entry = (key: string) => fixtureTensor(tensors, file, prefix + key);
  const float = (key: string) => tf.tensor(entry(key).data as Float32Array, entry(key).shape);
  return {
    returnsToGo: float("returns_to_go") as tf.Tensor3D,
    states: float("states") as tf.Tensor3D,
    actions: float("actions"),
    timesteps: tf.tensor2d(entry("timesteps").data as Int32Array, entry("timesteps").shape as [number, number], "int32"),
    mask: float("mask") as tf.Tensor2D,
  };
}

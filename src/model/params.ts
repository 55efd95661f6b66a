/**
 * Named trainable variables, created in a fixed order from one seeded stream. The order and names
 * ("blocks.0.attn.q.weight", ...) are stable: checkpoint files are keyed by them.
 */
import { tf } from "../runtime/backend.js";
import type { Rng } from "../runtime/rng.js";

export class ParamStore {
  readonly variables: tf.Variable[] = [];
  /** The stable names, in creation order (the tfjs names can carry an instance suffix, see `add`). */
  readonly names: string[] = [];
  /** Distinguishes the tfjs names of models that are alive at the same time. */
  private static instances = 0;
  private readonly instance: number;

  constructor(private readonly rng: Rng) {
    ParamStore.instances += 1;
    this.instance = ParamStore.instances;
  }

  private add(name: string, shape: number[], values: Float32Array): tf.Variable {
    if (this.names.includes(name)) throw new Error(`duplicate parameter name ${name}`);
    this.names.push(name);
    // tfjs variable names are process-global: a model takes the stable name itself when no live
    // variable holds it, else "name#<instance>". `names` always holds the stable names.
    const taken = tf.engine().registeredVariables[name] !== undefined;
    const initial = tf.tensor(values, shape);
    const variable = tf.variable(initial, true, taken ? `${name}#${this.instance}` : name, "float32");
    initial.dispose();
    this.variables.push(variable);
    return variable;
  }

  /** Glorot-uniform weight [fanIn, fanOut]: keeps activation variance ~1, so LIF currents start in range. */
  glorot(name: string, fanIn: number, fanOut: number): tf.Variable<tf.Rank.R2> {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const values = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < values.length; i++) values[i] = this.rng.uniformRange(-limit, limit);
    return this.add(name, [fanIn, fanOut], values) as tf.Variable<tf.Rank.R2>;
  }

  /** Normal(0, std^2) table, e.g. an embedding. */
  normal(name: string, shape: number[], std: number): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = std * this.rng.normal();
    return this.add(name, shape, values);
  }

  /** A vector filled with one value (biases 0, layer-norm gains 1). */
  constant(name: string, length: number, value: number): tf.Variable<tf.Rank.R1> {
    return this.add(name, [length], new Float32Array(length).fill(value)) as tf.Variable<tf.Rank.R1>;
  }

  /** A vector with given values. */
  vector(name: string, values: number[]): tf.Variable<tf.Rank.R1> {
    return this.add(name, [values.length], Float32Array.from(values)) as tf.Variable<tf.Rank.R1>;
  }

  /** A random uniform draw, for initial values computed outside the store. */
  uniform(low: number, high: number): number {
    return this.rng.uniformRange(low, high);
  }
}

/**
 * An untrainable variable of zeros, for state beside the parameters (optimizer moments, eligibility
 * traces); the zeros tensor it is made from is released (the variable keeps its own reference).
 */
export function zerosVariable(shape: number[]): tf.Variable {
  const zeros = tf.zeros(shape);
  try {
    return tf.variable(zeros, false);
  } finally {
    zeros.dispose();
  }
}

/** A dense layer's parameters. */
export interface Linear {
  weight: tf.Variable<tf.Rank.R2>;
  bias: tf.Variable<tf.Rank.R1>;
}

export function linear(store: ParamStore, name: string, fanIn: number, fanOut: number): Linear {
  return { weight: store.glorot(`${name}.weight`, fanIn, fanOut), bias: store.constant(`${name}.bias`, fanOut, 0) };
}

export interface LayerNormParams {
  gain: tf.Variable<tf.Rank.R1>;
  bias: tf.Variable<tf.Rank.R1>;
}

export function layerNormParams(store: ParamStore, name: string, width: number): LayerNormParams {
  return { gain: store.constant(`${name}.weight`, width, 1), bias: store.constant(`${name}.bias`, width, 0) };
}

/**
 * AdamW, global-norm gradient clipping and gradient accumulation over a fixed list of named
 * `tf.Variable`s (tfjs names unique, order fixed: they key the state in memory; checkpoints map
 * them to the model's stable parameter names).
 *
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), at update t = 1, 2, ...
 * with gradient g, learning rate lr and weight decay wd:
 *
 *   m_t   = beta1 * m_{t-1} + (1 - beta1) * g
 *   v_t   = beta2 * v_{t-1} + (1 - beta2) * g^2
 *   m_hat = m_t / (1 - beta1^t)          v_hat = v_t / (1 - beta2^t)
 *   p_t   = p_{t-1} - lr * ( m_hat / (sqrt(v_hat) + eps) + wd * p_{t-1} )
 *
 * The decay is decoupled: it shrinks the weight directly instead of being added to g, so Adam's
 * per-coordinate scaling does not weaken it; and it is multiplied by the scheduled lr (as in
 * PyTorch's AdamW). Which variables decay: those of rank >= 2 (weight matrices and embedding
 * tables), the usual GPT practice; biases, layer-norm gains and other vectors (positional
 * frequencies and phases) do not, since shrinking them towards zero is not a useful prior.
 */
import * as tf from "@tensorflow/tfjs";
import { zerosVariable } from "../model/params.js";

export type GradientMap = Map<string, tf.Tensor> | tf.NamedTensorMap;

function gradientEntries(grads: GradientMap): [string, tf.Tensor][] {
  return grads instanceof Map ? [...grads.entries()] : Object.entries(grads);
}

function checkUniqueNames(variables: readonly tf.Variable[]): void {
  const seen = new Set<string>();
  for (const v of variables) {
    if (seen.has(v.name)) throw new Error(`variable name "${v.name}" is used twice; names key the optimizer state`);
    seen.add(v.name);
  }
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Which variables receive weight decay (default: rank >= 2). */
  decays?: (variable: tf.Variable) => boolean;
}

/** Everything needed to continue AdamW exactly: the update count and both moments per variable. */
export interface AdamWState {
  /** Updates applied so far (t of the last update). */
  step: number;
  /** By tfjs variable name, in the optimizer's variable order (checkpoint files use stable names). */
  moments: Map<string, { shape: number[]; m: Float32Array; v: Float32Array }>;
}

export const decaysMatrices = (variable: tf.Variable): boolean => variable.rank >= 2;

export class AdamW {
  readonly variables: readonly tf.Variable[];
  readonly options: Required<AdamWOptions>;
  private readonly byName: Map<string, { variable: tf.Variable; m: tf.Variable; v: tf.Variable; decays: boolean }>;
  private updates = 0;

  constructor(variables: readonly tf.Variable[], options: AdamWOptions) {
    checkUniqueNames(variables);
    this.variables = [...variables];
    this.options = { decays: decaysMatrices, ...options };
    this.byName = new Map();
    for (const variable of variables) {
      // Moments are unnamed tfjs variables: their identity is the owner's name in this map.
      this.byName.set(variable.name, {
        variable,
        m: zerosVariable(variable.shape),
        v: zerosVariable(variable.shape),
        decays: this.options.decays(variable),
      });
    }
  }

  /** Updates applied so far. */
  get step(): number {
    return this.updates;
  }

  /** Whether `name` receives weight decay. */
  decays(name: string): boolean {
    const entry = this.byName.get(name);
    if (!entry) throw new Error(`AdamW has no variable "${name}"`);
    return entry.decays;
  }

  /**
   * One AdamW update with learning rate `lr`. A variable without a gradient in `grads` is left
   * untouched (no moment decay, no weight decay), like a parameter whose grad is None in PyTorch.
   * A gradient for an unknown name or of the wrong shape is a bug and throws.
   */
  applyGradients(grads: GradientMap, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`learning rate must be finite and >= 0, got ${lr}`);
    const entries = gradientEntries(grads);
    for (const [name, grad] of entries) {
      const entry = this.byName.get(name);
      if (!entry) throw new Error(`gradient for unknown variable "${name}"`);
      if (!tf.util.arraysEqual(grad.shape, entry.variable.shape)) {
        throw new Error(`gradient for "${name}" has shape [${grad.shape}], the variable [${entry.variable.shape}]`);
      }
    }
    const t = this.updates + 1;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const correction1 = 1 - beta1 ** t;
    const correction2 = 1 - beta2 ** t;
    tf.tidy(() => {
      for (const [name, grad] of entries) {
        const { variable, m, v, decays } = this.byName.get(name)!;
        const mNext = m.mul(beta1).add(grad.mul(1 - beta1));
        const vNext = v.mul(beta2).add(grad.square().mul(1 - beta2));
        m.assign(mNext);
        v.assign(vNext);
        const adam = mNext.div(correction1).div(vNext.div(correction2).sqrt().add(eps));
        const direction = decays && weightDecay > 0 ? adam.add(variable.mul(weightDecay)) : adam;
        variable.assign(variable.sub(direction.mul(lr)));
      }
    });
    this.updates = t;
  }

  /** Read back the state (for a checkpoint). */
  async getState(): Promise<AdamWState> {
    const moments: AdamWState["moments"] = new Map();
    for (const variable of this.variables) {
      const { m, v } = this.byName.get(variable.name)!;
      moments.set(variable.name, { shape: [...variable.shape], m: (await m.data()) as Float32Array, v: (await v.data()) as Float32Array });
    }
    return { step: this.updates, moments };
  }

  /** Restore a saved state; names and shapes must match this optimizer's variables exactly. */
  setState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`optimizer step must be an integer >= 0, got ${state.step}`);
    const missing = this.variables.filter((v) => !state.moments.has(v.name)).map((v) => v.name);
    const extra = [...state.moments.keys()].filter((name) => !this.byName.has(name));
    if (missing.length || extra.length) {
      throw new Error(
        `optimizer state does not match the model: ${missing.length ? `missing moments for ${missing.join(", ")}` : ""}` +
          `${missing.length && extra.length ? "; " : ""}${extra.length ? `moments for unknown variables ${extra.join(", ")}` : ""}`,
      );
    }
    for (const [name, saved] of state.moments) {
      const { variable, m, v } = this.byName.get(name)!;
      if (!tf.util.arraysEqual(saved.shape, variable.shape)) {
        throw new Error(`optimizer moments for "${name}" have shape [${saved.shape}], the variable [${variable.shape}]`);
      }
      tf.tidy(() => {
        m.assign(tf.tensor(saved.m, variable.shape, "float32"));
        v.assign(tf.tensor(saved.v, variable.shape, "float32"));
      });
    }
    this.updates = state.step;
  }

  dispose(): void {
    for (const { m, v } of this.byName.values()) {
      m.dispose();
      v.dispose();
    }
  }
}

/**
 * Global-norm clipping: with n = sqrt(sum over all gradients of sum(g^2)), every gradient is scaled
 * by min(1, maxNorm / n). Returns the scaled gradients (new tensors) and the pre-clip norm as a
 * scalar tensor (no readback, so the step stays on the device). maxNorm = 0 disables the scaling.
 */
export function clipByGlobalNorm(grads: GradientMap, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  if (!(maxNorm >= 0)) throw new Error(`maxNorm must be >= 0, got ${maxNorm}`);
  const entries = gradientEntries(grads);
  const [norm, ...scaled] = tf.tidy(() => {
    const squares = entries.map(([, g]) => g.square().sum());
    const total = (squares.length ? tf.addN(squares) : tf.scalar(0)).sqrt() as tf.Scalar;
    if (maxNorm === 0) return [total, ...entries.map(([, g]) => g.clone())];
    // maxNorm / max(n, maxNorm) = min(1, maxNorm / n), and never divides by zero.
    const scale = tf.scalar(maxNorm).div(tf.maximum(total, maxNorm));
    return [total, ...entries.map(([, g]) => g.mul(scale))];
  });
  return { grads: new Map(entries.map(([name], i) => [name, scaled[i]!])), norm: norm as tf.Scalar };
}

/**
 * Sums gradients of `grad_accum` micro-batches in device variables, each weighted; `mean()` gives
 * sum_i w_i g_i / sum_i w_i. With w_i the number of real (unpadded) steps of micro-batch i, whose
 * loss is a mean over those steps, that is the gradient of the mean over all the micro-batches'
 * steps: what one large batch gives.
 */
export class GradientAccumulator {
  private readonly sums: Map<string, tf.Variable>;
  /** Variables that received a gradient since the last reset (others get none from mean()). */
  private readonly touched = new Set<string>();
  private added = 0;
  private totalWeight = 0;

  constructor(variables: readonly tf.Variable[]) {
    checkUniqueNames(variables);
    this.sums = new Map(variables.map((v) => [v.name, zerosVariable(v.shape)]));
  }

  /** Micro-batches added since the last reset. */
  get count(): number {
    return this.added;
  }

  add(grads: GradientMap, weight = 1): void {
    if (!(weight > 0) || !Number.isFinite(weight)) throw new Error(`micro-batch weight must be a positive number, got ${weight}`);
    const entries = gradientEntries(grads);
    for (const [name, g] of entries) {
      const sum = this.sums.get(name);
      if (!sum) throw new Error(`gradient for unknown variable "${name}"`);
      if (!tf.util.arraysEqual(g.shape, sum.shape)) throw new Error(`gradient for "${name}" has shape [${g.shape}], the variable [${sum.shape}]`);
    }
    tf.tidy(() => {
      for (const [name, g] of entries) {
        const sum = this.sums.get(name)!;
        sum.assign(sum.add(weight === 1 ? g : g.mul(weight)));
        this.touched.add(name);
      }
    });
    this.added += 1;
    this.totalWeight += weight;
  }

  /**
   * The weighted mean gradient (weighted sum / total weight) of every variable that received one
   * (new tensors; the caller disposes them, e.g. inside tf.tidy).
   */
  mean(): Map<string, tf.Tensor> {
    if (this.added === 0) throw new Error("GradientAccumulator.mean() before any add()");
    const out = new Map<string, tf.Tensor>();
    for (const [name, sum] of this.sums) if (this.touched.has(name)) out.set(name, tf.tidy(() => sum.div(this.totalWeight)));
    return out;
  }

  reset(): void {
    tf.tidy(() => {
      for (const sum of this.sums.values()) sum.assign(tf.zerosLike(sum));
    });
    this.touched.clear();
    this.added = 0;
    this.totalWeight = 0;
  }

  dispose(): void {
    for (const sum of this.sums.values()) sum.dispose();
  }
}

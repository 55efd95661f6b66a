/**
 * Leaky integrate-and-fire neuron, forward Euler, hard reset.
 *
 *     V[t+1] = V[t] + (dt/tau_m) (V_rest - V[t]) + dt * C_m * I          (integrate)
 *     S[t+1] = 1[V[t+1] >= V_th]                                          (fire)
 *     V[t+1] <- V_rest where S[t+1] = 1                                   (hard reset)
 *
 * with V[0] = V_rest and a constant input current per token, I = current_scale * x, unrolled over T
 * steps. The spike uses the fast-sigmoid surrogate in the backward pass (see surrogate.ts).
 *
 * The reset is NOT detached: the post-reset membrane is V = V' (1 - S) + V_rest S, so its gradient
 * carries the term (V_rest - V') dS/dV' through the surrogate. Both forms here (the unrolled
 * reference and the fused op) differentiate through it, and the tests check the fused gradient
 * against a hand-derived one that includes the reset path.
 */
import { tf } from "../runtime/backend.js";
import { customOp1, recordingGradients } from "./custom-grad.js";
import { hasKernel, registerFloatKernel, runKernel, type HeapAccess } from "./kernels.js";
import { LIF_SIMD_BLOCK, lifSimdFor } from "./lif-simd.js";
import { fastSigmoidGrad, spikeFunction } from "./surrogate.js";

export interface LifParams {
  /** Simulation steps per token. */
  T: number;
  dt: number;
  tau_m: number;
  v_rest: number;
  v_th: number;
  c_m: number;
  /** Input current per unit of the neuron's input x: I = current_scale * x. */
  current_scale: number;
  /** Surrogate sharpness k of 1/(1+|k u|)^2. */
  k: number;
}

export interface LifTrace {
  /** Spikes per step, [T, ...shape of x], exactly 0 or 1. */
  spikes: tf.Tensor;
  /** Membrane after the reset, per step, [T, ...shape of x]; only when asked for. */
  membrane?: tf.Tensor;
}

/** Constants of the fused LIF kernels, in the shifted coordinate z = V - V_rest (see `rates`). */
interface LifKernelAttrs {
  T: number;
  leak: number;
  gain: number;
  theta: number;
  k: number;
}

const LIF_RATES = "SnndtLifRates";
const LIF_RATES_GRAD = "SnndtLifRatesGrad";

/**
 * Forward over all T steps in one pass. With a constant drive and a hard reset to z = 0 the
 * trajectory is periodic: after a spike it repeats the float32 steps from rest exactly. So only the
 * steps up to the first spike are simulated (p_t = z_{t-1} leak + drive in float32, exactly as the
 * tf-op form computes them); a first spike at step n gives floor(T / n) spikes, none gives 0.
 * rate = spikes / T, plus (drive - drive): 0, or NaN for a NaN or infinite input, as the tf ops
 * give, so that a diverged run is noticed. On WASM the bulk runs in the SIMD module (lif-simd.ts),
 * which gives the same values; JS does the last n mod LIF_SIMD_BLOCK neurons and the cpu backend.
 */
function lifRatesBody([x]: Float32Array[], [rate]: Float32Array[], a: LifKernelAttrs, heap?: HeapAccess): void {
  const simd = heap ? lifSimdFor(heap.memory) : null;
  let start = 0;
  if (heap && simd) {
    start = x.length - (x.length % LIF_SIMD_BLOCK);
    simd.forward(heap.inputOffsets[0]!, heap.outputOffsets[0]!, start, a.T, a.leak, a.gain, a.theta);
  }
  const fround = Math.fround;
  const leak = fround(a.leak);
  const gain = fround(a.gain);
  const theta = fround(a.theta);
  const T = a.T;
  for (let i = start; i < x.length; i++) {
    const drive = fround(x[i]! * gain);
    let z = 0;
    let firstSpike = 1;
    for (; firstSpike <= T; firstSpike++) {
      const p = fround(fround(z * leak) + drive);
      if (p >= theta) break;
      z = p;
    }
    rate[i] = (firstSpike <= T ? Math.floor(T / firstSpike) / T : 0) + (drive - drive);
  }
}

/**
 * Surrogate backward in one pass: per neuron, recompute the T pre-reset membranes p_t (the same
 * float32 steps as the forward, so the spike decisions agree), then run the reverse recurrence of
 * `rates` (reset path included) and write dL/dx = gain * sum_t dL/dp_t.
 */
function lifRatesGradBody([x, dy]: Float32Array[], [dx]: Float32Array[], a: LifKernelAttrs, heap?: HeapAccess): void {
  const simd = heap ? lifSimdFor(heap.memory) : null;
  let start = 0;
  if (heap && simd) {
    start = x.length - (x.length % LIF_SIMD_BLOCK);
    const [xAt, dyAt] = heap.inputOffsets as [number, number];
    simd.backward(xAt, dyAt, heap.outputOffsets[0]!, start, a.T, a.leak, a.gain, a.theta, a.k, heap.scratch);
  }
  const fround = Math.fround;
  const leak = fround(a.leak);
  const gain = fround(a.gain);
  const theta = fround(a.theta);
  const { T, k } = a;
  const membrane = new Float32Array(T);
  for (let i = start; i < x.length; i++) {
    const drive = fround(x[i]! * gain);
    let z = 0;
    for (let t = 0; t < T; t++) {
      const p = fround(fround(z * leak) + drive);
      membrane[t] = p;
      z = p >= theta ? 0 : p;
    }
    const dRate = dy[i]! / T;
    let dz = 0;
    let sum = 0;
    for (let t = T - 1; t >= 0; t--) {
      const p = membrane[t]!;
      const softness = 1 + Math.abs(k * (p - theta));
      const g = 1 / (softness * softness);
      const dp = (p < theta ? dz : 0) + (dRate - dz * p) * g;
      sum += dp;
      dz = dp * leak;
    }
    dx[i] = sum * gain;
  }
}

registerFloatKernel<LifKernelAttrs>({ name: LIF_RATES, inputs: ["x"], outputShapes: ([x]) => [x!], body: lifRatesBody });
registerFloatKernel<LifKernelAttrs>({
  name: LIF_RATES_GRAD,
  inputs: ["x", "dy"],
  outputShapes: ([x]) => [x!],
  body: lifRatesGradBody,
  // The SIMD backward keeps the T pre-reset membranes of the neurons of one loop iteration.
  scratchBytes: (a) => 4 * LIF_SIMD_BLOCK * a.T,
});

export class LifNeuron {
  /** Membrane retention per step, 1 - dt/tau_m. */
  private readonly leak: number;
  /** Membrane gain per unit of x, dt * C_m * current_scale. */
  private readonly gain: number;
  private readonly spike: (u: tf.Tensor) => tf.Tensor;
  /**
   * Spike rates count/T of the fused multi-step LIF (one custom gradient over all T steps): the
   * one-pass kernels on backends that have them (WASM, cpu), else `opRates`.
   */
  readonly rates: (x: tf.Tensor) => tf.Tensor;
  /** The fused op composed of tf ops, for backends without the kernels (tfjs-node). */
  readonly opRates: (x: tf.Tensor) => tf.Tensor;
  private readonly kernelRates: (x: tf.Tensor) => tf.Tensor;

  constructor(readonly params: LifParams) {
    if (!(Number.isInteger(params.T) && params.T >= 1)) throw new Error(`LIF T must be a positive integer, got ${params.T}`);
    this.leak = 1 - params.dt / params.tau_m;
    this.gain = params.dt * params.c_m * params.current_scale;
    this.spike = spikeFunction(params.k);
    this.opRates = this.makeFusedRates();
    const attrs: LifKernelAttrs = { T: params.T, leak: this.leak, gain: this.gain, theta: params.v_th - params.v_rest, k: params.k };
    this.kernelRates = this.makeKernelRates(attrs);
    this.rates = (x) => {
      if (!hasKernel(LIF_RATES)) return this.opRates(x);
      return recordingGradients() ? this.kernelRates(x) : runKernel(LIF_RATES, { x }, attrs);
    };
  }

  /**
   * One Euler step from membrane `v` with input `x`: returns the spikes and the membrane after the
   * reset. Differentiable (surrogate spike, reset not detached).
   */
  step(v: tf.Tensor, x: tf.Tensor): { spikes: tf.Tensor; membrane: tf.Tensor } {
    const { dt, tau_m, v_rest, v_th, c_m, current_scale } = this.params;
    return tf.tidy(() => {
      const integrated = tf.add(tf.add(v, tf.mul(dt / tau_m, tf.sub(v_rest, v))), tf.mul(dt * c_m * current_scale, x));
      const spikes = this.spike(tf.sub(integrated, v_th));
      const membrane = tf.add(tf.mul(integrated, tf.sub(1, spikes)), tf.mul(v_rest, spikes));
      return { spikes, membrane };
    });
  }

  /**
   * The unfused reference: T single steps from V_rest, differentiated by autodiff. It keeps every
   * intermediate for the backward pass (memory-hungry); it is the oracle the fused op is tested against.
   */
  multiStep(x: tf.Tensor, options: { trace?: boolean } = {}): LifTrace {
    return tf.tidy(() => {
      let v: tf.Tensor = tf.fill(x.shape, this.params.v_rest);
      const spikes: tf.Tensor[] = [];
      const membrane: tf.Tensor[] = [];
      for (let t = 0; t < this.params.T; t++) {
        const out = this.step(v, x);
        spikes.push(out.spikes);
        membrane.push(out.membrane);
        v = out.membrane;
      }
      const result: LifTrace = { spikes: tf.stack(spikes) };
      if (options.trace) result.membrane = tf.stack(membrane);
      return result as unknown as tf.TensorContainer;
    }) as unknown as LifTrace;
  }

  /** Spike rate (count / T) from the unfused reference; the fused `rates` must equal it. */
  referenceRates(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mean(this.multiStep(x).spikes, 0));
  }

  /** `rates` on the one-pass kernels: saves only x (the backward recomputes the membranes). */
  private makeKernelRates(attrs: LifKernelAttrs): (x: tf.Tensor) => tf.Tensor {
    return customOp1((x, save) => {
      save([x]);
      return {
        value: runKernel(LIF_RATES, { x }, attrs),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runKernel(LIF_RATES_GRAD, { x: saved[0]!, dy }, attrs),
      };
    });
  }

  /**
   * Fused multi-step LIF from tf ops, returning the spike rate count/T, as one custom-gradient op
   * that saves only the pre-reset membrane of every step.
   *
   * It runs in the shifted coordinate z = V - V_rest (threshold theta = V_th - V_rest, reset to 0),
   * where the Euler step is p_t = leak * z_{t-1} + gain * x, S_t = 1[p_t >= theta],
   * z_t = (1 - S_t) p_t. Backward, from t = T down to 1, with g_t = 1/(1+|k (p_t - theta)|)^2:
   *
   *     dL/dp_t     = dL/dz_t (1 - S_t) + (dL/drate / T - dL/dz_t p_t) g_t    (reset path included)
   *     dL/dz_{t-1} = leak * dL/dp_t,      dL/dx += gain * dL/dp_t
   */
  private makeFusedRates(): (x: tf.Tensor) => tf.Tensor {
    const { T, v_th, v_rest, k } = this.params;
    const theta = v_th - v_rest;
    const leak = this.leak;
    const gain = this.gain;
    return customOp1((x, save) => {
      const drive = tf.mul(x, gain);
      const preReset: tf.Tensor[] = [];
      let z: tf.Tensor | null = null;
      let silentSteps: tf.Tensor | null = null;
      for (let t = 0; t < T; t++) {
        const p: tf.Tensor = z === null ? drive : tf.tidy(() => tf.add(tf.mul(z!, leak), drive));
        const silent = tf.step(tf.sub(theta, p)); // 1 - S_t: 1 where p < theta
        preReset.push(p);
        const nextZ = tf.mul(silent, p);
        const nextSilent: tf.Tensor = silentSteps === null ? silent : tf.add(silentSteps, silent);
        if (z !== null) z.dispose();
        if (silentSteps !== null) silentSteps.dispose();
        if (nextSilent !== silent) silent.dispose();
        z = nextZ;
        silentSteps = nextSilent;
      }
      save(preReset);
      const rate = tf.tidy(() => tf.div(tf.sub(T, silentSteps!), T));
      return {
        value: rate,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const dRate = tf.div(dy, T);
          let dz: tf.Tensor | null = null;
          let dx: tf.Tensor | null = null;
          for (let t = T - 1; t >= 0; t--) {
            const p = saved[t]!;
            const dp = tf.tidy(() => {
              const g = fastSigmoidGrad(tf.sub(p, theta), k);
              if (dz === null) return tf.mul(dRate, g);
              const silent = tf.step(tf.sub(theta, p));
              return tf.add(tf.mul(dz, silent), tf.mul(tf.sub(dRate, tf.mul(dz, p)), g));
            });
            // dx accumulates sum_t dp_t; the constant gain is applied once at the end.
            const nextDx: tf.Tensor = dx === null ? dp : tf.add(dx, dp);
            const nextDz = tf.mul(dp, leak);
            if (dx !== null) {
              dx.dispose();
              dp.dispose();
            }
            if (dz !== null) dz.dispose();
            dx = nextDx;
            dz = nextDz;
          }
          dz!.dispose();
          dRate.dispose();
          const result = tf.mul(dx!, gain);
          dx!.dispose();
          return [result];
        },
      };
    });
  }
}

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
import { customOp1 } from "./custom-grad.js";
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

export class LifNeuron {
  /** Membrane retention per step, 1 - dt/tau_m. */
  private readonly leak: number;
  /** Membrane gain per unit of x, dt * C_m * current_scale. */
  private readonly gain: number;
  private readonly spike: (u: tf.Tensor) => tf.Tensor;
  /** The fused multi-step op (one custom gradient over all T steps). */
  readonly rates: (x: tf.Tensor) => tf.Tensor;

  constructor(readonly params: LifParams) {
    if (!(Number.isInteger(params.T) && params.T >= 1)) throw new Error(`LIF T must be a positive integer, got ${params.T}`);
    this.leak = 1 - params.dt / params.tau_m;
    this.gain = params.dt * params.c_m * params.current_scale;
    this.spike = spikeFunction(params.k);
    this.rates = this.makeFusedRates();
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

  /**
   * Fused multi-step LIF returning the spike rate count/T, as one custom-gradient op that saves only
   * the pre-reset membrane of every step.
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

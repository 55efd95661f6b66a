/**
 * Energy per decision, estimated the way the SNN literature does (Horowitz, ISSCC 2014, 45 nm):
 *
 *   E_snn = SOPs * E_AC + MACs_dense * E_MAC
 *   E_dt  = MACs_dt * E_MAC
 *
 * where a synaptic operation (SOP) is one spike reaching one synapse (spikes x fan-out) and costs
 * an accumulate, while float products cost a multiply-accumulate. MACs_dense are the SNN-DT's float
 * products (embeddings, projections on float inputs, attention on rates, the head); MACs_dt are all
 * of a plain Decision Transformer's of the same size. This is an estimate of arithmetic only:
 * memory traffic, which dominates on real hardware, is not counted.
 */
import type { ForwardStats } from "../model/index.js";

export interface EnergyConstants {
  /** Energy of one accumulate, picojoules (0.9 pJ: 32-bit float add, 45 nm). */
  acPicojoules: number;
  /** Energy of one multiply-accumulate, picojoules (4.6 pJ: 32-bit float mult + add, 45 nm). */
  macPicojoules: number;
}

export const DEFAULT_ENERGY: EnergyConstants = { acPicojoules: 0.9, macPicojoules: 4.6 };

export interface DecisionEnergy {
  synapticOps: number;
  macs: number;
  /** Nanojoules per decision. */
  nanojoules: number;
}

/** Energy of one forward pass's counts (ForwardStats of the SNN-DT or the DT). */
export function energyOf(stats: Pick<ForwardStats, "totalSynapticOps" | "totalMacs">, constants: EnergyConstants): DecisionEnergy {
  const picojoules = stats.totalSynapticOps * constants.acPicojoules + stats.totalMacs * constants.macPicojoules;
  return { synapticOps: stats.totalSynapticOps, macs: stats.totalMacs, nanojoules: picojoules / 1000 };
}

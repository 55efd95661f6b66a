/**
 * The fused LIF kernels as a tiny WebAssembly SIMD module that works in place on the tfjs WASM
 * backend's memory (it imports the backend's WebAssembly.Memory), four neurons per instruction and
 * GROUPS independent groups of four per loop iteration.
 * The module is assembled here from its opcodes (no toolchain needed at build or run time).
 *
 *   lif_forward(x, out, n, T, leak, gain, theta)
 *       per neuron: drive = x gain, z = 0; T times: p = z leak + drive, fire = p >= theta,
 *       count += fire, z = fire ? 0 : p; out = count / T + (drive - drive)
 *       (the last term is 0, or NaN for a NaN or infinite input so that divergence shows).
 *   lif_backward(x, dy, dx, n, T, leak, gain, theta, k, scratch)
 *       per neuron: recompute p_1..p_T into `scratch`, then from t = T down to 1
 *       g = 1/(1+|k (p_t - theta)|)^2, dp = (p_t < theta ? dz : 0) + (dy/T - dz p_t) g,
 *       sum += dp, dz = dp leak; dx = sum gain   (the recurrence documented in lif.ts).
 *
 * Pointers are byte offsets into the heap; n is a multiple of LIF_SIMD_BLOCK (the caller does the
 * tail in JS); the backward's scratch holds T x LIF_SIMD_BLOCK floats.
 * Every step is IEEE float32 (no fused multiply-add), the same arithmetic as the tf-op form, so spike
 * decisions and rates are identical to it.
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (text: string): number[] => vec([...Buffer.from(text, "utf8")].map((b) => [b]));

// Instructions.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const I32_ADD = [0x6a];
const I32_SUB = [0x6b];
const I32_SHL = [0x74];
const I32_GE_S = [0x4e];
const I32_GE_U = [0x4f];
const I32_EQZ = [0x45];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = [0x0b];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const simd = (op: number) => [0xfd, ...uleb(op)];
const ZERO = [...simd(0x0c), ...new Array<number>(16).fill(0)];
const I32X4_SPLAT = simd(0x11);
const F32X4_SPLAT = simd(0x13);
const F32X4_LT = simd(0x43);
const F32X4_GE = simd(0x46);
const AND = simd(0x4e);
const ANDNOT = simd(0x4f);
const I32X4_SUB = simd(0xb1);
const F32X4_ABS = simd(0xe0);
const F32X4_ADD = simd(0xe4);
const F32X4_SUB = simd(0xe5);
const F32X4_MUL = simd(0xe6);
const F32X4_DIV = simd(0xe7);
const F32X4_CONVERT_I32X4_S = simd(0xfa);

/**
 * Neuron groups processed side by side in one loop iteration: each group of 4 is a chain of
 * dependent steps, so interleaving independent groups lets the CPU overlap them.
 */
export const GROUPS = 4;
/** Neurons per loop iteration: n must be a multiple of this. */
export const LIF_SIMD_BLOCK = 4 * GROUPS;
const BLOCK_BYTES = 16 * GROUPS;

const load = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
const store = (offset: number) => [...simd(0x0b), 0, ...uleb(offset)];

/** for (o = 0; o < nbytes; o += BLOCK_BYTES) body — `o` and `nbytes` are locals. */
function forEachBlock(o: number, nbytes: number, body: number[]): number[] {
  return [...i32c(0), ...set(o), ...BLOCK, ...LOOP, ...get(o), ...get(nbytes), ...I32_GE_U, ...brIf(1), ...body, ...get(o), ...i32c(BLOCK_BYTES), ...I32_ADD, ...set(o), ...br(0), ...END, ...END];
}

/** (base + o) on the stack. */
const at = (base: number, o: number) => [...get(base), ...get(o), ...I32_ADD];

/** The same code for every group g, with that group's locals (first + g * stride) and byte offset 16 g. */
const perGroup = (code: (g: number, offset: number) => number[]): number[] => Array.from({ length: GROUPS }, (_, g) => code(g, 16 * g)).flat();

function forwardBody(): number[] {
  // params: 0 x, 1 out, 2 n, 3 T, 4 leak, 5 gain, 6 theta
  const [o, nbytes, t] = [7, 8, 9];
  const [leakv, gainv, thetav, Tv] = [10, 11, 12, 13];
  // Per group: drive, z, count, p, fire.
  const local = (g: number, i: number) => 14 + 5 * g + i;
  const [DRIVE, Z, COUNT, P, FIRE] = [0, 1, 2, 3, 4];
  const locals = vec([[3, I32], [4 + 5 * GROUPS, V128]]);
  const code = [
    ...get(4), ...F32X4_SPLAT, ...set(leakv),
    ...get(5), ...F32X4_SPLAT, ...set(gainv),
    ...get(6), ...F32X4_SPLAT, ...set(thetav),
    ...get(3), ...I32X4_SPLAT, ...F32X4_CONVERT_I32X4_S, ...set(Tv),
    ...get(2), ...i32c(2), ...I32_SHL, ...set(nbytes),
    ...forEachBlock(o, nbytes, [
      ...perGroup((g, offset) => [
        ...at(0, o), ...load(offset), ...get(gainv), ...F32X4_MUL, ...set(local(g, DRIVE)),
        ...ZERO, ...set(local(g, Z)), ...ZERO, ...set(local(g, COUNT)),
      ]),
      ...i32c(0), ...set(t),
      ...BLOCK, ...LOOP,
      ...get(t), ...get(3), ...I32_GE_S, ...brIf(1),
      ...perGroup((g) => [
        ...get(local(g, Z)), ...get(leakv), ...F32X4_MUL, ...get(local(g, DRIVE)), ...F32X4_ADD, ...set(local(g, P)),
        ...get(local(g, P)), ...get(thetav), ...F32X4_GE, ...set(local(g, FIRE)),
        ...get(local(g, COUNT)), ...get(local(g, FIRE)), ...I32X4_SUB, ...set(local(g, COUNT)),
        ...get(local(g, P)), ...get(local(g, FIRE)), ...ANDNOT, ...set(local(g, Z)),
      ]),
      ...get(t), ...i32c(1), ...I32_ADD, ...set(t), ...br(0),
      ...END, ...END,
      ...perGroup((g, offset) => [
        ...at(1, o),
        ...get(local(g, COUNT)), ...F32X4_CONVERT_I32X4_S, ...get(Tv), ...F32X4_DIV,
        ...get(local(g, DRIVE)), ...get(local(g, DRIVE)), ...F32X4_SUB, ...F32X4_ADD,
        ...store(offset),
      ]),
    ]),
    ...END,
  ];
  return [...locals, ...code];
}

function backwardBody(): number[] {
  // params: 0 x, 1 dy, 2 dx, 3 n, 4 T, 5 leak, 6 gain, 7 theta, 8 k, 9 scratch
  const [o, nbytes, t, slot] = [10, 11, 12, 13];
  const [leakv, gainv, thetav, kv, Tv, one] = [14, 15, 16, 17, 18, 19];
  // Per group: drive, z, p, fire, dRate, dz, sum, g, dp.
  const local = (g: number, i: number) => 20 + 9 * g + i;
  const [DRIVE, Z, P, FIRE, DRATE, DZ, SUM, G, DP] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const locals = vec([[4, I32], [6 + 9 * GROUPS, V128]]);
  // The membranes of step t of all groups: scratch + t * BLOCK_BYTES (+ 16 g as the memarg offset).
  const slotAddress = [...get(9), ...get(t), ...i32c(Math.log2(BLOCK_BYTES)), ...I32_SHL, ...I32_ADD];
  const code = [
    ...get(5), ...F32X4_SPLAT, ...set(leakv),
    ...get(6), ...F32X4_SPLAT, ...set(gainv),
    ...get(7), ...F32X4_SPLAT, ...set(thetav),
    ...get(8), ...F32X4_SPLAT, ...set(kv),
    ...get(4), ...I32X4_SPLAT, ...F32X4_CONVERT_I32X4_S, ...set(Tv),
    ...i32c(1), ...I32X4_SPLAT, ...F32X4_CONVERT_I32X4_S, ...set(one),
    ...get(3), ...i32c(2), ...I32_SHL, ...set(nbytes),
    ...forEachBlock(o, nbytes, [
      // Forward again, keeping every pre-reset membrane.
      ...perGroup((g, offset) => [...at(0, o), ...load(offset), ...get(gainv), ...F32X4_MUL, ...set(local(g, DRIVE)), ...ZERO, ...set(local(g, Z))]),
      ...i32c(0), ...set(t),
      ...BLOCK, ...LOOP,
      ...get(t), ...get(4), ...I32_GE_S, ...brIf(1),
      ...slotAddress, ...set(slot),
      ...perGroup((g, offset) => [
        ...get(local(g, Z)), ...get(leakv), ...F32X4_MUL, ...get(local(g, DRIVE)), ...F32X4_ADD, ...set(local(g, P)),
        ...get(slot), ...get(local(g, P)), ...store(offset),
        ...get(local(g, P)), ...get(thetav), ...F32X4_GE, ...set(local(g, FIRE)),
        ...get(local(g, P)), ...get(local(g, FIRE)), ...ANDNOT, ...set(local(g, Z)),
      ]),
      ...get(t), ...i32c(1), ...I32_ADD, ...set(t), ...br(0),
      ...END, ...END,
      // Backward from the last step.
      ...perGroup((g, offset) => [
        ...at(1, o), ...load(offset), ...get(Tv), ...F32X4_DIV, ...set(local(g, DRATE)),
        ...ZERO, ...set(local(g, DZ)), ...ZERO, ...set(local(g, SUM)),
      ]),
      ...get(4), ...set(t),
      ...BLOCK, ...LOOP,
      ...get(t), ...I32_EQZ, ...brIf(1),
      ...get(t), ...i32c(1), ...I32_SUB, ...set(t),
      ...slotAddress, ...set(slot),
      ...perGroup((g, offset) => {
        const [p, gg, dz, dp] = [local(g, P), local(g, G), local(g, DZ), local(g, DP)];
        return [
          ...get(slot), ...load(offset), ...set(p),
          ...get(one), ...get(kv), ...get(p), ...get(thetav), ...F32X4_SUB, ...F32X4_MUL, ...F32X4_ABS, ...F32X4_ADD, ...set(gg),
          ...get(one), ...get(gg), ...get(gg), ...F32X4_MUL, ...F32X4_DIV, ...set(gg),
          ...get(dz), ...get(p), ...get(thetav), ...F32X4_LT, ...AND,
          ...get(local(g, DRATE)), ...get(dz), ...get(p), ...F32X4_MUL, ...F32X4_SUB, ...get(gg), ...F32X4_MUL,
          ...F32X4_ADD, ...set(dp),
          ...get(local(g, SUM)), ...get(dp), ...F32X4_ADD, ...set(local(g, SUM)),
          ...get(dp), ...get(leakv), ...F32X4_MUL, ...set(dz),
        ];
      }),
      ...br(0),
      ...END, ...END,
      ...perGroup((g, offset) => [...at(2, o), ...get(local(g, SUM)), ...get(gainv), ...F32X4_MUL, ...store(offset)]),
    ]),
    ...END,
  ];
  return [...locals, ...code];
}

function moduleBytes(): Uint8Array {
  const forwardType = [0x60, ...vec([[I32], [I32], [I32], [I32], [F32], [F32], [F32]]), ...vec([])];
  const backwardType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [F32], [F32], [F32], [I32]]), ...vec([])];
  const bodies = [forwardBody(), backwardBody()].map((body) => [...uleb(body.length), ...body]);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([forwardType, backwardType])),
    ...section(2, vec([[...name("env"), ...name("memory"), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...name("lif_forward"), 0x00, 0], [...name("lif_backward"), 0x00, 1]])),
    ...section(10, vec(bodies)),
  ]);
}

/** The parts of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface LifSimd {
  forward(x: number, out: number, n: number, T: number, leak: number, gain: number, theta: number): void;
  backward(x: number, dy: number, dx: number, n: number, T: number, leak: number, gain: number, theta: number, k: number, scratch: number): void;
}

let compiled: object | null | undefined;
const instances = new WeakMap<object, LifSimd>();

/** The kernels bound to `memory` (a WebAssembly.Memory), or null when this runtime has no WebAssembly SIMD. */
export function lifSimdFor(memory: object): LifSimd | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = wasmApi.validate(bytes) ? new wasmApi.Module(bytes) : null;
  }
  if (compiled === null) return null;
  let bound = instances.get(memory);
  if (!bound) {
    const exports = new wasmApi.Instance(compiled, { env: { memory } }).exports as unknown as {
      lif_forward: LifSimd["forward"];
      lif_backward: LifSimd["backward"];
    };
    bound = { forward: exports.lif_forward, backward: exports.lif_backward };
    instances.set(memory, bound);
  }
  return bound;
}

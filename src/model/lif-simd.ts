/**
 * The fused LIF kernels as a tiny WebAssembly SIMD module that works in place on the tfjs WASM
 * backend's memory (it imports the backend's WebAssembly.Memory), four neurons per instruction.
 * The module is assembled here from its opcodes (no toolchain needed at build or run time).
 *
 *   lif_forward(x, out, n, T, leak, gain, theta)
 *       per neuron: drive = x gain, z = 0; T times: p = z leak + drive, fire = p >= theta,
 *       count += fire, z = fire ? 0 : p; out = count / T + (drive - drive)
 *       (the last term is 0, or NaN for a NaN or infinite input so that divergence shows).
 *   lif_backward(x, dy, dx, n, T, leak, gain, theta, k, scratch)
 *       per neuron: recompute p_1..p_T into `scratch` (T x 16 bytes), then from t = T down to 1
 *       g = 1/(1+|k (p_t - theta)|)^2, dp = (p_t < theta ? dz : 0) + (dy/T - dz p_t) g,
 *       sum += dp, dz = dp leak; dx = sum gain   (the recurrence documented in lif.ts).
 *
 * Pointers are byte offsets into the heap; n is a multiple of 4 (the caller does the tail in JS).
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
const LOAD = [...simd(0x00), 0, 0];
const STORE = [...simd(0x0b), 0, 0];
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

/** for (o = 0; o < nbytes; o += 16) body — `o` and `nbytes` are locals. */
function forEachQuad(o: number, nbytes: number, body: number[]): number[] {
  return [...i32c(0), ...set(o), ...BLOCK, ...LOOP, ...get(o), ...get(nbytes), ...I32_GE_U, ...brIf(1), ...body, ...get(o), ...i32c(16), ...I32_ADD, ...set(o), ...br(0), ...END, ...END];
}

/** (base + o) on the stack. */
const at = (base: number, o: number) => [...get(base), ...get(o), ...I32_ADD];

function forwardBody(): number[] {
  // params: 0 x, 1 out, 2 n, 3 T, 4 leak, 5 gain, 6 theta
  const [o, nbytes, t] = [7, 8, 9];
  const [drive, z, count, p, fire, leakv, gainv, thetav, Tv] = [10, 11, 12, 13, 14, 15, 16, 17, 18];
  const locals = vec([[3, I32], [9, V128]]);
  const code = [
    ...get(4), ...F32X4_SPLAT, ...set(leakv),
    ...get(5), ...F32X4_SPLAT, ...set(gainv),
    ...get(6), ...F32X4_SPLAT, ...set(thetav),
    ...get(3), ...I32X4_SPLAT, ...F32X4_CONVERT_I32X4_S, ...set(Tv),
    ...get(2), ...i32c(2), ...I32_SHL, ...set(nbytes),
    ...forEachQuad(o, nbytes, [
      ...at(0, o), ...LOAD, ...get(gainv), ...F32X4_MUL, ...set(drive),
      ...ZERO, ...set(z), ...ZERO, ...set(count),
      ...i32c(0), ...set(t),
      ...BLOCK, ...LOOP,
      ...get(t), ...get(3), ...I32_GE_S, ...brIf(1),
      ...get(z), ...get(leakv), ...F32X4_MUL, ...get(drive), ...F32X4_ADD, ...set(p),
      ...get(p), ...get(thetav), ...F32X4_GE, ...set(fire),
      ...get(count), ...get(fire), ...I32X4_SUB, ...set(count),
      ...get(p), ...get(fire), ...ANDNOT, ...set(z),
      ...get(t), ...i32c(1), ...I32_ADD, ...set(t), ...br(0),
      ...END, ...END,
      ...at(1, o),
      ...get(count), ...F32X4_CONVERT_I32X4_S, ...get(Tv), ...F32X4_DIV,
      ...get(drive), ...get(drive), ...F32X4_SUB, ...F32X4_ADD,
      ...STORE,
    ]),
    ...END,
  ];
  return [...locals, ...code];
}

function backwardBody(): number[] {
  // params: 0 x, 1 dy, 2 dx, 3 n, 4 T, 5 leak, 6 gain, 7 theta, 8 k, 9 scratch
  const [o, nbytes, t, slot] = [10, 11, 12, 13];
  const [drive, z, p, fire, leakv, gainv, thetav, kv, Tv, dRate, dz, sum, g, dp, one] = [14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28];
  const locals = vec([[4, I32], [15, V128]]);
  const slotAddress = [...get(9), ...get(t), ...i32c(4), ...I32_SHL, ...I32_ADD];
  const code = [
    ...get(5), ...F32X4_SPLAT, ...set(leakv),
    ...get(6), ...F32X4_SPLAT, ...set(gainv),
    ...get(7), ...F32X4_SPLAT, ...set(thetav),
    ...get(8), ...F32X4_SPLAT, ...set(kv),
    ...get(4), ...I32X4_SPLAT, ...F32X4_CONVERT_I32X4_S, ...set(Tv),
    ...i32c(1), ...I32X4_SPLAT, ...F32X4_CONVERT_I32X4_S, ...set(one),
    ...get(3), ...i32c(2), ...I32_SHL, ...set(nbytes),
    ...forEachQuad(o, nbytes, [
      // Forward again, keeping every pre-reset membrane.
      ...at(0, o), ...LOAD, ...get(gainv), ...F32X4_MUL, ...set(drive),
      ...ZERO, ...set(z),
      ...i32c(0), ...set(t),
      ...BLOCK, ...LOOP,
      ...get(t), ...get(4), ...I32_GE_S, ...brIf(1),
      ...get(z), ...get(leakv), ...F32X4_MUL, ...get(drive), ...F32X4_ADD, ...set(p),
      ...slotAddress, ...get(p), ...STORE,
      ...get(p), ...get(thetav), ...F32X4_GE, ...set(fire),
      ...get(p), ...get(fire), ...ANDNOT, ...set(z),
      ...get(t), ...i32c(1), ...I32_ADD, ...set(t), ...br(0),
      ...END, ...END,
      // Backward from the last step.
      ...at(1, o), ...LOAD, ...get(Tv), ...F32X4_DIV, ...set(dRate),
      ...ZERO, ...set(dz), ...ZERO, ...set(sum),
      ...get(4), ...set(t),
      ...BLOCK, ...LOOP,
      ...get(t), ...I32_EQZ, ...brIf(1),
      ...get(t), ...i32c(1), ...I32_SUB, ...set(t),
      ...slotAddress, ...set(slot),
      ...get(slot), ...LOAD, ...set(p),
      ...get(one), ...get(kv), ...get(p), ...get(thetav), ...F32X4_SUB, ...F32X4_MUL, ...F32X4_ABS, ...F32X4_ADD, ...set(g),
      ...get(one), ...get(g), ...get(g), ...F32X4_MUL, ...F32X4_DIV, ...set(g),
      ...get(dz), ...get(p), ...get(thetav), ...F32X4_LT, ...AND,
      ...get(dRate), ...get(dz), ...get(p), ...F32X4_MUL, ...F32X4_SUB, ...get(g), ...F32X4_MUL,
      ...F32X4_ADD, ...set(dp),
      ...get(sum), ...get(dp), ...F32X4_ADD, ...set(sum),
      ...get(dp), ...get(leakv), ...F32X4_MUL, ...set(dz),
      ...br(0),
      ...END, ...END,
      ...at(2, o), ...get(sum), ...get(gainv), ...F32X4_MUL, ...STORE,
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

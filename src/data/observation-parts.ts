/**
 * Observations of several parts: Gymnasium Dict and Tuple spaces, which Minari stores as HDF5
 * groups or Arrow struct columns. They are flattened into one vector a step as Gymnasium's
 * `flatten` (the FlattenObservation wrapper) does, so that a policy trained here reads what a
 * flattened environment gives it:
 *
 *   Dict                      its parts in sorted key order (Gymnasium's Dict sorts the keys it is given)
 *   Tuple                     its parts in index order
 *   Box, MultiBinary          its values, row-major
 *   Discrete(n, start)        a one-hot of n values, the 1 at x - start
 *   MultiDiscrete(nvec, start) one such one-hot for each element, side by side
 *
 * The space a dataset declares (Minari's `observation_space`) says which leaves are one-hot; without
 * one every leaf is read as the values stored. Which slice of the vector came from which part is
 * recorded as `ObservationPart`s (in the manifest, shown by --inspect).
 */
import { InputError } from "../runtime/errors.js";

/**
 * Most values a flattened observation may hold: enough for a small image (84 x 84 x 3 is 21,168),
 * and a clear refusal, not an allocation of gigabytes, for a Discrete part of a huge n.
 */
export const MAX_OBSERVATION_VALUES = 65_536;

/** A leaf's values: `rows` rows of `width` numbers, row-major. */
export interface LeafValues {
  rows: number;
  width: number;
  values: Float32Array | Float64Array;
}

/**
 * The parts as stored: a group (Dict or Tuple) of named children, or a leaf read on demand (in
 * float64 for indices, which float32 holds exactly only up to 2^24).
 */
export type StoredPart = { kind: "leaf"; read: (precision: "f32" | "f64") => LeafValues } | { kind: "group"; children: ReadonlyMap<string, StoredPart> };

/** How a storage names a Tuple's parts: Minari's HDF5 storage `_index_0`, `_index_1`, ...; its Arrow storages `0`, `1`, ... */
export type TupleNaming = "_index_N" | "N";

/** Where one leaf's values sit in the flat observation: [start, start + width). */
export interface ObservationPart {
  /** The leaf's path below the observation column, in the source's own names ("desired_goal", "_index_1"). */
  name: string;
  start: number;
  width: number;
  /** A Discrete leaf, stored as one index and flattened to a one-hot of n. */
  one_hot?: { n: number; start: number };
  /** A MultiDiscrete leaf, stored as one index an element and flattened to a one-hot of nvec[i] for each. */
  one_hots?: { nvec: number[]; start: number[] };
}

/** A declared space, as far as flattening needs it. */
type DeclaredSpace =
  | { type: "Box" | "MultiBinary"; size: number | null }
  | { type: "Discrete"; n: number; start: number }
  | { type: "MultiDiscrete"; nvec: number[]; start: number[] }
  | { type: "Dict"; keys: ReadonlyMap<string, DeclaredSpace> }
  | { type: "Tuple"; items: DeclaredSpace[] }
  /** A space with no numeric form snndt reads (Text, Graph, ...): refused if the data holds it. */
  | { type: "unreadable"; name: string };

/** The declaration of an observation space, for flattening: the space and who declared it. */
export interface DeclaredObservation {
  space: DeclaredSpace;
  /** Who declared it (a file and its key), for messages. */
  by: string;
}

/** Python's default string order (by code point), which Gymnasium's Dict sorts its keys in. */
export function comparePythonStrings(a: string, b: string): number {
  const [ca, cb] = [[...a], [...b]];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/** The numbers of a JSON value nested in lists (a space's bounds or shape), each one `accept`ed; null when any is not. */
export function flatNestedNumbers(value: unknown, accept: (x: unknown) => boolean): number[] | null {
  if (accept(value)) return [value as number];
  if (!Array.isArray(value)) return null;
  const flat: number[] = [];
  for (const item of value) {
    const inner = flatNestedNumbers(item, accept);
    if (inner === null) return null;
    flat.push(...inner);
  }
  return flat;
}

const flatIntegers = (value: unknown): number[] | null => flatNestedNumbers(value, Number.isSafeInteger);

/** A serialized Gymnasium space (Minari's JSON) read as a DeclaredSpace; throws a plain Error saying what is malformed. */
function parseDeclared(space: unknown, at: string): DeclaredSpace {
  if (typeof space !== "object" || space === null || Array.isArray(space)) throw new Error(`${at} is not a serialized space`);
  const s = space as Record<string, unknown>;
  switch (s["type"]) {
    case "Box": {
      const shape = flatIntegers(s["shape"]);
      return { type: "Box", size: shape === null ? null : shape.reduce((a, b) => a * b, 1) };
    }
    case "MultiBinary": {
      const n = flatIntegers(s["n"]);
      if (n === null || n.some((d) => d < 1)) throw new Error(`${at} declares MultiBinary with n = ${JSON.stringify(s["n"])}`);
      return { type: "MultiBinary", size: n.reduce((a, b) => a * b, 1) };
    }
    case "Discrete": {
      const [n, start] = [s["n"], s["start"] ?? 0];
      if (!Number.isSafeInteger(n) || (n as number) < 1 || !Number.isSafeInteger(start)) throw new Error(`${at} declares Discrete with n = ${JSON.stringify(n)}, start = ${JSON.stringify(start)}`);
      return { type: "Discrete", n: n as number, start: start as number };
    }
    case "MultiDiscrete": {
      const nvec = flatIntegers(s["nvec"]);
      const start = s["start"] === undefined ? nvec?.map(() => 0) : flatIntegers(s["start"]);
      if (nvec === null || nvec.length === 0 || nvec.some((n) => n < 1) || start === null || start === undefined || start.length !== nvec.length) {
        throw new Error(`${at} declares MultiDiscrete with nvec = ${JSON.stringify(s["nvec"])}, start = ${JSON.stringify(s["start"])}`);
      }
      return { type: "MultiDiscrete", nvec, start };
    }
    case "Dict": {
      const sub = s["subspaces"];
      if (typeof sub !== "object" || sub === null || Array.isArray(sub)) throw new Error(`${at} declares a Dict without subspaces`);
      return { type: "Dict", keys: new Map(Object.entries(sub).map(([key, value]) => [key, parseDeclared(value, `${at}.${key}`)])) };
    }
    case "Tuple": {
      const sub = s["subspaces"];
      if (!Array.isArray(sub)) throw new Error(`${at} declares a Tuple without subspaces`);
      return { type: "Tuple", items: sub.map((value, i) => parseDeclared(value, `${at}[${i}]`)) };
    }
    default:
      if (typeof s["type"] !== "string") throw new Error(`${at} names no space type`);
      return { type: "unreadable", name: s["type"] };
  }
}

/**
 * Minari's `observation_space` (a JSON string, parsed by `parse`, which reads Python's JSON; or an
 * object) as a declaration, or a warning saying why it cannot be used.
 */
export function declaredObservation(serialized: unknown, by: string, parse: (text: string) => unknown): DeclaredObservation | { warning: string } {
  try {
    return { space: parseDeclared(typeof serialized === "string" ? parse(serialized) : serialized, "the space"), by };
  } catch (err) {
    return { warning: `${by} cannot be used (${(err as Error).message}); the observation's parts are read off the file, every one as the values stored` };
  }
}

/** A Tuple's stored children in index order, or null when their names are not the storage's Tuple names 0..n-1. */
function tupleOrder(children: ReadonlyMap<string, StoredPart>, naming: TupleNaming): string[] | null {
  const key = (i: number): string => (naming === "_index_N" ? `_index_${i}` : String(i));
  const order = Array.from({ length: children.size }, (_, i) => key(i));
  return children.size > 0 && order.every((k) => children.has(k)) ? order : null;
}

interface PlannedLeaf {
  name: string;
  part: StoredPart & { kind: "leaf" };
  space: DeclaredSpace | null;
}

/** The leaves in flattening order, each with its declared space (null: undeclared). */
function planLeaves(file: string, column: string, root: StoredPart, naming: TupleNaming, declared: DeclaredObservation | null): PlannedLeaf[] {
  const leaves: PlannedLeaf[] = [];
  const where = (name: string): string => (name === "" ? `"${column}"` : `"${column}/${name}"`);
  const listed = (keys: Iterable<string>): string => [...keys].map((k) => `"${k}"`).join(", ");
  const walk = (part: StoredPart, space: DeclaredSpace | null, name: string): void => {
    const mismatch = (what: string): InputError => new InputError(`${file}: ${where(name)} ${what} (declared by ${declared!.by}).`);
    const child = (key: string): string => (name === "" ? key : `${name}/${key}`);
    if (space?.type === "unreadable") throw mismatch(`is a ${space.name} space, which snndt cannot read as numbers; expected Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple parts`);
    if (part.kind === "leaf") {
      if (space?.type === "Dict" || space?.type === "Tuple") throw mismatch(`holds one array, but the declared space is a ${space.type}`);
      leaves.push({ name, part, space });
      return;
    }
    if (part.children.size === 0) throw new InputError(`${file}: ${where(name)} is a group with no parts; expected the parts of a Dict or Tuple observation.`);
    if (space !== null && space.type !== "Dict" && space.type !== "Tuple") throw mismatch(`is a group of ${part.children.size} parts, but the declared space is a ${space.type}`);
    if (space?.type === "Dict") {
      const stored = [...part.children.keys()].sort(comparePythonStrings);
      const wanted = [...space.keys.keys()].sort(comparePythonStrings);
      if (stored.join("\u0000") !== wanted.join("\u0000")) throw mismatch(`holds the parts ${listed(stored)}, but the declared Dict has ${listed(wanted)}`);
      for (const key of wanted) walk(part.children.get(key)!, space.keys.get(key)!, child(key));
      return;
    }
    const order = tupleOrder(part.children, naming);
    if (space?.type === "Tuple") {
      const names = naming === "_index_N" ? "_index_0, _index_1, ..." : "0, 1, ...";
      if (order === null || order.length !== space.items.length) {
        throw mismatch(`holds the parts ${listed(part.children.keys())}, but the declared Tuple has ${space.items.length}, stored as ${names}`);
      }
      order.forEach((key, i) => walk(part.children.get(key)!, space.items[i]!, child(key)));
      return;
    }
    // Undeclared: parts named as the storage names a Tuple's are a Tuple's, any others a Dict's.
    for (const key of order ?? [...part.children.keys()].sort(comparePythonStrings)) walk(part.children.get(key)!, null, child(key));
  };
  walk(root, declared?.space ?? null, "");
  return leaves;
}

/** How many values a leaf of `stored` values a step flattens to under `space`. */
function flatWidth(space: DeclaredSpace | null, stored: number): number {
  if (space?.type === "Discrete") return space.n;
  if (space?.type === "MultiDiscrete") return space.nvec.reduce((a, b) => a + b, 0);
  return stored;
}

/** The flat observations of a stored Dict/Tuple observation: `rows` rows of `width` values, and where each part went. */
export interface FlatObservations {
  rows: number;
  width: number;
  values: Float32Array;
  parts: ObservationPart[];
}

/**
 * Flatten the parts `root` of the observation column `column` of `file`, as Gymnasium's `flatten`
 * does (module comment). Every leaf must hold the same number of rows; a Discrete or MultiDiscrete
 * leaf's values must be indices of its space.
 */
export function flattenObservationParts(file: string, column: string, root: StoredPart, naming: TupleNaming, declared: DeclaredObservation | null): FlatObservations {
  const planned = planLeaves(file, column, root, naming, declared);
  const label = (name: string): string => `"${column}/${name}"`;
  const by = declared?.by ?? "";
  const read = planned.map((leaf) => {
    const indices = leaf.space?.type === "Discrete" || leaf.space?.type === "MultiDiscrete";
    return { ...leaf, data: leaf.part.read(indices ? "f64" : "f32") };
  });
  const rows = read[0]!.data.rows;
  const parts: ObservationPart[] = [];
  let width = 0;
  for (const { name, data, space } of read) {
    if (data.rows !== rows) throw new InputError(`${file}: ${label(name)} has ${data.rows} rows but ${label(read[0]!.name)} has ${rows}; expected every part of an observation to have one row a step (mismatched lengths).`);
    const expected = space?.type === "Discrete" ? 1 : space?.type === "MultiDiscrete" ? space.nvec.length : space?.type === "Box" || space?.type === "MultiBinary" ? space.size : null;
    if (expected !== null && data.width !== expected) {
      const what = space!.type === "Discrete" ? "one index" : space!.type === "MultiDiscrete" ? `${expected} indices` : `${expected} values`;
      throw new InputError(`${file}: ${label(name)} has ${data.width} values a step, but ${by} declares a ${space!.type} of ${what} a step.`);
    }
    const partWidth = flatWidth(space, data.width);
    if (width + partWidth > MAX_OBSERVATION_VALUES) {
      throw new InputError(
        `${file}: flattened, the observation would hold ${width + partWidth} or more values a step (${label(name)}: ${partWidth}${space?.type === "Discrete" ? `, a one-hot of Discrete(${space.n})` : ""}); snndt reads up to ${MAX_OBSERVATION_VALUES}.`,
      );
    }
    const part: ObservationPart = { name, start: width, width: partWidth };
    if (space?.type === "Discrete") part.one_hot = { n: space.n, start: space.start };
    if (space?.type === "MultiDiscrete") part.one_hots = { nvec: space.nvec, start: space.start };
    parts.push(part);
    width += partWidth;
  }
  const values = new Float32Array(rows * width);
  for (const [p, { data }] of read.entries()) {
    const part = parts[p]!;
    const oneHots = part.one_hot ? { nvec: [part.one_hot.n], start: [part.one_hot.start] } : part.one_hots;
    for (let r = 0; r < rows; r++) {
      const out = r * width + part.start;
      if (oneHots === undefined) {
        values.set(data.values.subarray(r * data.width, (r + 1) * data.width), out);
        continue;
      }
      let offset = out;
      for (let e = 0; e < oneHots.nvec.length; e++) {
        const stored = data.values[r * data.width + e]!;
        const index = stored - oneHots.start[e]!;
        if (!Number.isInteger(index) || index < 0 || index >= oneHots.nvec[e]!) {
          const space = part.one_hot ? `Discrete(${part.one_hot.n}${part.one_hot.start === 0 ? "" : `, start=${part.one_hot.start}`})` : `element ${e} of MultiDiscrete (n ${oneHots.nvec[e]}, start ${oneHots.start[e]})`;
          throw new InputError(`${file}: ${label(part.name)} row ${r} holds ${stored}; expected an index of ${space}, as ${by} declares.`);
        }
        values[offset + index] = 1;
        offset += oneHots.nvec[e]!;
      }
    }
  }
  return { rows, width, values, parts };
}

/** The parts as one line: `achieved_goal [0, 2), desired_goal [2, 4), observation [4, 8)`, one-hots marked. */
export function describeObservationParts(parts: readonly ObservationPart[]): string {
  const encoding = (p: ObservationPart): string => {
    if (p.one_hot) return ` one-hot of Discrete(${p.one_hot.n}${p.one_hot.start === 0 ? "" : `, start=${p.one_hot.start}`})`;
    if (p.one_hots) return ` one-hots of MultiDiscrete(${p.one_hots.nvec.join(", ")})`;
    return "";
  };
  return parts.map((p) => `${p.name} [${p.start}, ${p.start + p.width})${encoding(p)}`).join(", ");
}

/** An episode's observation layout for messages: its parts and their widths, or its one array's width. */
export function describeLayout(parts: readonly ObservationPart[] | null, width: number): string {
  return parts === null ? `one array of ${width} values a step` : `the parts ${parts.map((p) => `"${p.name}" (${p.width})`).join(", ")}`;
}

/** Whether two episodes' observations are laid out alike (an episode of another layout is ragged). */
export function sameLayout(a: { parts: readonly ObservationPart[] | null; width: number }, b: { parts: readonly ObservationPart[] | null; width: number }): boolean {
  if (a.width !== b.width || (a.parts === null) !== (b.parts === null)) return false;
  if (a.parts === null || b.parts === null) return true;
  const same = (x: ObservationPart, y: ObservationPart): boolean =>
    x.name === y.name &&
    x.start === y.start &&
    x.width === y.width &&
    x.one_hot?.n === y.one_hot?.n &&
    x.one_hot?.start === y.one_hot?.start &&
    String(x.one_hots?.nvec) === String(y.one_hots?.nvec) &&
    String(x.one_hots?.start) === String(y.one_hots?.start);
  return a.parts.length === b.parts.length && a.parts.every((p, i) => same(p, b.parts![i]!));
}

/** A dataset's observation declaration, looked up on first use only (most datasets have no Dict observations), with its warning kept. */
export function lazyObservationDeclaration(lookUp: () => DeclaredObservation | { warning: string } | null): { get(): DeclaredObservation | null; warning(): string | null } {
  let found: DeclaredObservation | { warning: string } | null | undefined;
  const resolve = (): DeclaredObservation | { warning: string } | null => (found === undefined ? (found = lookUp()) : found);
  return {
    get: () => {
      const result = resolve();
      return result === null || "warning" in result ? null : result;
    },
    warning: () => (found !== undefined && found !== null && "warning" in found ? found.warning : null),
  };
}

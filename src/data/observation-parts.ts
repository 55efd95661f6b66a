/**
 * Observations of several parts: Gymnasium Dict and Tuple spaces, which Minari stores as HDF5
 * groups or Arrow struct columns. They are flattened into one vector a step as Gymnasium's
 * `flatten` (the FlattenObservation wrapper) does, so that a policy trained here reads what a
 * flattened environment gives it:
 *
 *   Dict               its parts in sorted key order (Gymnasium's Dict sorts the keys it is given)
 *   Tuple              its parts in index order
 *   Box                its values, row-major
 *   Discrete(n, start) a one-hot of n values, the 1 at x - start
 *
 * The space a dataset declares (Minari's `observation_space`) says which leaves are Discrete;
 * without one every leaf is read as values. Which slice of the vector came from which part is
 * recorded as `ObservationPart`s (in the manifest, shown by --inspect).
 */
import { InputError } from "../runtime/errors.js";

/** A leaf's values: `rows` rows of `width` numbers, row-major. */
export interface LeafValues {
  rows: number;
  width: number;
  values: Float32Array | Float64Array;
  integerTyped: boolean;
}

/** The parts as stored: a group (Dict or Tuple) of named children, or a leaf read on demand. */
export type StoredPart =
  | { kind: "leaf"; read: () => LeafValues }
  | { kind: "group"; children: ReadonlyMap<string, StoredPart> };

/** Where one leaf's values sit in the flat observation: [start, start + width). */
export interface ObservationPart {
  /** The leaf's path below the observation column, in the source's own names ("desired_goal", "_index_1"). */
  name: string;
  start: number;
  width: number;
  /** Set for a Discrete leaf, stored as one index and flattened to a one-hot of n. */
  one_hot?: { n: number; start: number };
}

/** A declared space, as far as flattening needs it. */
type DeclaredSpace =
  | { type: "Box"; size: number | null }
  | { type: "Discrete"; n: number; start: number }
  | { type: "Dict"; keys: ReadonlyMap<string, DeclaredSpace> }
  | { type: "Tuple"; items: DeclaredSpace[] };

/** Python's default string order (by code point), which Gymnasium's Dict sorts its keys in. */
export function comparePythonStrings(a: string, b: string): number {
  const [ca, cb] = [[...a], [...b]];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/** A serialized Gymnasium space (Minari's JSON) read as a DeclaredSpace; throws a plain Error saying what is wrong. */
function parseDeclared(space: unknown, at: string): DeclaredSpace {
  if (typeof space !== "object" || space === null || Array.isArray(space)) throw new Error(`${at} is not a serialized space`);
  const s = space as Record<string, unknown>;
  switch (s["type"]) {
    case "Box": {
      const shape = s["shape"];
      const size = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0) ? (shape as number[]).reduce((a, b) => a * b, 1) : null;
      return { type: "Box", size };
    }
    case "Discrete": {
      const [n, start] = [s["n"], s["start"] ?? 0];
      if (!Number.isSafeInteger(n) || (n as number) < 1 || !Number.isSafeInteger(start)) throw new Error(`${at} declares Discrete with n = ${JSON.stringify(n)}, start = ${JSON.stringify(start)}`);
      return { type: "Discrete", n: n as number, start: start as number };
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
      throw new Error(`${at} is a space of type ${JSON.stringify(s["type"])}, which has no fixed-size flat form`);
  }
}

/** The declaration of an observation space, for flattening, or why it cannot be used. */
export interface DeclaredObservation {
  space: DeclaredSpace | null;
  /** Who declared it (a file and its key), for messages. */
  by: string;
  warning: string | null;
}

/** Minari's `observation_space` (a JSON string or an object already parsed) as a declaration; `parse` reads Python's JSON. */
export function declaredObservation(serialized: unknown, by: string, parse: (text: string) => unknown): DeclaredObservation {
  try {
    const space = parseDeclared(typeof serialized === "string" ? parse(serialized) : serialized, "the space");
    return { space, by, warning: null };
  } catch (err) {
    return { space: null, by, warning: `${by} cannot be used (${(err as Error).message}); the observation's parts are read off the file, every one as values` };
  }
}

/** A Tuple's stored children in index order: Minari names them _index_0, _index_1, ... in HDF5 and 0, 1, ... in Arrow. Null when the names are not of that form. */
function tupleOrder(children: ReadonlyMap<string, StoredPart>): string[] | null {
  const byIndex: string[] = [];
  for (const key of children.keys()) {
    const match = /^(?:_index_)?(0|[1-9]\d*)$/.exec(key);
    if (match === null) return null;
    byIndex[Number(match[1])] = key;
  }
  return byIndex.length === children.size && byIndex.every((k) => k !== undefined) ? byIndex : null;
}

interface PlannedLeaf {
  name: string;
  part: StoredPart & { kind: "leaf" };
  declared: DeclaredSpace | null;
}

/**
 * The leaves in flattening order, each with its declared space. `file` and `column` name the source
 * in messages; `by` names the declaration.
 */
function planLeaves(file: string, column: string, root: StoredPart, declared: DeclaredObservation | null): PlannedLeaf[] {
  const leaves: PlannedLeaf[] = [];
  const where = (name: string): string => (name === "" ? `"${column}"` : `"${column}/${name}"`);
  const mismatch = (name: string, what: string): InputError => new InputError(`${file}: ${where(name)} ${what} (declared by ${declared!.by}).`);
  const walk = (part: StoredPart, space: DeclaredSpace | null, name: string): void => {
    const child = (key: string): string => (name === "" ? key : `${name}/${key}`);
    if (part.kind === "leaf") {
      if (space?.type === "Dict" || space?.type === "Tuple") throw mismatch(name, `holds one array, but the declared space is a ${space.type}`);
      leaves.push({ name, part, declared: space });
      return;
    }
    if (space?.type === "Box" || space?.type === "Discrete") throw mismatch(name, `is a group of ${part.children.size} parts, but the declared space is a ${space.type}`);
    if (space?.type === "Dict") {
      const stored = [...part.children.keys()].sort(comparePythonStrings);
      const wanted = [...space.keys.keys()].sort(comparePythonStrings);
      if (stored.join("\u0000") !== wanted.join("\u0000")) {
        throw mismatch(name, `holds the parts ${stored.map((k) => `"${k}"`).join(", ")}, but the declared Dict has ${wanted.map((k) => `"${k}"`).join(", ")}`);
      }
      for (const key of wanted) walk(part.children.get(key)!, space.keys.get(key)!, child(key));
      return;
    }
    const order = tupleOrder(part.children);
    if (space?.type === "Tuple") {
      if (order === null || order.length !== space.items.length) {
        throw mismatch(name, `holds the parts ${[...part.children.keys()].map((k) => `"${k}"`).join(", ")}, but the declared Tuple has ${space.items.length} (stored as _index_0, ... or 0, ...)`);
      }
      order.forEach((key, i) => walk(part.children.get(key)!, space.items[i]!, child(key)));
      return;
    }
    // Undeclared: index-named parts are a Tuple's, any others a Dict's.
    for (const key of order ?? [...part.children.keys()].sort(comparePythonStrings)) walk(part.children.get(key)!, null, child(key));
  };
  walk(root, declared?.space ?? null, "");
  if (leaves.length === 0) throw new InputError(`${file}: ${where("")} is a group with no parts; expected observations.`);
  return leaves;
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
 * does (module comment). Every leaf must hold the same number of rows; a Discrete leaf's values must
 * be indices of its space.
 */
export function flattenObservationParts(file: string, column: string, root: StoredPart, declared: DeclaredObservation | null): FlatObservations {
  const planned = planLeaves(file, column, root, declared);
  const read = planned.map((leaf) => ({ ...leaf, data: leaf.part.read() }));
  const rows = read[0]!.data.rows;
  const parts: ObservationPart[] = [];
  let width = 0;
  for (const { name, data, declared: space } of read) {
    const label = `"${column}/${name}"`;
    if (data.rows !== rows) throw new InputError(`${file}: ${label} has ${data.rows} rows but "${column}/${read[0]!.name}" has ${rows}; expected every part of an observation to have one row a step (mismatched lengths).`);
    if (space?.type === "Discrete") {
      if (data.width !== 1) throw new InputError(`${file}: ${label} has ${data.width} values a step, but ${declared!.by} declares it Discrete(${space.n}); expected one index a step.`);
      parts.push({ name, start: width, width: space.n, one_hot: { n: space.n, start: space.start } });
      width += space.n;
      continue;
    }
    if (space?.type === "Box" && space.size !== null && space.size !== data.width) {
      throw new InputError(`${file}: ${label} has ${data.width} values a step, but ${declared!.by} declares a Box of ${space.size}.`);
    }
    parts.push({ name, start: width, width: data.width });
    width += data.width;
  }
  const values = new Float32Array(rows * width);
  for (const [i, { data }] of read.entries()) {
    const { start, width: partWidth, one_hot: oneHot } = parts[i]!;
    for (let r = 0; r < rows; r++) {
      const out = r * width + start;
      if (oneHot === undefined) {
        values.set(data.values.subarray(r * partWidth, (r + 1) * partWidth), out);
        continue;
      }
      const index = data.values[r]! - oneHot.start;
      if (!Number.isInteger(index) || index < 0 || index >= oneHot.n) {
        throw new InputError(
          `${file}: "${column}/${parts[i]!.name}" row ${r} holds ${data.values[r]}; expected an index of Discrete(${oneHot.n}${oneHot.start === 0 ? "" : `, start=${oneHot.start}`}), as ${declared!.by} declares.`,
        );
      }
      values[out + index] = 1;
    }
  }
  return { rows, width, values, parts };
}

/** The parts as one line: `achieved_goal [0, 2), desired_goal [2, 4), observation [4, 8)`, one-hots marked. */
export function describeObservationParts(parts: readonly ObservationPart[]): string {
  return parts.map((p) => `${p.name} [${p.start}, ${p.start + p.width})${p.one_hot ? ` one-hot of Discrete(${p.one_hot.n}${p.one_hot.start === 0 ? "" : `, start=${p.one_hot.start}`})` : ""}`).join(", ");
}

/** Whether two episodes' parts are laid out alike (an episode of another layout is ragged). */
export function samePartsLayout(a: readonly ObservationPart[], b: readonly ObservationPart[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

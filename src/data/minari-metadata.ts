/**
 * The action space a Minari dataset declares. Minari 0.5 writes `metadata.json` beside
 * `main_data.hdf5`; 0.4 wrote the same keys as attributes of the HDF5 file's root. Either way
 * `action_space` is a JSON string (JSON inside JSON) of the Gymnasium space: Box as
 * {"type": "Box", "shape", "low", "high"} with nested lists of the full shape, Discrete as
 * {"type": "Discrete", "start", "n"}. Python writes infinite bounds as bare `Infinity`, which
 * strict JSON refuses.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { ActionSpaceDeclaration } from "./raw.js";
import { InputError } from "../runtime/errors.js";
import { declaredObservation, flatNestedNumbers, type DeclaredObservation } from "./observation-parts.js";

export const MINARI_METADATA_FILE = "metadata.json";
/** The HDF5 file a Minari 0.5 dataset's metadata.json describes (other HDF5 files beside it have their own). */
export const MINARI_DATA_FILE = "main_data.hdf5";
/** How every declaration snndt cannot use ends: the data's own range takes its place. */
const READ_OFF_THE_DATA = "the action space is read off the data instead";

/** What the dataset's metadata says about its action space: a usable declaration, or why not (a warning), or nothing. */
export interface MinariActionSpace {
  declaration: ActionSpaceDeclaration | null;
  warning: string | null;
}

/** Python's json.dumps output: bare Infinity / -Infinity / NaN outside strings become 1e999 / -1e999 / null. */
export function parsePythonJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // not strict JSON: rewrite Python's bare tokens below, then parse again
  }
  const pieces: string[] = [];
  let copiedTo = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x49 /* I */ || c === 0x4e /* N */) {
      const token = text.startsWith("Infinity", i) ? "Infinity" : text.startsWith("NaN", i) ? "NaN" : null;
      if (token === null) continue;
      pieces.push(text.slice(copiedTo, i), token === "Infinity" ? "1e999" : "null");
      i += token.length - 1;
      copiedTo = i + 1;
    }
  }
  pieces.push(text.slice(copiedTo));
  return JSON.parse(pieces.join(""));
}

const flatNumbers = (value: unknown): number[] | null => flatNestedNumbers(value, (x) => typeof x === "number");

/** A serialized Gymnasium space as a declaration, or why it cannot be one. */
function interpretSpace(space: unknown, where: string): MinariActionSpace {
  const ignored = (why: string): MinariActionSpace => ({ declaration: null, warning: `${where} ${why}; ${READ_OFF_THE_DATA}` });
  if (typeof space !== "object" || space === null) return ignored("is not a serialized space");
  const { type, n, start, low, high } = space as Record<string, unknown>;
  if (type === "Discrete") {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1) return ignored(`declares Discrete with n = ${JSON.stringify(n)}`);
    if (start !== undefined && start !== 0) return ignored(`declares Discrete(${n}, start=${JSON.stringify(start)}); snndt's discrete actions are indices from 0`);
    return { declaration: { kind: "discrete", n, by: where }, warning: null };
  }
  if (type === "Box") {
    const [lows, highs] = [flatNumbers(low), flatNumbers(high)];
    if (lows === null || highs === null || lows.length !== highs.length || lows.length === 0) return ignored("declares a Box whose low and high are not matching lists of numbers");
    if (![...lows, ...highs].every(Number.isFinite)) return ignored("declares a Box with infinite bounds");
    return { declaration: { kind: "continuous", bounds: { low: lows, high: highs }, by: where }, warning: null };
  }
  return ignored(`declares a space of type ${JSON.stringify(type)}, which snndt does not read`);
}

/**
 * The action space a Minari file declares: by its `metadata.json` (`beside`, see minariMetadataBeside)
 * when that names an action space, else by the HDF5 root attribute `action_space` (`rootAttribute`,
 * null when absent).
 */
export function minariActionSpace(beside: MinariMetadata | null, rootAttribute: unknown): MinariActionSpace {
  if (beside !== null) {
    const where = `${beside.file}: "action_space"`;
    const serialized = beside.metadata?.["action_space"];
    if (serialized !== undefined && serialized !== null) return serializedSpace(serialized, where);
    if (beside.unusable !== null) {
      const fallback = fromRootAttribute(rootAttribute);
      const instead = fallback.declaration ? "the file's root attribute declares the action space instead" : READ_OFF_THE_DATA;
      return { declaration: fallback.declaration, warning: [`${beside.unusable}; ${instead}`, fallback.warning].filter((w) => w !== null).join("; ") };
    }
  }
  return fromRootAttribute(rootAttribute);
}

/**
 * The observation space a Minari file declares (as for the action space: by its metadata.json, else
 * by the root attribute `observation_space`), or null when none is. An unusable metadata.json is
 * warned about by minariActionSpace, not here.
 */
export function minariObservationSpace(beside: MinariMetadata | null, rootAttribute: unknown): DeclaredObservation | { warning: string } | null {
  const serialized = beside?.metadata?.["observation_space"];
  if (serialized !== undefined && serialized !== null) return declaredObservation(serialized, `${beside!.file}: "observation_space"`, parsePythonJson);
  if (rootAttribute === undefined || rootAttribute === null) return null;
  return declaredObservation(rootAttribute, `the file's root attribute "observation_space"`, parsePythonJson);
}

/** A count the metadata in `file` records (total_episodes, total_steps), or null when absent; any other value is an error, not a check switched off. */
export function recordedCount(file: string, metadata: Record<string, unknown>, key: string): number | null {
  const value = metadata[key];
  if (value === undefined || value === null) return null;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  throw new InputError(`${file}: "${key}" is ${typeof value === "number" ? value : JSON.stringify(value)}; expected a count (a non-negative integer).`);
}

/**
 * Check the episodes read from the Minari file `hdf5File` against the counts its metadata.json
 * (`beside`) records, so that a partly downloaded or changed dataset is an error, not a smaller
 * dataset. Nothing to check without a usable metadata.json (Minari 0.4, another HDF5 file).
 */
export function checkMinariCounts(beside: MinariMetadata | null, hdf5File: string, episodes: number, steps: number): void {
  if (beside?.metadata == null) return;
  for (const [key, found, what] of [["total_episodes", episodes, "episode groups"], ["total_steps", steps, "steps"]] as const) {
    const recorded = recordedCount(beside.file, beside.metadata, key);
    if (recorded !== null && recorded !== found) {
      throw new InputError(`${beside.file}: "${key}" is ${recorded}, but ${hdf5File} holds ${found} ${what}; the dataset is incomplete or was changed.`);
    }
  }
}

/** A Minari dataset's metadata.json: its object, or why it is unusable. */
export interface MinariMetadata {
  file: string;
  metadata: Record<string, unknown> | null;
  unusable: string | null;
}

/**
 * metadata.json beside `hdf5File` when that is Minari's main_data.hdf5 and the metadata exists (read
 * once a file: it declares both spaces and records the counts); null when there is none to read.
 */
export function minariMetadataBeside(hdf5File: string): MinariMetadata | null {
  // Absolute, since the manifest keeps who declared the space.
  const file = path.resolve(path.dirname(hdf5File), MINARI_METADATA_FILE);
  if (path.basename(hdf5File) !== MINARI_DATA_FILE || !existsSync(file)) return null;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { file, metadata: null, unusable: `${file} could not be read (${(err as Error).message})` };
  }
  try {
    const metadata = parsePythonJson(text);
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return { file, metadata: null, unusable: `${file} holds no JSON object` };
    return { file, metadata: metadata as Record<string, unknown>, unusable: null };
  } catch (err) {
    return { file, metadata: null, unusable: `${file} is not valid JSON (${(err as Error).message})` };
  }
}

/** Minari 0.4's declaration: the HDF5 file's root attribute (the file itself is named by the caller's messages). */
function fromRootAttribute(rootAttribute: unknown): MinariActionSpace {
  if (rootAttribute === undefined || rootAttribute === null) return { declaration: null, warning: null };
  return serializedSpace(rootAttribute, `the file's root attribute "action_space"`);
}

/** A space as Minari stores it (a JSON string; an object is taken as it is); `where` names its place for messages and the manifest. */
export function serializedSpace(serialized: unknown, where: string): MinariActionSpace {
  if (typeof serialized !== "string") return interpretSpace(serialized, where);
  try {
    return interpretSpace(parsePythonJson(serialized), where);
  } catch (err) {
    return { declaration: null, warning: `${where} is not valid JSON (${(err as Error).message}); ${READ_OFF_THE_DATA}` };
  }
}

/**
 * The safetensors format (Hugging Face), written and read without Python.
 *
 * Layout of a file:
 *
 *   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
 *   bytes [8, 8+N)      the header: UTF-8 JSON object
 *                         { "<tensor name>": { "dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end] },
 *                           ...,
 *                           "__metadata__": { "<key>": "<string value>", ... } }   (optional, strings only)
 *                       padded at the end with spaces (0x20) so that 8+N is a multiple of 8
 *   bytes [8+N, EOF)    the data buffer: every tensor's elements, row-major, little-endian
 *
 * `data_offsets` are relative to the start of the data buffer. The tensors tile the buffer exactly:
 * no gaps, no overlaps, and the last one ends at the end of the file; `end - begin` equals
 * product(shape) * the dtype's byte size. The reader checks every one of these rules and refuses a
 * file that breaks any, naming the file and the tensor, so a truncated or corrupt file can never be
 * read as wrong numbers. Files written here load in PyTorch with `safetensors.torch.load_file`.
 */
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { InputError } from "../runtime/errors.js";
import { writeFileAtomic } from "../runtime/fs-atomic.js";

/** The element types snndt reads and writes. */
export type SafetensorsDtype = "F32" | "F64" | "I32" | "I64";

export type TensorArray = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface TensorEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorArray;
}

export interface SafetensorsContent {
  /** Tensors in file order (the order of their data in the buffer). */
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8 };

/** dtypes defined by the format that snndt does not read (named in errors as unsupported, not unknown). */
const OTHER_FORMAT_DTYPES = new Set(["BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "U64", "F8_E4M3", "F8_E5M2"]);

/** Header limit, as in the reference implementation: a bigger length means a corrupt file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const METADATA_KEY = "__metadata__";

const LITTLE_ENDIAN_HOST = endianness() === "LE";

function dtypeOf(data: TensorArray): SafetensorsDtype {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Int32Array) return "I32";
  return "I64";
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The bytes of a typed array in little-endian order. */
function littleEndianBytes(data: TensorArray): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) return view;
  const out = new Uint8Array(data.byteLength);
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < out.length; i += size) for (let b = 0; b < size; b++) out[i + b] = view[i + size - 1 - b]!;
  return out;
}

/**
 * Encode tensors (in the given order) and string metadata as one safetensors file.
 * The dtype of each tensor follows its typed array (Float32Array -> F32, ...).
 */
export function encodeSafetensors(
  tensors: Iterable<[string, { shape: number[]; data: TensorArray }]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    if (name === METADATA_KEY) throw new Error(`a tensor cannot be named ${METADATA_KEY}`);
    if (Object.hasOwn(header, name)) throw new Error(`duplicate tensor name "${name}"`);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`tensor "${name}": bad shape [${shape}]`);
    if (elementCount(shape) !== data.length) {
      throw new Error(`tensor "${name}": shape [${shape}] holds ${elementCount(shape)} elements, data has ${data.length}`);
    }
    const bytes = littleEndianBytes(data);
    header[name] = { dtype: dtypeOf(data), shape, data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Copy `byteLength` little-endian bytes into a fresh (aligned) typed array of the dtype. */
function readElements(bytes: Uint8Array, start: number, byteLength: number, dtype: SafetensorsDtype): TensorArray {
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(start, start + byteLength));
  if (!LITTLE_ENDIAN_HOST) {
    const size = DTYPE_BYTES[dtype];
    for (let i = 0; i < byteLength; i += size) copy.subarray(i, i + size).reverse();
  }
  switch (dtype) {
    case "F32":
      return new Float32Array(copy.buffer);
    case "F64":
      return new Float64Array(copy.buffer);
    case "I32":
      return new Int32Array(copy.buffer);
    case "I64":
      return new BigInt64Array(copy.buffer);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Decode a safetensors file held in memory; `label` (the file path) names it in errors.
 * Every rule of the format is checked; any violation is an InputError.
 */
export function decodeSafetensors(bytes: Uint8Array, label: string): SafetensorsContent {
  const bad = (problem: string): never => {
    throw new InputError(`${label} is not a valid safetensors file: ${problem}.`);
  };
  if (bytes.byteLength < 8) bad(`it is truncated (${bytes.byteLength} bytes; the header length alone takes 8)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    bad(`the header length ${headerLength} runs past the end of the file (${bytes.byteLength - 8} bytes after the length field); the file is truncated or not safetensors`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) bad(`the header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return bad("the header is not valid UTF-8");
  }
  if (!text.startsWith("{")) bad(`the header does not start with "{" (found ${JSON.stringify(text.slice(0, 16))})`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return bad(`the header is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(header)) return bad("the header is not a JSON object");

  const metadata: Record<string, string> = {};
  if (Object.hasOwn(header, METADATA_KEY)) {
    const raw = header[METADATA_KEY];
    if (!isObject(raw)) bad(`"${METADATA_KEY}" is not an object of strings`);
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value !== "string") bad(`"${METADATA_KEY}.${key}" is ${JSON.stringify(value)}, not a string`);
      metadata[key] = value as string;
    }
  }

  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const badTensor = (problem: string): never => bad(`tensor "${name}": ${problem}`);
    if (!isObject(raw)) badTensor("its entry is not an object");
    const info = raw as Record<string, unknown>;
    const extra = Object.keys(info).filter((k) => k !== "dtype" && k !== "shape" && k !== "data_offsets");
    if (extra.length > 0) badTensor(`unexpected field(s) ${extra.join(", ")} (expected dtype, shape, data_offsets)`);
    const dtype = info.dtype;
    if (typeof dtype !== "string") return badTensor("dtype is missing or not a string");
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
      return badTensor(
        OTHER_FORMAT_DTYPES.has(dtype)
          ? `dtype ${dtype} is not supported (snndt reads F32, F64, I32, I64)`
          : `unknown dtype ${JSON.stringify(dtype)}`,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return badTensor(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      return badTensor(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) badTensor(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      badTensor(`data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes); the file is truncated`);
    }
    const expected = elementCount(shape as number[]) * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== expected) {
      badTensor(`shape [${shape.join(", ")}] of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data buffer exactly.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const entry of byOffset) {
    if (entry.begin < cursor) bad(`tensors "${previous}" and "${entry.name}" overlap (bytes ${entry.begin}..${cursor})`);
    if (entry.begin > cursor) bad(`there is a gap of ${entry.begin - cursor} bytes before tensor "${entry.name}"`);
    cursor = entry.end;
    previous = entry.name;
  }
  if (cursor !== dataLength) bad(`the data is ${dataLength} bytes but the tensors cover ${cursor}`);

  const tensors = new Map<string, TensorEntry>();
  for (const entry of byOffset) {
    tensors.set(entry.name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: readElements(bytes, dataStart + entry.begin, entry.end - entry.begin, entry.dtype),
    });
  }
  return { tensors, metadata };
}

/** Write a safetensors file atomically. */
export async function writeSafetensors(
  file: string,
  tensors: Iterable<[string, { shape: number[]; data: TensorArray }]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Read and validate a safetensors file; an unreadable or invalid file is an InputError naming it. */
export async function readSafetensors(file: string): Promise<SafetensorsContent> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}.`);
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

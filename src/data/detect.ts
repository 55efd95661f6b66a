/**
 * Input format detection from content (magic bytes), never from the file name alone:
 * Arrow IPC file / Feather v2 starts with "ARROW1"; an Arrow IPC stream starts with the
 * continuation marker 0xFFFFFFFF; Parquet starts with "PAR1"; HDF5 has "\x89HDF\r\n\x1a\n" at offset 0, 512, 1024, 2048, ...
 * (after a user block). Streams in Arrow's pre-0.15 format start with a bare int32 length, which
 * cannot be told from other binary files, so they are not recognised.
 */
import { promises as fs } from "node:fs";
import { InputError } from "../runtime/errors.js";
import { specialFileKind } from "../runtime/fs-atomic.js";
import type { SourceFormat } from "./raw.js";

const ARROW_MAGIC = Buffer.from("ARROW1", "latin1");
const PARQUET_MAGIC = Buffer.from("PAR1", "latin1");
const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Known formats that are not readable here, with a hint that helps the user convert. */
const OTHER_FORMATS: Array<{ magic: Buffer; name: string }> = [
  { magic: Buffer.from([0x1f, 0x8b]), name: "a gzip archive (decompress it first)" },
  { magic: Buffer.from("PK\x03\x04", "latin1"), name: "a zip archive (e.g. a .npz; extract and convert it)" },
  { magic: Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]), name: "a NumPy .npy file" },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), name: "a zstd archive (decompress it first)" },
];

function describeBytes(head: Buffer): string {
  const shown = head.subarray(0, 8);
  const hex = [...shown].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return shown.length === 0 ? "an empty file" : `first bytes ${hex}`;
}

/** The format of `file`, read from its first bytes; an InputError for anything else. */
export async function detectFormat(file: string): Promise<SourceFormat> {
  const special = specialFileKind(file);
  if (special) throw new InputError(`${file} is ${special}; expected an Arrow, Parquet or HDF5 file (snndt reads a file whole and seeks in it, so it cannot read a stream).`);
  let handle;
  try {
    handle = await fs.open(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError(`${file}: no such file.`);
    if (code === "EISDIR") {
      throw new InputError(`${file} is a directory without manifest.json; expected a prepared dataset directory, a Minari dataset directory or an Arrow/Parquet/HDF5 file.`);
    }
    throw new InputError(`${file}: cannot open (${code ?? String(err)}).`);
  }
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, 8));
    await handle.read(head, 0, head.length, 0);
    if (head.subarray(0, 6).equals(ARROW_MAGIC)) return "arrow-file";
    if (head.length >= 8 && head.readUInt32LE(0) === 0xffffffff) return "arrow-stream";
    if (head.subarray(0, 4).equals(PARQUET_MAGIC)) return "parquet";
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      const probe = Buffer.alloc(8);
      await handle.read(probe, 0, 8, offset);
      if (probe.equals(HDF5_MAGIC)) return "hdf5";
    }
    const other = OTHER_FORMATS.find((f) => head.subarray(0, f.magic.length).equals(f.magic));
    throw new InputError(
      `${file} is not a dataset snndt can read: expected an Arrow IPC file or Feather v2 (starting with "ARROW1"), ` +
        `an Arrow IPC stream (starting with ff ff ff ff), a Parquet file (starting with "PAR1") or an HDF5 file (D4RL or Minari), but found ` +
        (other ? `${other.name}.` : `${describeBytes(head)} (${size} bytes).`),
    );
  } finally {
    await handle.close();
  }
}

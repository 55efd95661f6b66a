/**
 * Atomic writes: everything is written under a temporary name beside its target and renamed into
 * place only when complete, so an error or a crash never leaves a half-written file or directory.
 */
import { randomBytes } from "node:crypto";
import { promises as fs, accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileSystemError, SnndtError } from "./errors.js";

/**
 * What an existing path is, when it is neither a regular file nor a directory ("a FIFO (named
 * pipe)", "a character device"); null otherwise, or when there is nothing there. Read before an
 * input is opened: opening a FIFO blocks until a writer comes, where no signal can stop it.
 */
export function specialFileKind(file: string): string | null {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat === undefined || stat.isFile() || stat.isDirectory()) return null;
  if (stat.isFIFO()) return "a FIFO (named pipe)";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Refuse, before any work, an output directory that cannot be written: the nearest directory that
 * exists at or above `dir` must be writable (a read-only file system or a denied permission would
 * otherwise show only when the work is done and its result is written).
 */
export function checkWritableDirectory(dir: string): void {
  const existing = nearestExisting(path.resolve(dir));
  try {
    accessSync(existing, constants.W_OK);
  } catch (err) {
    const known = fileSystemError(err);
    if (!known) throw err;
    throw new SnndtError(`cannot write into ${dir}: ${known.message}`);
  }
}

/** The nearest path at or above `p` that exists (the root, or ".", at the latest). */
function nearestExisting(p: string): string {
  while (!existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  return p;
}

/** The nearest existing path at or above `dir` when it is not a directory (so `dir` cannot be made), else null. */
export function fileOnPath(dir: string): string | null {
  const existing = nearestExisting(dir);
  return existsSync(existing) && !statSync(existing).isDirectory() ? existing : null;
}

/**
 * `mkdir -p` whose refusal by a file on the path is always ENOTDIR (an EEXIST would reach the CLI as
 * an snndt bug instead of as the user's path). Synchronous (it is cheap): an mkdir still in flight on
 * libuv's thread pool could make a temporary directory again after the exit removal below has
 * deleted it.
 */
export async function makeDirectory(dir: string): Promise<string[]> {
  return makeDirectorySync(dir);
}

/**
 * makeDirectory for synchronous callers. One mkdir per missing directory, from the top: Node 20's
 * recursive mkdir loops forever where a file system answers mkdir with ENOENT (procfs). Returns the
 * directories it made, outermost first.
 */
export function makeDirectorySync(dir: string): string[] {
  const notDirectory = () => Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: "ENOTDIR", syscall: "mkdir", path: dir });
  if (fileOnPath(path.resolve(dir))) throw notDirectory();
  const missing: string[] = [];
  for (let at = path.resolve(dir); !existsSync(at) && path.dirname(at) !== at; at = path.dirname(at)) missing.unshift(at);
  const madeHere: string[] = [];
  for (const made of missing) {
    try {
      mkdirSync(made);
      madeHere.push(made);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" && !existsSync(made)) throw new SnndtError(`cannot make the directory ${made}: it is a symbolic link to a path that does not exist; remove the link or choose another path.`);
      if (code === "EEXIST" && !fileOnPath(made)) continue; // made meanwhile by another process
      if (code === "EEXIST") throw notDirectory();
      if (code === "ENOENT") throw new SnndtError(`cannot make the directory ${made}: its file system does not allow it (ENOENT); choose another path.`);
      throw err;
    }
  }
  return madeHere; // not one another process made meanwhile: a cleanup must not remove it
}

/**
 * Temporary files and directories still being written. The process's `exit` event removes them, so
 * an exit mid-write (process.exit, or an interrupt the CLI turns into one) leaves nothing behind.
 * Each is registered before it exists and created synchronously, so no interrupt can fall between
 * its creation and its registration. A signal's default action or SIGKILL skips `exit`; their
 * leftovers are hidden (dot) names that no reader takes for finished output.
 */
const pendingTemps = new Set<string>();
/** Directories made for a write still in progress (outermost first): removed after it if left empty. */
const pendingParents = new Set<string[]>();
process.on("exit", () => {
  // Retries: a write still in flight on libuv's thread pool may add a file while the directory goes.
  for (const tmp of pendingTemps) {
    try {
      rmSync(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 10 });
    } catch {
      // best effort while exiting: a hidden leftover must not replace the exit code with a crash
    }
  }
  for (const made of pendingParents) removeEmptyDirectories(made);
});

/** Remove `made` (outermost first) from the innermost out, stopping at the first that is not empty. */
export function removeEmptyDirectories(made: readonly string[]): void {
  for (const dir of [...made].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      return;
    }
  }
}

/** The longest file name in bytes on the usual file systems (ext4, XFS, Btrfs, tmpfs, APFS). */
const NAME_MAX = 255;
/** Bytes a temporary's name adds to its stem: ".", ".tmp-", a pid of up to 7 digits, "-", 8 hex digits. */
const TEMPORARY_NAME_BYTES = 1 + 5 + 7 + 1 + 8;

/**
 * The part of a temporary's name that tells its target: the target's name, cut (at a character)
 * where it would make the temporary's name too long, so a name near the limit can still be written.
 */
function temporaryStem(name: string): string {
  const bytes = Buffer.from(name);
  let cut = NAME_MAX - TEMPORARY_NAME_BYTES;
  if (bytes.length <= cut) return name;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
  return bytes.subarray(0, cut).toString();
}

function hiddenSibling(target: string): string {
  return path.join(path.dirname(target), `.${temporaryStem(path.basename(target))}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

const HIDDEN_TEMPORARY = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{8}$/;

/** Whether a process with this pid exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Remove the hidden temporaries in `dir` (of `name` only, if given) whose writing process is gone:
 * a SIGKILL skips the exit removal and would leave them, up to a dataset's or checkpoint's size,
 * for good. A temporary of a live process (another writer) is left alone.
 */
export function removeOrphanedTemporaries(dir: string, name?: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return; // no directory, no temporaries
  }
  for (const entry of entries) {
    const match = HIDDEN_TEMPORARY.exec(entry);
    if (!match || (name !== undefined && match[1] !== temporaryStem(name)) || processAlive(Number(match[2]))) continue;
    rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
}

/**
 * A hidden temporary name beside `target`, registered for removal at exit until `release` is
 * called; a killed writer's temporaries of the same target go first. Create it synchronously (the
 * exit removal must not run while its creation is in flight).
 */
export function temporarySibling(target: string): { tmp: string; release: () => void } {
  removeOrphanedTemporaries(path.dirname(target), path.basename(target));
  const tmp = hiddenSibling(target);
  pendingTemps.add(tmp);
  return { tmp, release: () => pendingTemps.delete(tmp) };
}

/** Calls on an open file, whose errors (a full disk) carry no path: only the open named the file. */
const CALLS_ON_OPEN_FILES = new Set(["write", "fsync", "fdatasync", "close", "ftruncate"]);

/** `err` of a write to `file` (that names no file), with `file` as its path, so the user learns which file it was. */
export function namingPath(err: unknown, file: string): unknown {
  const e = err as NodeJS.ErrnoException | null;
  if (e && typeof e.code === "string" && e.path === undefined && CALLS_ON_OPEN_FILES.has(e.syscall ?? "")) e.path = file;
  return err;
}

/** `err` naming the output the user chose where it names the hidden temporary written for it, or a file inside one. */
export function outputError(err: unknown, tmp: string, target: string): unknown {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (!e || typeof e.code !== "string") return err;
  const asTarget = (p: string | undefined): string | undefined => (p !== undefined && (p === tmp || p.startsWith(tmp + path.sep)) ? target + p.slice(tmp.length) : p);
  e.path = asTarget(e.path);
  e.dest = asTarget(e.dest);
  return err;
}

/** Write `data` to `file` and fsync it; `flags` "r+" writes a file that must already exist. */
export async function writeSynced(file: string, data: string | Uint8Array, flags: "w" | "r+" = "w"): Promise<void> {
  const handle = await fs.open(file, flags);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    throw namingPath(err, file);
  } finally {
    await handle.close();
  }
}

/**
 * Write `data` to a hidden temporary beside `target` and fsync it; the temporary stays registered for
 * removal at exit until `release`. A failed write removes it before the error goes on.
 */
async function writeTemporary(target: string, data: string | Uint8Array): Promise<{ tmp: string; release: () => void }> {
  const temporary = temporarySibling(target);
  try {
    closeSync(openSync(temporary.tmp, "w"));
    // "r+" never creates: if an exit removed the file meanwhile, this fails instead of leaving one.
    await writeSynced(temporary.tmp, data, "r+");
    return temporary;
  } catch (err) {
    rmSync(temporary.tmp, { force: true });
    temporary.release();
    throw outputError(err, temporary.tmp, target);
  }
}

/** Write a file atomically (temp file + fsync + rename). */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  // Resolved: the OS would read "missing/.." in a path as a directory that must exist.
  const target = path.resolve(file);
  await makeDirectory(path.dirname(target));
  const { tmp, release } = await writeTemporary(target, data);
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  } finally {
    release();
  }
}

/**
 * Replace several files as one. Each is written to a hidden temporary beside it and fsynced; only
 * when all are written are `removeFirst` removed, the temporaries renamed into place in the order
 * given, and `removeAfter` removed, all synchronously: a signal is handled between event-loop turns,
 * so no interrupt falls among them and leaves a mix of old and new files. An interrupt or error
 * before that leaves the old files as they were (and no directory it made).
 */
export async function replaceFilesTogether(
  files: ReadonlyArray<{ target: string; data: string | Uint8Array }>,
  options: { removeFirst?: readonly string[]; removeAfter?: readonly string[] } = {},
): Promise<void> {
  const staged: Array<{ tmp: string; target: string; release: () => void }> = [];
  const madeDirectories: string[][] = [];
  try {
    for (const { target: file, data } of files) {
      const target = path.resolve(file);
      const made = await makeDirectory(path.dirname(target));
      madeDirectories.push(made);
      pendingParents.add(made); // an interrupt before the renames leaves no empty directory either
      staged.push({ ...(await writeTemporary(target, data)), target });
    }
    for (const file of options.removeFirst ?? []) rmSync(file, { force: true });
    for (const { tmp, target } of staged) renameSync(tmp, target);
    for (const file of options.removeAfter ?? []) rmSync(file, { force: true });
  } catch (err) {
    for (const { tmp } of staged) rmSync(tmp, { force: true });
    for (const made of madeDirectories.reverse()) removeEmptyDirectories(made);
    throw err;
  } finally {
    for (const { release } of staged) release();
    for (const made of madeDirectories) pendingParents.delete(made);
  }
}

/**
 * Fill an existing empty directory (made for the output beforehand: a mount point, or one with its
 * own owner and permissions, which replacing it would lose). `build` fills a hidden temporary
 * directory inside it; its entries then move up back to back, synchronously (no interrupt runs
 * between them), the names in `last` last and in that order, so the output is whole once the last
 * appears. Whatever else appears there meanwhile stays; an entry of an output's name is an error.
 */
export async function writeIntoEmptyDirectory<T>(target: string, build: (tmpDir: string) => Promise<T>, last: readonly string[]): Promise<T> {
  const dir = path.resolve(target);
  const { tmp, release } = temporarySibling(path.join(dir, "output"));
  try {
    mkdirSync(tmp);
    const result = await build(tmp);
    const built = readdirSync(tmp);
    const clash = built.find((entry) => existsSync(path.join(dir, entry)));
    if (clash) throw new SnndtError(`${path.join(target, clash)} appeared while the output was being written (another snndt writing the same output?); it was left as it is and nothing was written there.`);
    for (const entry of [...built.filter((e) => !last.includes(e)), ...last.filter((e) => built.includes(e))]) renameSync(path.join(tmp, entry), path.join(dir, entry));
    return result;
  } catch (err) {
    throw outputError(err, tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    release();
  }
}

/**
 * Build a directory atomically: `build` fills a temporary sibling directory, which is renamed to
 * `target` only if `build` succeeds. With `replace`, an existing target is swapped out (the old one
 * is removed only after the new one is in place).
 */
export async function writeDirAtomic<T>(
  dir: string,
  build: (tmpDir: string) => Promise<T>,
  options: { replace?: boolean } = {},
): Promise<T> {
  const target = path.resolve(dir);
  const madeParents = await makeDirectory(path.dirname(target));
  pendingParents.add(madeParents); // an interrupt before the rename leaves no empty parents either
  const { tmp, release } = temporarySibling(target);
  try {
    mkdirSync(tmp);
    const result = await build(tmp);
    if (existsSync(target)) {
      if (!options.replace) throw new SnndtError(`${target} appeared while it was being written (another snndt writing the same output?); it was left as it is and nothing was written there.`);
      const old = hiddenSibling(target);
      // Back to back, synchronously: no interrupt can run between them and leave no target at all.
      try {
        renameSync(target, old);
      } catch (err) {
        throw outputError(err, old, target); // a mount point (EBUSY): named as the target, not the copy's name
      }
      renameSync(tmp, target);
      pendingTemps.add(old); // the replaced copy goes even if an exit interrupts its removal
      try {
        await fs.rm(old, { recursive: true, force: true });
      } finally {
        pendingTemps.delete(old);
      }
    } else {
      await fs.rename(tmp, target);
    }
    return result;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // A failed write leaves no trace: not even the parent directories it made (if still empty).
    removeEmptyDirectories(madeParents);
    throw outputError(err, tmp, target);
  } finally {
    pendingParents.delete(madeParents);
    release();
  }
}

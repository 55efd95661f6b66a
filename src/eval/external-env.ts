/**
 * Environments run as a separate process that speaks the snndt environment protocol: one JSON object
 * per line on the child's stdin (requests) and stdout (replies), strictly one request in flight.
 * The protocol is specified in docs/env-protocol.md; this module is its parent side.
 *
 * Every failure of the child (it dies, hangs, writes something that is not a reply, answers out of
 * order, sends an observation of the wrong shape) becomes an {@link ExternalEnvError} that names the
 * command, the request that broke and what was expected, and the child's whole process group is
 * killed, so no process outlives the environment.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { ActionSpace } from "../data/types.js";
import { SnndtError, UsageError } from "../runtime/errors.js";
import { EnvironmentError, type Action, type StepResult } from "./envs/environment.js";

/** The protocol version this side speaks; the child must report the same in its spec reply. */
export const ENV_PROTOCOL_VERSION = 1;
/** Default time a child has to answer one request (including the first, which may import a big library). */
export const DEFAULT_ENV_TIMEOUT_MS = 30_000;

/** How many of the child's last stderr lines an error message quotes. */
const STDERR_TAIL_LINES = 20;
/** Longest stdout line accepted before the child is declared broken (guards memory against a runaway writer). */
const MAX_LINE_CHARS = 64 * 1024 * 1024;
/** How much of an unfinished stderr line is kept: enough for any message, bounded for a line that never ends. */
const MAX_STDERR_LINE_CHARS = 64 * 1024;
/** How long a child that answered `close` may take to exit on its own before it is killed. */
const CLOSE_GRACE_MS = 1000;

/**
 * The built-in environment interface (src/eval/envs/environment.ts) with every call asynchronous,
 * since a child process answers later. Unbounded observation limits are ±Infinity.
 */
export interface AsyncEnvironment {
  readonly id: string;
  readonly observationSpace: { shape: [number]; low: number[]; high: number[] };
  readonly actionSpace: ActionSpace;
  /** The return at which the task counts as solved, if the environment says. */
  readonly rewardThreshold: number | undefined;
  readonly maxEpisodeSteps: number;
  reset(seed?: number): Promise<Float32Array>;
  step(action: Action): Promise<StepResult>;
  close(): Promise<void>;
}

export interface ExternalEnvOptions {
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Working directory of the command (default: this process's). */
  cwd?: string;
  /** Called with each line the child writes to stderr (e.g. to forward it to a debug log). */
  onStderr?: (line: string) => void;
}

/** A failure of an external environment process or of its replies. */
export class ExternalEnvError extends SnndtError {
  constructor(message: string) {
    super(message, 1);
    this.name = "ExternalEnvError";
  }
}

type Reply = Record<string, unknown>;

interface PendingRequest {
  id: number;
  /** e.g. `the "step" request (id 4)`, used in error messages. */
  label: string;
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Children still running, killed when this process exits so that none is orphaned. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Kills the child's whole process group (the command runs in its own group: a shell wrapper or a
 * launcher script may have started the real environment as a grandchild).
 */
function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === "win32") child.kill("SIGKILL");
    else process.kill(-child.pid, "SIGKILL");
  } catch {
    // ESRCH: the group is already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren) killProcessGroup(child);
  });
}

/** `text` cut to `max` characters, saying how much was cut. */
function truncate(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  return truncate(JSON.stringify(value), 120);
}

/** The parent side of one JSON-lines conversation with a child process. */
class JsonLinesChild {
  private readonly child: ChildProcess;
  private readonly closedEvent: Promise<void>;
  /** The unfinished stdout line, in the chunks it arrived in. */
  private stdoutPieces: string[] = [];
  private stdoutPieceChars = 0;
  private stderrBuffer = "";
  private readonly stderrTail: string[] = [];
  private pending: PendingRequest | null = null;
  private failure: ExternalEnvError | null = null;
  /** close() has begun: the child's exit is expected, not a failure. */
  private closing = false;
  private shutdown: Promise<void> | null = null;
  private nextId = 0;

  constructor(
    readonly command: string,
    private readonly timeoutMs: number,
    cwd: string | undefined,
    private readonly onStderr: ((line: string) => void) | undefined,
  ) {
    this.child = spawn(command, {
      shell: true,
      cwd,
      stdio: ["pipe", "pipe", "pipe"],
      // Own process group, so that close() can kill grandchildren too.
      detached: process.platform !== "win32",
      windowsHide: true,
    });
    liveChildren.add(this.child);
    installExitHook();

    this.closedEvent = new Promise<void>((resolve) => {
      this.child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
        liveChildren.delete(this.child);
        this.flushStderr();
        this.fail(this.closing ? this.closedError() : this.describeDeath(code, signal));
        resolve();
      });
      this.child.once("error", (error: Error) => {
        const where = cwd === undefined ? "" : ` in ${JSON.stringify(cwd)} (does that directory exist?)`;
        this.fail(new ExternalEnvError(`${this.who()} could not be started${where}: ${error.message}.`));
        if (this.child.pid === undefined) {
          liveChildren.delete(this.child);
          resolve();
        }
      });
    });

    this.child.stdout!.setEncoding("utf8");
    this.child.stdout!.on("data", (chunk: string) => this.onStdout(chunk));
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (chunk: string) => this.onStderrData(chunk));
    // Writing to a child that just died raises EPIPE here; its death is reported by the close handler.
    this.child.stdin!.on("error", () => undefined);
  }

  /** Sends one request and resolves with its reply; rejects on any failure (or an `error` reply). */
  request(type: string, fields: Record<string, unknown> = {}, timeoutMs = this.timeoutMs): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) {
      // A caller bug, not a user error: the protocol allows one request in flight.
      return Promise.reject(new Error(`${this.who()}: ${this.pending.label} is still waiting; await each call`));
    }
    const id = this.nextId++;
    const label = `the "${type}" request (id ${id})`;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new ExternalEnvError(
            `${this.who()} did not answer ${label} within ${timeoutMs} ms; the process was killed ` +
              `(raise the timeout if the environment is just slow).${this.unfinishedReply()}${this.stderrSuffix()}`,
          ),
        );
      }, timeoutMs);
      this.pending = { id, label, resolve, reject, timer };
      this.child.stdin!.write(JSON.stringify({ id, type, ...fields }) + "\n");
    });
  }

  /** Stops the child: asks it to close if it is healthy, then kills its process group and waits for it. */
  close(): Promise<void> {
    return (this.shutdown ??= this.shutDown());
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    if (!this.failure) {
      try {
        await this.request("close", {}, Math.min(this.timeoutMs, 5000));
        await this.closedWithin(CLOSE_GRACE_MS);
      } catch {
        // a child that cannot even close is killed below all the same
      }
    }
    killProcessGroup(this.child);
    if (!(await this.closedWithin(CLOSE_GRACE_MS))) {
      // A process that left the group (e.g. a daemon) still holds the pipes: stop listening to them.
      this.child.stdout!.destroy();
      this.child.stderr!.destroy();
      await this.closedEvent;
    }
    this.failure = this.closedError();
  }

  /** Waits up to `ms` for the child's stdio to close; true if it did. */
  private closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    return Promise.race([this.closedEvent.then(() => true), timeout]).finally(() => clearTimeout(timer));
  }

  private closedError(): ExternalEnvError {
    return new ExternalEnvError(`${this.who()} has been closed; start a new environment to go on.`);
  }

  /** Marks the conversation broken (first failure wins), rejects the waiting request, kills the child. */
  fail(error: ExternalEnvError): void {
    if (this.failure) return;
    this.failure = error;
    const pending = this.pending;
    this.pending = null;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    killProcessGroup(this.child);
  }

  /** `env-cmd "<command>"`, the prefix of every message. */
  who(): string {
    return `The environment command "${truncate(this.command, 160)}"`;
  }

  stderrSuffix(): string {
    this.flushStderr();
    if (this.stderrTail.length === 0) return " It wrote nothing to stderr.";
    return ` Its last stderr lines:\n  ${this.stderrTail.join("\n  ")}`;
  }

  /** A reply without its newline is never read: say so, or the child seems to have said nothing. */
  private unfinishedReply(): string {
    if (this.stdoutPieceChars === 0) return "";
    return ` Its stdout ends in ${JSON.stringify(truncate(this.stdoutPieces.join("")))} without a newline; every reply must end with one.`;
  }

  private describeDeath(code: number | null, signal: NodeJS.Signals | null): ExternalEnvError {
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const when = this.pending ? `while snndt was waiting for the answer to ${this.pending.label}` : "between requests";
    const hint = code === 127 ? " (exit code 127: the shell did not find the program)" : "";
    return new ExternalEnvError(`${this.who()} ${how} ${when}${hint}.${this.unfinishedReply()}${this.stderrSuffix()}`);
  }

  private onStdout(chunk: string): void {
    // Only the new chunk is searched for a newline: rescanning a long unfinished line on every chunk
    // would cost its length squared, and a runaway line would look like a slow environment.
    let start = 0;
    let newline: number;
    while ((newline = chunk.indexOf("\n", start)) >= 0 && !this.failure) {
      const line = (this.stdoutPieces.join("") + chunk.slice(start, newline)).replace(/\r$/, "");
      this.stdoutPieces = [];
      this.stdoutPieceChars = 0;
      start = newline + 1;
      this.onLine(line);
    }
    if (this.failure || start === chunk.length) return;
    this.stdoutPieces.push(chunk.slice(start));
    this.stdoutPieceChars += chunk.length - start;
    if (this.stdoutPieceChars > MAX_LINE_CHARS) {
      this.fail(
        new ExternalEnvError(
          `${this.who()} wrote more than ${MAX_LINE_CHARS} characters on stdout without a newline; ` +
            `expected one JSON reply per line.`,
        ),
      );
    }
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    const waitingFor = this.pending ? ` in answer to ${this.pending.label}` : "";
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      const nonStandard = /\b(NaN|-?Infinity)\b/.test(line)
        ? " NaN and Infinity are not JSON (Python: json.dumps(..., allow_nan=False); write null for an unbounded limit)."
        : "";
      this.fail(
        new ExternalEnvError(
          `${this.who()} wrote a line that is not JSON${waitingFor}: ${JSON.stringify(truncate(line))} ` +
            `(${(error as Error).message}). Only protocol replies may go to stdout; logs belong on stderr.` +
            nonStandard,
        ),
      );
      return;
    }
    if (!isPlainObject(message)) {
      this.fail(
        new ExternalEnvError(
          `${this.who()} wrote ${JSON.stringify(truncate(line))}${waitingFor}; expected a JSON object per line.`,
        ),
      );
      return;
    }
    const pending = this.pending;
    if (!pending) {
      this.fail(
        new ExternalEnvError(
          `${this.who()} wrote ${JSON.stringify(truncate(line))} while no request was waiting; ` +
            `it must write exactly one reply per request.`,
        ),
      );
      return;
    }
    if (message.id !== pending.id) {
      const found = "id" in message ? `id ${describe(message.id)}` : "no id";
      this.fail(
        new ExternalEnvError(
          `${this.who()} replied out of order: expected the answer to ${pending.label}, ` +
            `found a reply with ${found}: ${JSON.stringify(truncate(line))}.`,
        ),
      );
      return;
    }
    this.pending = null;
    clearTimeout(pending.timer);
    if ("error" in message) {
      // The child is alive and says what went wrong; the conversation can go on.
      pending.reject(
        new ExternalEnvError(`${this.who()} reported an error for ${pending.label}: ${describe(message.error)}`),
      );
      return;
    }
    pending.resolve(message);
  }

  private onStderrData(chunk: string): void {
    const lines = (this.stderrBuffer + chunk).split("\n");
    // A progress bar redraws its line after a carriage return: only its last drawing is kept, and
    // a line that never ends is cut to its start, so the buffer (and each split) stays small.
    this.stderrBuffer = lastDrawingSoFar(lines.pop()!).slice(0, MAX_STDERR_LINE_CHARS);
    for (const line of lines) this.addStderrLine(lastDrawing(line));
  }

  private flushStderr(): void {
    if (this.stderrBuffer !== "") this.addStderrLine(lastDrawing(this.stderrBuffer));
    this.stderrBuffer = "";
  }

  private addStderrLine(line: string): void {
    this.onStderr?.(line);
    if (line.trim() === "") return;
    this.stderrTail.push(truncate(line, 500));
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }
}

/** What a terminal shows of a finished line: the text after its last carriage return (trailing ones, of "\r\n", aside). */
function lastDrawing(line: string): string {
  const text = line.replace(/\r+$/, "");
  return text.slice(text.lastIndexOf("\r") + 1);
}

/** The same for an unfinished line, keeping its trailing carriage returns (its "\n" may be in the next chunk). */
function lastDrawingSoFar(line: string): string {
  const text = line.replace(/\r+$/, "");
  return line.slice(text.lastIndexOf("\r") + 1);
}

/** Reads `field` of a reply as a list of finite numbers of the given length (or any length if undefined). */
function numberList(
  conversation: JsonLinesChild,
  where: string,
  value: unknown,
  length: number | undefined,
  nullAs?: number,
): number[] {
  const fail = (what: string) =>
    new ExternalEnvError(`${conversation.who()} sent ${where} = ${describe(value)}; expected ${what}.`);
  const expected =
    (length === undefined ? "a list of numbers" : `a list of ${length} numbers`) +
    (nullAs === undefined ? "" : " (null for unbounded)");
  if (!Array.isArray(value)) throw fail(expected);
  if (length !== undefined && value.length !== length) {
    throw fail(`${expected}, found ${value.length}`);
  }
  return value.map((entry, index) => {
    if (entry === null && nullAs !== undefined) return nullAs;
    if (typeof entry !== "number" || !Number.isFinite(entry)) {
      throw fail(`${expected}; entry ${index} is ${describe(entry)}`);
    }
    return entry;
  });
}

function positiveInteger(conversation: JsonLinesChild, where: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new ExternalEnvError(`${conversation.who()} sent ${where} = ${describe(value)}; expected a positive integer.`);
  }
  return value;
}

interface EnvSpec {
  id: string;
  observationSpace: { shape: [number]; low: number[]; high: number[] };
  actionSpace: ActionSpace;
  rewardThreshold: number | undefined;
  maxEpisodeSteps: number;
}

/** Validates the child's answer to the `spec` request. */
function parseSpec(conversation: JsonLinesChild, reply: Reply): EnvSpec {
  const where = (field: string) => `in its spec reply ${field}`;
  const bad = (field: string, what: string, value: unknown) =>
    new ExternalEnvError(`${conversation.who()} sent ${where(field)} = ${describe(value)}; expected ${what}.`);

  if (reply.protocol !== ENV_PROTOCOL_VERSION) {
    throw new ExternalEnvError(
      `${conversation.who()} speaks protocol version ${describe(reply.protocol)}; ` +
        `this snndt speaks version ${ENV_PROTOCOL_VERSION} (see docs/env-protocol.md).`,
    );
  }
  const id = reply.env_id;
  if (typeof id !== "string" || id === "") throw bad("env_id", "a non-empty string", id);

  const observationSpace = reply.observation_space;
  if (!isPlainObject(observationSpace)) throw bad("observation_space", "an object with shape, low, high", observationSpace);
  const shape = observationSpace.shape;
  if (!Array.isArray(shape) || shape.length !== 1 || typeof shape[0] !== "number" || !Number.isSafeInteger(shape[0]) || shape[0] < 1) {
    throw bad("observation_space.shape", "[n], one positive integer (flatten other observations in the adapter)", shape);
  }
  const obsDim = shape[0];
  const low =
    observationSpace.low === undefined
      ? new Array<number>(obsDim).fill(-Infinity)
      : numberList(conversation, where("observation_space.low"), observationSpace.low, obsDim, -Infinity);
  const high =
    observationSpace.high === undefined
      ? new Array<number>(obsDim).fill(Infinity)
      : numberList(conversation, where("observation_space.high"), observationSpace.high, obsDim, Infinity);

  const action = reply.action_space;
  let actionSpace: ActionSpace;
  if (isPlainObject(action) && action.type === "discrete") {
    actionSpace = { kind: "discrete", n: positiveInteger(conversation, where("action_space.n"), action.n) };
  } else if (isPlainObject(action) && action.type === "box") {
    const actionLow = numberList(conversation, where("action_space.low"), action.low, undefined);
    if (actionLow.length === 0) throw bad("action_space.low", "at least one bound", action.low);
    const actionHigh = numberList(conversation, where("action_space.high"), action.high, actionLow.length);
    if (action.shape !== undefined && !(Array.isArray(action.shape) && action.shape.length === 1 && action.shape[0] === actionLow.length)) {
      throw bad("action_space.shape", `[${actionLow.length}] (the length of low and high)`, action.shape);
    }
    actionLow.forEach((lowValue, index) => {
      if (!(lowValue <= actionHigh[index]!)) {
        throw bad("action_space", `low <= high in every dimension (dimension ${index})`, action);
      }
    });
    actionSpace = { kind: "continuous", dim: actionLow.length, low: actionLow, high: actionHigh };
  } else {
    throw bad(
      "action_space",
      '{"type": "discrete", "n": N} or {"type": "box", "low": [...], "high": [...]}',
      action,
    );
  }
  const maxEpisodeSteps = positiveInteger(conversation, where("max_episode_steps"), reply.max_episode_steps);
  const threshold = reply.reward_threshold;
  if (threshold !== undefined && threshold !== null && (typeof threshold !== "number" || !Number.isFinite(threshold))) {
    throw bad("reward_threshold", "a finite number, null or no field", threshold);
  }
  const rewardThreshold = typeof threshold === "number" ? threshold : undefined;
  return { id, observationSpace: { shape: [obsDim], low, high }, actionSpace, rewardThreshold, maxEpisodeSteps };
}

/** An environment living in a child process; see {@link spawnExternalEnv}. */
class ExternalEnvironment implements AsyncEnvironment {
  readonly id: string;
  readonly observationSpace: { shape: [number]; low: number[]; high: number[] };
  readonly actionSpace: ActionSpace;
  readonly rewardThreshold: number | undefined;
  readonly maxEpisodeSteps: number;
  /** Steps taken in the current episode, or -1 before the first reset / after the episode ended. */
  private episodeStep = -1;

  constructor(
    private readonly conversation: JsonLinesChild,
    spec: EnvSpec,
  ) {
    this.id = spec.id;
    this.observationSpace = spec.observationSpace;
    this.actionSpace = spec.actionSpace;
    this.rewardThreshold = spec.rewardThreshold;
    this.maxEpisodeSteps = spec.maxEpisodeSteps;
  }

  async reset(seed?: number): Promise<Float32Array> {
    if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) {
      throw new EnvironmentError(`reset of ${this.id}: the seed must be a non-negative integer, found ${seed}.`);
    }
    const reply = await this.conversation.request("reset", { seed: seed ?? null });
    const observation = this.observation(reply, "reset");
    this.episodeStep = 0;
    return observation;
  }

  async step(action: Action): Promise<StepResult> {
    if (this.episodeStep < 0) {
      throw new EnvironmentError(`step of ${this.id}: the episode has not been reset (call reset() first, and after every episode end).`);
    }
    const wireAction = this.wireAction(action);
    const reply = await this.conversation.request("step", { action: wireAction });
    const observation = this.observation(reply, "step");
    const { reward, terminated, truncated } = reply;
    if (typeof reward !== "number" || !Number.isFinite(reward)) {
      throw this.badReply("step", "reward", reward, "a finite number");
    }
    if (typeof terminated !== "boolean") throw this.badReply("step", "terminated", terminated, "true or false");
    if (typeof truncated !== "boolean") throw this.badReply("step", "truncated", truncated, "true or false");
    this.episodeStep++;
    // The time limit is applied here too (as Gymnasium's TimeLimit does), so an environment without one still ends.
    const timeUp = !terminated && this.episodeStep >= this.maxEpisodeSteps;
    const result = { observation, reward, terminated, truncated: truncated || timeUp };
    if (result.terminated || result.truncated) this.episodeStep = -1;
    return result;
  }

  close(): Promise<void> {
    return this.conversation.close();
  }

  /** The action as the protocol carries it: an integer for discrete spaces, a list of numbers for boxes. */
  private wireAction(action: Action): number | number[] {
    const values = typeof action === "number" ? [action] : Array.from(action);
    const space = this.actionSpace;
    if (space.kind === "discrete") {
      const index = values[0];
      if (values.length !== 1 || index === undefined || !Number.isInteger(index) || index < 0 || index >= space.n) {
        throw new EnvironmentError(
          `step of ${this.id}: expected one integer action in 0..${space.n - 1}, found ${describe(values)}.`,
        );
      }
      return index;
    }
    if (values.length !== space.dim || values.some((value) => !Number.isFinite(value))) {
      throw new EnvironmentError(`step of ${this.id}: expected ${space.dim} finite action values, found ${describe(values)}.`);
    }
    return values;
  }

  private observation(reply: Reply, request: string): Float32Array {
    const dim = this.observationSpace.shape[0];
    try {
      const values = numberList(this.conversation, `"observation" in its ${request} reply`, reply.observation, dim);
      const observation = Float32Array.from(values);
      // Finite in JSON but beyond float32's range (about 3.4e38): the model would see Infinity.
      const overflow = observation.findIndex((value) => !Number.isFinite(value));
      if (overflow >= 0) {
        throw new ExternalEnvError(
          `${this.conversation.who()} sent "observation" in its ${request} reply = ${describe(values)}; entry ${overflow} (${values[overflow]}) is beyond float32's range (about ±3.4e38), which the model computes in.`,
        );
      }
      return observation;
    } catch (error) {
      this.conversation.fail(error as ExternalEnvError);
      throw error;
    }
  }

  private badReply(request: string, field: string, value: unknown, expected: string): ExternalEnvError {
    const error = new ExternalEnvError(
      `${this.conversation.who()} sent "${field}" = ${describe(value)} in its ${request} reply; expected ${expected}.`,
    );
    this.conversation.fail(error);
    return error;
  }
}

/**
 * Starts `command` (run by the shell, in `cwd`), asks for its spec and returns the environment.
 * Throws {@link ExternalEnvError} if the child fails to start or sends an invalid spec; the child is
 * killed in that case. Call `close()` when done: it ends the child and every process it started.
 */
export async function spawnExternalEnv(command: string, options: ExternalEnvOptions = {}): Promise<AsyncEnvironment> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_ENV_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new UsageError(`The environment timeout must be a positive number of milliseconds, found ${timeoutMs}.`);
  }
  if (command.trim() === "") throw new UsageError("The environment command is empty.");
  const conversation = new JsonLinesChild(command, timeoutMs, options.cwd, options.onStderr);
  try {
    const reply = await conversation.request("spec", { protocol: ENV_PROTOCOL_VERSION });
    return new ExternalEnvironment(conversation, parseSpec(conversation, reply));
  } catch (error) {
    if (error instanceof ExternalEnvError) conversation.fail(error);
    await conversation.close();
    throw error;
  }
}

/**
 * Column roles and the names publishers use for them. A role is found by a user-given name first
 * (the --*-column flags), then by the first alias present (case-insensitive).
 */
import { InputError, UsageError } from "../runtime/errors.js";

export type ColumnRole = "observations" | "actions" | "rewards" | "terminals" | "timeouts" | "episode" | "step";

/** User-chosen column names, one per role (from --obs-column, --action-column, ...). */
export type ColumnNames = Partial<Record<ColumnRole, string>>;

export const COLUMN_ALIASES: Record<ColumnRole, readonly string[]> = {
  observations: ["observations", "observation", "obs", "states", "state"],
  actions: ["actions", "action"],
  rewards: ["rewards", "reward"],
  terminals: ["terminals", "terminal", "terminated", "terminations", "dones", "done"],
  timeouts: ["timeouts", "timeout", "truncated", "truncations"],
  episode: ["episode_id", "episode", "episode_index", "episode_idx", "episodes"],
  step: ["step", "steps", "timestep", "timesteps", "t"],
};

/** The command-line flag that names each role's column. */
export const COLUMN_FLAGS: Record<ColumnRole, string> = {
  observations: "--obs-column",
  actions: "--action-column",
  rewards: "--reward-column",
  terminals: "--terminal-column",
  timeouts: "--timeout-column",
  episode: "--episode-column",
  step: "--step-column",
};

/** Given for an optional role (flags, episode ids, steps): the file has no such column, whatever its names say. */
export const NO_COLUMN = "none";
const OPTIONAL_ROLES: readonly ColumnRole[] = ["terminals", "timeouts", "episode", "step"];

/** A column the file lacks: `problem` says which, `found` what the file holds instead. */
export class MissingColumnError extends InputError {
  constructor(
    readonly file: string,
    readonly problem: string,
    separator: ", but" | ";",
    readonly found: string,
  ) {
    super(`${file}: ${problem}${separator} found ${found}.`);
  }
}

/**
 * Each lookup's column, or one error naming every column the file lacks: a file of other names
 * should take one run, not one a column, to learn what to name.
 */
export function lookUpColumns<T extends unknown[]>(...lookups: { [K in keyof T]: () => T[K] }): T {
  const found: unknown[] = [];
  const missing: MissingColumnError[] = [];
  for (const lookup of lookups) {
    try {
      found.push(lookup());
    } catch (err) {
      if (!(err instanceof MissingColumnError)) throw err;
      missing.push(err);
    }
  }
  const [first] = missing;
  if (first === undefined) return found as T;
  if (missing.length === 1) throw first;
  throw new InputError(`${first.file}: ${missing.map((m) => m.problem).join("; ")}; found ${first.found}.`);
}

/**
 * The name in `available` for `role`, or undefined when absent (or declared absent with
 * NO_COLUMN). A name given by the user must exist: a typo is an error listing what the file holds,
 * never a silent fallback to an alias.
 */
export function findColumn(
  file: string,
  available: readonly string[],
  role: ColumnRole,
  names: ColumnNames,
  what = "columns",
): string | undefined {
  const given = names[role];
  if (given === NO_COLUMN && OPTIONAL_ROLES.includes(role)) return undefined;
  if (given !== undefined) {
    if (available.includes(given)) return given;
    throw new MissingColumnError(file, `${COLUMN_FLAGS[role]} names "${given}", but there is no such column`, ";", `${what}: ${listNames(available)}`);
  }
  const lower = new Map(available.map((name) => [name.toLowerCase(), name] as const));
  for (const alias of COLUMN_ALIASES[role]) {
    const found = lower.get(alias);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Like findColumn, but a missing column is an error that lists the accepted names and what was found. */
export function requireColumn(
  file: string,
  available: readonly string[],
  role: ColumnRole,
  names: ColumnNames,
  what = "columns",
): string {
  const found = findColumn(file, available, role, names, what);
  if (found !== undefined) return found;
  const vector = VECTOR_ROLES.includes(role)
    ? `, numbered scalar columns such as "${COLUMN_ALIASES[role][0]}_0", "${COLUMN_ALIASES[role][0]}_1", ... in a per-step table`
    : "";
  throw new MissingColumnError(
    file,
    `no ${role} column: expected one named ${COLUMN_ALIASES[role].map((a) => `"${a}"`).join(", ")}${vector} ` +
      `(or name it with ${COLUMN_FLAGS[role]}${vector ? ", a comma-separated list for several columns" : ""})`,
    ", but",
    `${what}: ${listNames(available)}`,
  );
}

/** Roles whose value a step is a vector, which per-step tables may spread over numbered scalar columns. */
const VECTOR_ROLES: readonly ColumnRole[] = ["observations", "actions"];

/**
 * The columns holding a vector role (observations, actions) of a per-step table: a comma-separated
 * list given with the role's flag, else the role's one column, else numbered scalar columns of one of
 * its names (obs_0, obs_1, ...: a vector as pandas spreads it). None of these is an error.
 */
export function requireVectorColumns(file: string, available: readonly string[], role: ColumnRole, names: ColumnNames): string[] {
  const given = names[role];
  if (given !== undefined && given.includes(",")) {
    const parts = given.split(",").map((part) => part.trim());
    const missing = parts.filter((part) => !available.includes(part));
    if (missing.length > 0) {
      throw new MissingColumnError(file, `${COLUMN_FLAGS[role]} names ${listNames(missing)}, but there is no such column`, ";", `columns: ${listNames(available)}`);
    }
    return parts;
  }
  const single = findColumn(file, available, role, names);
  if (single !== undefined) return [single];
  const lower = new Map(available.map((name) => [name.toLowerCase(), name] as const));
  for (const alias of COLUMN_ALIASES[role]) {
    const numbered: string[] = [];
    for (let i = 0; lower.has(`${alias}_${i}`); i++) numbered.push(lower.get(`${alias}_${i}`)!);
    if (numbered.length > 0) return numbered;
  }
  return [requireColumn(file, available, role, names)];
}

/**
 * Refuse --episode-column / --step-column for a source whose episodes are not runs of rows
 * (`howItSplits` says how they are found instead): ignoring the flags silently would leave the user
 * believing the episodes were split by that column.
 */
export function refuseIdColumns(source: string, names: ColumnNames, howItSplits: string): void {
  const given = (["episode", "step"] as const).filter((role) => names[role] !== undefined);
  if (given.length === 0) return;
  throw new UsageError(
    `${source}: ${given.map((role) => COLUMN_FLAGS[role]).join(" and ")} ${given.length > 1 ? "apply" : "applies"} to Arrow and Parquet files of a row a step only; ${howItSplits}.`,
  );
}

/**
 * Refuse one column taken for two of actions, rewards, terminals and timeouts (a --timeout-column
 * naming the column already found as the terminals, say): its values would be read as two different
 * things. An observation may repeat any column (a time feature that is also the step column).
 */
export function refuseSharedColumns(
  file: string,
  roles: { actions: string | readonly string[]; rewards: string; terminals: string | undefined; timeouts: string | undefined },
  names: ColumnNames,
  noun: "column" | "dataset" = "column",
): void {
  const takenBy = new Map<string, ColumnRole>();
  const how = (role: ColumnRole): string => (names[role] !== undefined ? COLUMN_FLAGS[role] : "found by its name");
  for (const [role, given] of Object.entries(roles) as [ColumnRole, string | readonly string[] | undefined][]) {
    for (const name of given === undefined ? [] : typeof given === "string" ? [given] : given) {
      const first = takenBy.get(name);
      if (first !== undefined && first !== role) {
        throw new UsageError(
          `${file}: ${noun} "${name}" would be read as both ${first} (${how(first)}) and ${role} (${how(role)}); name another ${noun} for one of them ` +
            `(${NO_COLUMN} for terminals or timeouts not to be read).`,
        );
      }
      takenBy.set(name, role);
    }
  }
}

/** The columns of a table whose observations and actions are each one column, by role. */
export interface StepColumns {
  observations: string;
  actions: string;
  rewards: string;
  terminals: string | undefined;
  timeouts: string | undefined;
}

/**
 * The columns of each role in `available` (observations, actions and rewards required; the flags when
 * found), none of actions, rewards and the flags sharing one (refuseSharedColumns).
 */
export function requireStepColumns(file: string, available: readonly string[], names: ColumnNames, what = "columns", noun: "column" | "dataset" = "column"): StepColumns {
  const [observations, actions, rewards, terminals, timeouts] = lookUpColumns(
    () => requireColumn(file, available, "observations", names, what),
    () => requireColumn(file, available, "actions", names, what),
    () => requireColumn(file, available, "rewards", names, what),
    () => findColumn(file, available, "terminals", names, what),
    () => findColumn(file, available, "timeouts", names, what),
  );
  const found: StepColumns = { observations, actions, rewards, terminals, timeouts };
  refuseSharedColumns(file, { actions: found.actions, rewards: found.rewards, terminals: found.terminals, timeouts: found.timeouts }, names, noun);
  return found;
}

/**
 * What to add to "episode ends cannot be found, found columns: ..." when the user set aside some of
 * those columns with "none": the list would otherwise read as if they were missed.
 */
export function setAsideNote(names: ColumnNames, roles: readonly ColumnRole[]): string {
  const setAside = roles.filter((role) => names[role] === NO_COLUMN).map((role) => `${COLUMN_FLAGS[role]} ${NO_COLUMN}`);
  return setAside.length === 0 ? "" : `; ${setAside.join(" and ")} said not to look for ${setAside.length > 1 ? "those" : "that"}: name the ones that mark episodes instead`;
}

export function listNames(names: readonly string[]): string {
  return names.length === 0 ? "none" : names.map((n) => `"${n}"`).join(", ");
}

/** Gym's older `done`: it marks every episode end, terminations and time limits alike. */
const AMBIGUOUS_END_NAMES: readonly string[] = ["done", "dones"];

/**
 * A warning when episode ends come from a `done(s)` column with no time-limit column beside it: its
 * ends are counted as terminations, which may be time limits (only the summary's counts use them).
 */
export function ambiguousEndsWarning(terminals: string | undefined, timeouts: string | undefined): string[] {
  if (terminals === undefined || timeouts !== undefined || !AMBIGUOUS_END_NAMES.includes(terminals.toLowerCase())) return [];
  return [
    `column "${terminals}" is read as terminations, but a "done" flag also marks time limits in Gym's older API, so the ` +
      `terminated/truncated counts may be off (training does not use them; name a time-limit column with --timeout-column if there is one)`,
  ];
}

/**
 * Numeric command-line values, read the same way by every subcommand. Integers are plain decimal
 * digits: "1e3", "0x10", "5.0" and " 7" are refused, since a typo is likelier than intent there.
 */
import { UsageError } from "../runtime/errors.js";

/** `text` as an integer in [min, max] if it is one written as decimal digits, else null. */
function decimalInteger(text: string, min: number, max: number): number | null {
  const value = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(value) && value >= min && value <= max ? value : null;
}

/** An integer in [min, max] written as decimal digits; the error names the flag and the range. */
export function parseInteger(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = decimalInteger(text, min, max);
  if (value === null) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UsageError(`${flag} must be an integer ${range}, got "${text}"`);
  }
  return value;
}

/** A finite number accepted by `check`; the error names the flag and says what was `expected`. */
export function parseNumber(flag: string, text: string, check: (n: number) => boolean, expected: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || !check(value)) throw new UsageError(`${flag} must be ${expected}, got "${text}"`);
  return value;
}

/** Comma-separated distinct integers in [min, max] ("3,4,5"); an empty item or a repeat is refused. */
export function parseIntegerList(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number[] {
  const values = text.split(",").map((item) => {
    const value = decimalInteger(item, min, max);
    if (value === null) throw new UsageError(`${flag} must be comma-separated integers in [${min}, ${max}], got "${text}"`);
    return value;
  });
  const repeated = values.find((value, i) => values.indexOf(value) !== i);
  if (repeated !== undefined) throw new UsageError(`${flag} lists ${repeated} twice, got "${text}"`);
  return values;
}

/** Comma-separated finite numbers ("-2" or "-1,-1,-0.5"), each read as parseNumber reads one. */
export function parseNumberList(flag: string, text: string): number[] {
  try {
    return text.split(",").map((item) => parseNumber(flag, item, () => true, "a number"));
  } catch {
    throw new UsageError(`${flag} must be a number or comma-separated numbers, got "${text}"`);
  }
}

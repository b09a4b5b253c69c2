/**
 * Command-line parsing on node's `util.parseArgs`, with usage errors in the sharp style:
 * "Expected integer between 1 and 100 for --quality but received 120".
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

/** A mistake in how the command was called: the CLI prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Options every command takes. */
export const commonOptions = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
} as const satisfies Options;

/** Parses `argv` strictly: unknown options and missing values are usage errors. */
export function parse<const T extends Options>(argv: readonly string[], options: T) {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...commonOptions, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(describeParseError(err));
  }
}

function describeParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  // Node's messages carry advice meant for script authors ("To specify a positional argument starting with a
  // '-', place it at the end of the command after '--'"); keep the first sentence.
  const first = message.split(/\.\s/)[0]?.replace(/\.$/, "") ?? message;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return first.replace(/^Unknown option/, "unknown option");
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return first.replace(/^Option/, "option");
  return first;
}

const SHOWN_CHARACTERS = 40;

/** A value quoted for a message, cut to a short escaped prefix when long: "abc…" (10000 characters). */
export function quoted(value: string): string {
  const shown = JSON.stringify(value.slice(0, SHOWN_CHARACTERS));
  return value.length > SHOWN_CHARACTERS ? `${shown}… (${value.length} characters)` : shown;
}

/** The offending value for a message: as typed when short and printable, else quoted(). */
export function received(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped here
  const printable = !/[\u0000-\u001f\u007f-\u009f]/.test(value);
  return value.length <= SHOWN_CHARACTERS && printable ? value : quoted(value);
}

export function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || parsed < min || parsed > max) {
    throw new UsageError(`Expected integer between ${min} and ${max} for ${name} but received ${received(value)}`);
  }
  return parsed;
}

/** A decimal number in [min, max], e.g. --min-ssim 0.95. */
export function decimal(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^\s*\d*\.?\d+\s*$/.test(value) || !(parsed >= min && parsed <= max)) {
    throw new UsageError(`Expected number between ${min} and ${max} for ${name} but received ${received(value)}`);
  }
  return parsed;
}

/**
 * Decimal unless said otherwise, as every size imgc prints (formatBytes: 1 KB = 1000 bytes): `--max-bytes 50k`
 * is the "50 KB" the result's note names. KiB and MiB are there for who means them.
 */
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
};

/** A size in bytes: 250000, 200k / 200kB (×1000), 200KiB (×1024), 1.5M / 1.5MB, 1.5MiB; at least `min`. */
export function byteSize(value: string | undefined, name: string, min = 1, max = 2 ** 40): number | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*(\d*\.?\d+)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? SIZE_UNITS[(match[2] ?? "").toLowerCase()] : undefined;
  const parsed = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : Number.NaN;
  if (!(parsed >= min && parsed <= max)) {
    throw new UsageError(
      `Expected a size between ${min} and ${max} bytes (e.g. 250000, 200kB, 1.5MB) for ${name} but received ${received(value)}`,
    );
  }
  return parsed;
}

/** A comma-separated list of choices, each once: "webp,avif". */
export function choices<const C extends string>(
  value: string | undefined,
  name: string,
  allowed: readonly C[],
): C[] | undefined {
  if (value === undefined) return undefined;
  const picked = value.split(",").map((part) => part.trim().toLowerCase());
  const wrong = picked.find((part) => !(allowed as readonly string[]).includes(part));
  if (wrong !== undefined || picked.length === 0) {
    throw new UsageError(
      `Expected a comma-separated list of ${allowed.join(", ")} for ${name} but received ${received(value)}`,
    );
  }
  return [...new Set(picked)] as C[];
}

export function choice<const C extends string>(
  value: string | undefined,
  name: string,
  choices: readonly C[],
): C | undefined {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (!(choices as readonly string[]).includes(lower)) {
    throw new UsageError(`Expected one of ${choices.join(", ")} for ${name} but received ${received(value)}`);
  }
  return lower as C;
}

/** Exactly `count` positionals, named for the message, e.g. positionals(p, ["job"]). */
export function positionals(values: readonly string[], names: readonly string[]): string[] {
  if (values.length < names.length) throw new UsageError(`missing <${names[values.length]}>`);
  if (values.length > names.length) throw new UsageError(`unexpected argument ${quoted(values[names.length] ?? "")}`);
  return [...values];
}

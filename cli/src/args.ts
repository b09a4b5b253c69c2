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

export function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || parsed < min || parsed > max) {
    throw new UsageError(`Expected integer between ${min} and ${max} for ${name} but received ${value}`);
  }
  return parsed;
}

export function choice<const C extends string>(
  value: string | undefined,
  name: string,
  choices: readonly C[],
): C | undefined {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (!(choices as readonly string[]).includes(lower)) {
    throw new UsageError(`Expected one of ${choices.join(", ")} for ${name} but received ${value}`);
  }
  return lower as C;
}

/** Exactly `count` positionals, named for the message, e.g. positionals(p, ["job"]). */
export function positionals(values: readonly string[], names: readonly string[]): string[] {
  if (values.length < names.length) throw new UsageError(`missing <${names[values.length]}>`);
  if (values.length > names.length) throw new UsageError(`unexpected argument ${JSON.stringify(values[names.length])}`);
  return [...values];
}

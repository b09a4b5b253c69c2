/** One `imgc` subcommand. Each lives in its own file under commands/. */
import { type Context, println } from "./context.js";

export interface Command {
  readonly name: string;
  /** One line for `imgc --help`. */
  readonly summary: string;
  /** The full `imgc <name> --help` text. */
  readonly help: string;
  /** Returns the exit code: 0 success, 1 a failure of the work, 2 a usage error (thrown as UsageError). */
  run(argv: readonly string[], context: Context): Promise<number>;
}

export const ENVIRONMENT_HELP = `Environment:
  IMGC_URL               the gateway's gRPC address (default http://127.0.0.1:8081)
  IMGC_API_KEY           API key, sent as Authorization: Bearer <key> (none in dev mode)`;

/** Prints the command's help on stdout; exit code 0. */
export function showHelp(context: Context, command: Command): number {
  println(context.stdout, command.help);
  return 0;
}

/**
 * `imgc <command> [options]`: dispatches to commands/, and turns failures into messages and exit codes
 * (0 success, 1 the work failed, 2 a usage error).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { quoted, UsageError } from "./args.js";
import type { Command } from "./command.js";
import { cancel } from "./commands/cancel.js";
import { compress } from "./commands/compress.js";
import { del } from "./commands/delete.js";
import { drain } from "./commands/drain.js";
import { jobs } from "./commands/jobs.js";
import { results } from "./commands/results.js";
import { retry } from "./commands/retry.js";
import { status } from "./commands/status.js";
import { submit } from "./commands/submit.js";
import { watch } from "./commands/watch.js";
import { workers } from "./commands/workers.js";
import { type Context, println } from "./context.js";

export const commands: readonly Command[] = [
  compress,
  submit,
  status,
  watch,
  cancel,
  retry,
  del,
  jobs,
  results,
  workers,
  drain,
];

export function rootHelp(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `imgc: compress images on an imgc cluster.

Usage: imgc <command> [options]

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join("\n")}

Run "imgc <command> --help" for a command's options. Every command takes --json for scripts.

Environment:
  IMGC_URL               the gateway's gRPC address (default http://127.0.0.1:8081)
  IMGC_HTTP_URL          the gateway's HTTP address, for "imgc results --zip" (default http://127.0.0.1:8080)
  IMGC_API_KEY           API key, sent as Authorization: Bearer <key>
  IMGC_COORDINATOR_URL   the coordinator's host:port, for "imgc workers" and "imgc drain" (default 127.0.0.1:50051)
  NO_COLOR               set (non-empty): no colour in the progress bar`;
}

export async function runCli(argv: readonly string[], context: Context): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? commands.find((command) => command.name === rest[0]) : undefined;
    println(name === undefined ? context.stderr : context.stdout, topic ? topic.help : rootHelp());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    println(context.stderr, `imgc: unknown command ${quoted(name)}\nRun "imgc --help" for the commands.`);
    return 2;
  }
  try {
    return await command.run(rest, context);
  } catch (err) {
    if (err instanceof UsageError) {
      println(context.stderr, `imgc ${command.name}: ${err.message}\nRun "imgc ${command.name} --help" for usage.`);
      return 2;
    }
    const server = command === workers || command === drain ? "IMGC_COORDINATOR_URL" : "IMGC_URL";
    println(context.stderr, `imgc ${command.name}: ${describeError(err, server)}`);
    return 1;
  }
}

/** An RPC failure as "<code>: <message>", with a hint where the fix is usually on the caller's side. */
export function describeError(err: unknown, serverVariable = "IMGC_URL"): string {
  if (!(err instanceof ConnectError)) return err instanceof Error ? err.message : String(err);
  const code = Code[err.code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  const hint =
    err.code === Code.Unauthenticated
      ? " (set IMGC_API_KEY)"
      : err.code === Code.Unavailable && err.cause !== undefined
        ? ` (is the server at ${serverVariable} running?)`
        : "";
  return `${code}: ${err.rawMessage}${hint}`;
}

/** `imgc workers`: the live workers, asked of the coordinator directly (ClusterService is internal). */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ListWorkersResponseSchema } from "@imgc/proto";
import { parse, positionals } from "../args.js";
import { type Command, showHelp } from "../command.js";
import { println } from "../context.js";
import { table } from "../format.js";
import { messageJson, printJson } from "../output.js";

export const workers: Command = {
  name: "workers",
  summary: "list the live workers (asks the coordinator)",
  help: `Usage: imgc workers [--json]

Lists the live workers: busy slots of all slots, items done, throughput, whether they are draining, and
the chunks in flight on each ("<job>.<index>", the first two of them; --json lists all).
This asks the coordinator itself, not the gateway: the cluster API is internal.

Options:
  --json                 the workers as protobuf JSON
  -h, --help             this help

Environment:
  IMGC_COORDINATOR_URL   the coordinator's host:port (default 127.0.0.1:50051)`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {});
    if (values.help) return showHelp(context, workers);
    positionals(args, []);
    const response = await context.cluster().listWorkers({});
    if (values.json) {
      printJson(context, messageJson(ListWorkersResponseSchema, response));
      return 0;
    }
    if (response.workers.length === 0) {
      println(context.stdout, "no live workers");
      return 0;
    }
    const now = Date.now();
    const rows = [...response.workers]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((w) => [
        w.id,
        w.host,
        `${w.busy}/${w.slots}`,
        String(w.itemsDone),
        w.itemsPerSecond.toFixed(1),
        w.draining ? "draining" : "active",
        w.heartbeatAt ? `${((now - timestampMs(w.heartbeatAt)) / 1000).toFixed(1)}s ago` : "",
        w.version,
        inFlight(w.chunks),
      ]);
    println(
      context.stdout,
      table(["worker", "host", "busy", "items", "items/s", "state", "heartbeat", "version", "chunks"], rows),
    );
    return 0;
  },
};

/** "2: <job>.0 <job>.1", the first two of them, "…" for the rest. */
function inFlight(chunks: readonly string[]): string {
  if (chunks.length === 0) return "0";
  return `${chunks.length}: ${chunks.slice(0, 2).join(" ")}${chunks.length > 2 ? " …" : ""}`;
}

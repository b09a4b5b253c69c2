/** `imgc workers`: the live workers, asked of the coordinator directly (ClusterService is internal). */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { type Job, type JobService, JobState, ListWorkersResponseSchema, type WorkerStatus } from "@imgc/proto";
import { parse, positionals } from "../args.js";
import { type Command, showHelp } from "../command.js";
import { println } from "../context.js";
import { table, tasksText } from "../format.js";
import { messageJson, printJson } from "../output.js";

export const workers: Command = {
  name: "workers",
  summary: "list the live workers (asks the coordinator)",
  help: `Usage: imgc workers [--json]

Lists the live workers: the kinds of work each does (compress, detect), busy slots of all slots, items
done, throughput, whether they are draining, and the chunks in flight on each ("<job>.<index>", the first
two of them; --json lists all). Then the jobs that wait for a kind of worker no one live is, with their
notice ("Waiting for a worker that can detect objects: none is live").
This asks the coordinator itself for the workers, not the gateway: the cluster API is internal.

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
    // Notices come from the gateway (IMGC_URL); without one the workers are still listed.
    const notices = await Promise.resolve()
      .then(() => waiting(context.jobs()))
      .catch(() => []);
    if (response.workers.length === 0) println(context.stdout, "no live workers");
    else println(context.stdout, workerTable(response.workers));
    for (const job of notices) println(context.stdout, `job ${job.id}: ${job.notice}`);
    return 0;
  },
};

/** The open jobs with a notice (they wait for a kind of worker). */
async function waiting(jobs: Client<typeof JobService>): Promise<Job[]> {
  const open = await Promise.all(
    [JobState.QUEUED, JobState.RUNNING].map((state) => jobs.listJobs({ state, pageSize: 500 })),
  );
  return open.flatMap((page) => page.jobs).filter((job) => job.notice !== "");
}

function workerTable(list: readonly WorkerStatus[]): string {
  const now = Date.now();
  const rows = [...list]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((w) => [
      w.id,
      w.host,
      tasksText(w.capabilities),
      `${w.busy}/${w.slots}`,
      String(w.itemsDone),
      w.itemsPerSecond.toFixed(1),
      w.draining ? "draining" : "active",
      w.heartbeatAt ? `${((now - timestampMs(w.heartbeatAt)) / 1000).toFixed(1)}s ago` : "",
      w.version,
      inFlight(w.chunks),
    ]);
  return table(["worker", "host", "does", "busy", "items", "items/s", "state", "heartbeat", "version", "chunks"], rows);
}

/** "2: <job>.0 <job>.1", the first two of them, "…" for the rest. */
function inFlight(chunks: readonly string[]): string {
  if (chunks.length === 0) return "0";
  return `${chunks.length}: ${chunks.slice(0, 2).join(" ")}${chunks.length > 2 ? " …" : ""}`;
}

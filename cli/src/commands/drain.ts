/** `imgc drain <worker>`: asks one worker to drain (ClusterService.DrainWorker, on the coordinator). */
import { sleep } from "@imgc/common/retry";
import { DrainWorkerResponseSchema } from "@imgc/proto";
import { integer, parse, positionals } from "../args.js";
import { type Command, showHelp } from "../command.js";
import { type Context, println } from "../context.js";
import { messageJson, printJson } from "../output.js";

export const drain: Command = {
  name: "drain",
  summary: "drain one worker: it finishes what it holds and leaves (asks the coordinator)",
  help: `Usage: imgc drain <worker> [--wait] [--timeout <seconds>] [--json]

Asks a worker (an id from "imgc workers") to drain: it pulls no more chunks, finishes the ones it holds
(past its own IMGC_DRAIN_TIMEOUT_MS it gives the rest back to the queue, where other workers take them),
deregisters and exits. Nothing is lost: a job it was working on goes on with the other workers.
This asks the coordinator itself, not the gateway: the cluster API is internal.

Options:
  --wait                 wait until the worker has left the cluster
  --timeout <seconds>    with --wait, give up after this long (default 300); exit code 1
  --json                 the worker as it was when asked, as protobuf JSON
  -h, --help             this help

Environment:
  IMGC_COORDINATOR_URL   the coordinator's host:port (default 127.0.0.1:50051)`,

  async run(argv, context) {
    const { values, positionals: args } = parse(argv, {
      wait: { type: "boolean" },
      timeout: { type: "string" },
    });
    if (values.help) return showHelp(context, drain);
    const [workerId] = positionals(args, ["worker"]) as [string];
    const timeoutS = integer(values.timeout, "--timeout", 1, 86_400) ?? 300;
    const response = await context.cluster().drainWorker({ workerId });
    if (values.json) printJson(context, messageJson(DrainWorkerResponseSchema, response));
    else {
      const held = response.worker?.chunks ?? [];
      println(
        context.stdout,
        `draining ${workerId}: it pulls nothing more and finishes ${held.length === 0 ? "(it holds no chunks)" : `${held.length} chunk${held.length === 1 ? "" : "s"} (${held.join(", ")})`}`,
      );
    }
    if (!values.wait) return 0;
    return (await waitUntilGone(context, workerId, timeoutS * 1000, values.json === true)) ? 0 : 1;
  },
};

/** Polls ListWorkers until the worker is no longer there; false past the timeout. */
async function waitUntilGone(context: Context, workerId: string, timeoutMs: number, quiet: boolean): Promise<boolean> {
  const started = Date.now();
  for (;;) {
    const { workers } = await context.cluster().listWorkers({});
    if (!workers.some((worker) => worker.id === workerId)) {
      if (!quiet) println(context.stdout, `${workerId} has left (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return true;
    }
    if (Date.now() - started >= timeoutMs) {
      println(context.stderr, `imgc drain: ${workerId} is still there after ${Math.round(timeoutMs / 1000)} s`);
      return false;
    }
    await sleep(500);
  }
}

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { ClusterService, type WorkerStatusSchema } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { runCli } from "../cli.js";
import type { Context } from "../context.js";

/** The CLI against an in-memory ClusterService whose workers leave `leaveAfter` ListWorkers calls after a drain. */
function harness(leaveAfter = 1) {
  const live = new Map<string, MessageInitShape<typeof WorkerStatusSchema>>([
    ["worker-1", { id: "worker-1", slots: 2, busy: 2, chunks: ["jobA.0", "jobA.3"] }],
    ["worker-2", { id: "worker-2", slots: 2, busy: 0, chunks: [] }],
  ]);
  const drained: string[] = [];
  let polls = 0;
  const cluster = createClient(
    ClusterService,
    createRouterTransport(({ service }) =>
      service(ClusterService, {
        drainWorker({ workerId }) {
          const worker = live.get(workerId);
          if (!worker) throw new ConnectError(`worker ${workerId} not found`, Code.NotFound);
          drained.push(workerId);
          return { worker: { ...worker, draining: true } };
        },
        listWorkers() {
          if (++polls > leaveAfter) for (const id of drained) live.delete(id);
          return { workers: [...live.values()] };
        },
      }),
    ),
  );
  return {
    drained,
    async run(argv: string[]) {
      let stdout = "";
      let stderr = "";
      const context: Context = {
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
        env: {},
        jobs: () => {
          throw new Error("drain must not call the gateway");
        },
        cluster: () => cluster,
        fetch: (() => Promise.reject(new Error("no fetch"))) as typeof fetch,
      };
      const code = await runCli(argv, context);
      return { code, stdout, stderr };
    },
  };
}

describe("imgc drain", () => {
  test("asks the coordinator to drain the worker and says what it still holds", async () => {
    const h = harness();
    const { code, stdout } = await h.run(["drain", "worker-1"]);
    expect(code).toBe(0);
    expect(h.drained).toEqual(["worker-1"]);
    expect(stdout).toBe("draining worker-1: it pulls nothing more and finishes 2 chunks (jobA.0, jobA.3)\n");
  });

  test("--wait returns once the worker has left", async () => {
    const h = harness(2);
    const { code, stdout } = await h.run(["drain", "worker-2", "--wait"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^draining worker-2: .*\(it holds no chunks\)\nworker-2 has left \(\d+\.\d s\)\n$/);
  });

  test("--wait gives up past --timeout with exit code 1", async () => {
    const h = harness(Number.POSITIVE_INFINITY);
    const { code, stderr } = await h.run(["drain", "worker-1", "--wait", "--timeout", "1"]);
    expect(code).toBe(1);
    expect(stderr).toBe("imgc drain: worker-1 is still there after 1 s\n");
  });

  test("an unknown worker is not_found, pointing at the coordinator", async () => {
    const { code, stderr } = await harness().run(["drain", "worker-9"]);
    expect(code).toBe(1);
    expect(stderr).toBe("imgc drain: not_found: worker worker-9 not found\n");
  });

  test("the worker id is required, and --json prints the worker", async () => {
    const h = harness();
    expect((await h.run(["drain"])).code).toBe(2);
    const { code, stdout } = await h.run(["drain", "worker-1", "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      worker: { id: "worker-1", draining: true, chunks: ["jobA.0", "jobA.3"] },
    });
  });
});

describe("imgc workers", () => {
  test("shows each worker's chunks in flight", async () => {
    const { stdout } = await harness().run(["workers"]);
    expect(stdout).toMatch(/^worker +host +does +busy +items +items\/s +state +heartbeat +version +chunks\n/);
    expect(stdout).toMatch(/worker-1 +compress +2\/2 .* 2: jobA\.0 jobA\.3\n/);
    expect(stdout).toMatch(/worker-2 +compress +0\/2 .* 0\n/);
  });
});

import { spawn } from "node:child_process";
import path from "node:path";
import { defaultTopology, ensureTopology, type Topology } from "@imgc/common";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../scripts/lib/test-nats.js";

let server: TestNats;
let nc: NatsConnection;
let topology: Topology;

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  topology = await ensureTopology(nc, defaultTopology);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

it("runs a worker process that SIGTERM drains, deregisters and exits 0", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "main.ts")], {
    env: {
      PATH: process.env.PATH ?? "",
      IMGC_NATS_URL: server.url,
      IMGC_INSECURE_INTERNAL: "1",
      IMGC_WORKER_ID: "main-test",
      IMGC_WORKER_SLOTS: "1",
      IMGC_WORKER_HTTP_PORT: "0",
      IMGC_CACHE_TTL_MS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (part: Buffer) => {
    out += part.toString();
  });
  child.stderr.on("data", (part: Buffer) => {
    out += part.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
  try {
    const deadline = Date.now() + 20_000;
    while (!out.includes('"msg":"ready"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ready line:\n${out}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await topology.workers.get("main-test"))?.operation).toBe("PUT");
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  expect(out).toContain('"msg":"drained"');
  expect(out).toContain('"msg":"stopped"');
  expect((await topology.workers.get("main-test"))?.operation).not.toBe("PUT");
}, 30_000);

import { spawn } from "node:child_process";
import path from "node:path";
import { ConfigError, defaultTopology, ensureTopology, type Topology } from "@imgc/common";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../scripts/lib/test-nats.js";
import { build } from "./build.js";
import { loadWorkerConfig } from "./config.js";

let server: TestNats;
let nc: NatsConnection;
let topology: Topology;

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  // The coordinator shapes the topology; a worker only opens it.
  topology = await ensureTopology(nc, defaultTopology);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const heartbeat = async (id: string) => (await topology.workers.get(id))?.operation;

describe("build", () => {
  it("starts every part of a worker, and close() drains it, deregisters and closes its port", async () => {
    const config = loadWorkerConfig({
      IMGC_NATS_URL: server.url,
      IMGC_INSECURE_INTERNAL: "1",
      IMGC_WORKER_ID: "build-test",
      IMGC_WORKER_SLOTS: "1",
      IMGC_WORKER_HTTP_PORT: "0",
      IMGC_CACHE_TTL_MS: "0",
      IMGC_LOG_LEVEL: "silent",
    });
    const started = await build(config, { execArgv: ["--import", "tsx"] });
    try {
      expect(started.worker.id).toBe("build-test");
      expect(await heartbeat("build-test")).toBe("PUT");
      const health = await fetch(`http://127.0.0.1:${started.httpPort}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      await started.close();
    }
    await expect(started.done).resolves.toBeUndefined();
    expect(await heartbeat("build-test")).not.toBe("PUT");
    await expect(fetch(`http://127.0.0.1:${started.httpPort}/healthz`)).rejects.toThrow();
  }, 30_000);

  it("refuses to start without its credentials, before connecting to anything", async () => {
    // Nothing listens on port 1: a build that tried NATS first would fail differently, or hang.
    const config = loadWorkerConfig({ IMGC_NATS_URL: "nats://127.0.0.1:1", IMGC_LOG_LEVEL: "silent" });
    const error = await build(config).catch((err: unknown) => err);
    expect(ConfigError.is(error)).toBe(true);
    expect((error as ConfigError).message).toMatch(/IMGC_AUTH_TOKEN \(or IMGC_AUTH_TOKEN_FILE\) is not set/);
  });

  it("main.ts runs a worker process that SIGTERM drains, deregisters and exits 0", async () => {
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
      const deadline = Date.now() + 45_000;
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
  }, 60_000);
});

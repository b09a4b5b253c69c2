/**
 * A throw-away nats-server for unit tests: JetStream in a temporary folder, a free loopback port, no users.
 * (The integration harness's startNats, tests/harness/infra.ts, runs NATS as production does, with users.)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "nats";
import { freePort } from "./free-port.js";
import { startNatsProcess } from "./local-stack.js";

export interface TestNats {
  url: string;
  port: number;
  /** A client that reconnects a few times, quickly: enough for a test to ride out a short blip. */
  connect(): Promise<NatsConnection>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data. */
  stop(): Promise<void>;
}

export async function startTestNats(): Promise<TestNats> {
  const storeDir = await mkdtemp(path.join(tmpdir(), "imgc-nats-"));
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const proc = await startNatsProcess({ port, storeDir }).catch(async (err: unknown) => {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  });
  return {
    url,
    port,
    connect: () => connect({ servers: url, maxReconnectAttempts: 5, reconnectTimeWait: 100 }),
    async stop() {
      await proc.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

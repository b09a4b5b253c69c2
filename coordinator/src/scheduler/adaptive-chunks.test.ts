import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createLogger, encodeMessage, WORKERS_BUCKET } from "@imgc/common";
import { JobService, WorkerStatusSchema } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type Coordinator, startCoordinator } from "../coordinator.js";
import { eventually, securedTransport, testSettings } from "../testing/harness.js";
import { createMemoryStorage } from "../testing/memory-storage.js";
import { startNats, type TestNats } from "../testing/nats-server.js";
import { CHUNKS_PER_SLOT } from "./submit.js";

let nats: TestNats;
let nc: NatsConnection;
let coordinator: Coordinator;
let jobs: ReturnType<typeof createClient<typeof JobService>>;

beforeAll(async () => {
  nats = await startNats();
  nc = await nats.connect();
  const storage = createMemoryStorage();
  for (let i = 0; i < 100; i++) storage.put(`uploads/default/many/${String(i).padStart(3, "0")}.jpg`, 1000);
  // maxItems 16, minCount 2: without workers, 100 items make 7 chunks.
  coordinator = await startCoordinator({
    nc,
    storage,
    log: createLogger("test", "silent"),
    settings: { ...testSettings, chunk: { maxItems: 16, maxBytes: 1024 ** 3, minCount: 2 } },
  });
  jobs = createClient(JobService, securedTransport(coordinator).transport);
});

afterAll(async () => {
  await coordinator?.close();
  await nc?.close();
  await nats?.stop();
});

const prefix = { kind: { case: "s3Prefix" as const, value: { prefix: "uploads/default/many/" } } };

async function heartbeat(id: string, slots: number): Promise<void> {
  const kv = await nc.jetstream().views.kv(WORKERS_BUCKET);
  await kv.put(
    id,
    encodeMessage(WorkerStatusSchema, create(WorkerStatusSchema, { id, slots, heartbeatAt: timestampNow() })),
  );
}

test("a job is cut into at least CHUNKS_PER_SLOT chunks per live slot, never more than one per item", async () => {
  const alone = (await jobs.submitJob({ sources: [prefix] })).job;
  expect(alone?.chunkCount).toBe(7);

  await heartbeat("big-1", 6);
  await heartbeat("big-2", 2);
  await eventually(async () => coordinator.membership.size === 2);
  const spread = (await jobs.submitJob({ sources: [prefix] })).job;
  expect(spread?.chunkCount).toBe(CHUNKS_PER_SLOT * 8);

  await heartbeat("big-3", 64);
  await eventually(async () => coordinator.membership.size === 3);
  const capped = (await jobs.submitJob({ sources: [prefix] })).job;
  expect(capped?.chunkCount).toBe(100);
});

import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { encodeMessage, WORKERS_BUCKET } from "@imgc/common";
import { WorkerStatusSchema } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestStack, type TestCoordinator, type TestStack } from "../testing/harness.js";
import { createMemoryStorage } from "../testing/memory-storage.js";
import { CHUNKS_PER_SLOT } from "./chunking.js";

let stack: TestStack;
let nc: NatsConnection;
let jobs: TestCoordinator["jobs"];

beforeAll(async () => {
  const storage = createMemoryStorage();
  for (let i = 0; i < 100; i++) storage.put(`uploads/default/many/${String(i).padStart(3, "0")}.jpg`, 1000);
  // maxItems 16, minCount 2: without workers, 100 items make 7 chunks.
  stack = await startTestStack({ storage, settings: { chunk: { maxItems: 16, maxBytes: 1024 ** 3, minCount: 2 } } });
  nc = stack.nc;
  jobs = stack.t.jobs;
});

afterAll(() => stack?.stop());

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
  await eventually(async () => stack.t.coordinator.membership.size === 2);
  const spread = (await jobs.submitJob({ sources: [prefix] })).job;
  // At least 4 per slot; more where the tail tapers to single items (chunking.test.ts).
  expect(spread?.chunkCount).toBeGreaterThanOrEqual(CHUNKS_PER_SLOT * 8);
  expect(spread?.chunkCount).toBeLessThan(100);

  await heartbeat("big-3", 64);
  await eventually(async () => stack.t.coordinator.membership.size === 3);
  const capped = (await jobs.submitJob({ sources: [prefix] })).job;
  expect(capped?.chunkCount).toBe(100);
});

import { parseTraceparent, TASKS_STREAM, TRACEPARENT, taskConsumer } from "@imgc/common";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestStack, type TestCoordinator, type TestStack } from "../testing/harness.js";
import { createMemoryStorage } from "../testing/memory-storage.js";

let stack: TestStack;
let nc: NatsConnection;
let jobs: TestCoordinator["jobs"];

beforeAll(async () => {
  const storage = createMemoryStorage();
  storage.put("uploads/default/u/a.jpg", 100);
  stack = await startTestStack({ storage });
  nc = stack.nc;
  jobs = stack.t.jobs;
});

afterAll(() => stack?.stop());

async function nextChunkHeader(): Promise<{ header: string | undefined; traceParent: string }> {
  const consumer = await nc.jetstream().consumers.get(TASKS_STREAM, taskConsumer("normal"));
  const message = await consumer.next({ expires: 2_000 });
  if (!message) throw new Error("no chunk");
  message.ack();
  const { traceParent } = JSON.parse(message.string()) as { traceParent?: string };
  return { header: message.headers?.get(TRACEPARENT), traceParent: traceParent ?? "" };
}

const source = { kind: { case: "uploadKey" as const, value: "uploads/default/u/a.jpg" } };

test("the caller's trace id goes on the job, its chunks and their NATS headers", async () => {
  const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const { job } = await jobs.submitJob({ sources: [source] }, { headers: { [TRACEPARENT]: incoming } });
  const stored = parseTraceparent(job?.traceParent);
  expect(stored?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  // The coordinator continues the trace as its own span.
  expect(stored?.spanId).not.toBe("00f067aa0ba902b7");
  const chunk = await nextChunkHeader();
  expect(chunk.header).toBe(job?.traceParent);
  expect(chunk.traceParent).toBe(job?.traceParent);
});

test("a call without a trace context starts a trace", async () => {
  const { job } = await jobs.submitJob({ sources: [source] });
  expect(parseTraceparent(job?.traceParent)).toBeDefined();
  expect((await nextChunkHeader()).header).toBe(job?.traceParent);
});

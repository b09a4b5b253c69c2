import { create } from "@bufbuild/protobuf";
import { ChunkSchema, type ItemResult, ItemResultSchema, ItemState, ReportItemsResponseSchema } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import type { CoordinatorClient } from "./coordinator-client.js";
import { createReportBatch } from "./report-batch.js";

type Batch = Parameters<CoordinatorClient["reportMany"]>[1];

/** A coordinator whose calls wait until the test releases them, recording what each carried. */
function slowCoordinator(answer: { cancelled?: boolean } = {}) {
  const sent: { started: string[]; results: string[]; complete: boolean }[] = [];
  const waiting: (() => void)[] = [];
  const coordinator = {
    async reportMany(_chunk: unknown, batch: Batch) {
      sent.push({ started: [...batch.started], results: batch.results.map((r) => r.itemId), complete: batch.complete });
      await new Promise<void>((resolve) => waiting.push(resolve));
      return create(ReportItemsResponseSchema, {
        accepted: batch.results.map(() => true),
        cancelled: !!answer.cancelled,
      });
    },
  } as unknown as CoordinatorClient;
  const releaseAll = () => {
    for (const resolve of waiting.splice(0)) resolve();
  };
  return { coordinator, sent, releaseAll };
}

const chunk = create(ChunkSchema, { jobId: "job", index: 0 });
const result = (itemId: string): ItemResult => create(ItemResultSchema, { itemId, state: ItemState.DONE });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("a chunk's report batch", () => {
  test("sends the first result at once, and what comes while it is in flight in one call after", async () => {
    const { coordinator, sent, releaseAll } = slowCoordinator();
    const batch = createReportBatch(coordinator, chunk);
    batch.started("000001");
    batch.add(result("000000"));
    await tick();
    expect(sent).toEqual([{ started: ["000001"], results: ["000000"], complete: false }]);
    for (const id of ["000001", "000002", "000003"]) batch.add(result(id));
    batch.started("000004");
    await tick();
    expect(sent).toHaveLength(1);
    releaseAll();
    await tick();
    expect(sent[1]).toEqual({ started: ["000004"], results: ["000001", "000002", "000003"], complete: false });
    const closing = batch.close();
    releaseAll();
    await tick();
    releaseAll();
    await closing;
    expect(sent.at(-1)).toEqual({ started: [], results: [], complete: true });
    expect(sent).toHaveLength(3);
  });

  test("says cancelled once an answer says so, calls onCancelled once then, and a failed send fails the close", async () => {
    const { coordinator, releaseAll } = slowCoordinator({ cancelled: true });
    let told = 0;
    const batch = createReportBatch(coordinator, chunk, undefined, () => told++);
    batch.add(result("000000"));
    expect(batch.cancelled).toBe(false);
    expect(told).toBe(0);
    releaseAll();
    await tick();
    expect(batch.cancelled).toBe(true);
    expect(told).toBe(1);
    batch.add(result("000001"));
    await tick();
    releaseAll();
    await tick();
    expect(told).toBe(1);

    const failing = {
      async reportMany() {
        throw new Error("coordinator unreachable");
      },
    } as unknown as CoordinatorClient;
    const broken = createReportBatch(failing, chunk);
    broken.add(result("000000"));
    await expect(broken.close()).rejects.toThrow("coordinator unreachable");
  });
});

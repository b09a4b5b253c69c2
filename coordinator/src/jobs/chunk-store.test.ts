import { create } from "@bufbuild/protobuf";
import { decodeMessage } from "@imgc/common";
import { ChunkDispatchSchema } from "@imgc/proto";
import type { KV } from "nats";
import { describe, expect, it } from "vitest";
import { createChunkStore } from "./chunk-store.js";

/** The part of a KV bucket the dispatch records use, in memory; `create` answers only when `land()` is called. */
function slowCreateKv() {
  const entries = new Map<string, { value: Uint8Array; revision: number }>();
  let revision = 0;
  const landing: (() => void)[] = [];
  const kv = {
    async get(key: string) {
      const entry = entries.get(key);
      return entry ? { ...entry, operation: "PUT" } : null;
    },
    create(key: string, value: Uint8Array) {
      return new Promise<number>((resolve) => {
        landing.push(() => {
          entries.set(key, { value, revision: ++revision });
          resolve(revision);
        });
      });
    },
    async update(key: string, value: Uint8Array, expected: number) {
      if (entries.get(key)?.revision !== expected) throw new Error("wrong last sequence");
      entries.set(key, { value, revision: ++revision });
      return revision;
    },
  };
  return {
    kv: kv as unknown as KV,
    land: () => {
      for (const go of landing.splice(0)) go();
    },
    record: (key: string) => {
      const entry = entries.get(key);
      return entry && decodeMessage(ChunkDispatchSchema, entry.value);
    },
  };
}

describe("dispatch records", () => {
  it("a claim made while the chunk's record is still being written lands on that record", async () => {
    const dispatch = slowCreateKv();
    const store = createChunkStore(slowCreateKv().kv, dispatch.kv);
    const created = store.createDispatch(create(ChunkDispatchSchema, { jobId: "j1", index: 0 }));
    // The worker pulled the chunk and claims it before the record's write was answered.
    const claimed = store.updateDispatch("j1", 0, (record) => {
      record.workerId = "w1";
    });
    await new Promise((resolve) => setImmediate(resolve));
    dispatch.land();
    expect(await created).toBe(true);
    expect((await claimed)?.value.workerId).toBe("w1");
    expect(dispatch.record("j1.0")?.workerId).toBe("w1");
  });
});

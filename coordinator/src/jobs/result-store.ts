/**
 * Item results in KV `imgc-results`, key `<job>.<item>`. Written with `create`: the first terminal result of an
 * item wins and every later one (a redelivered chunk, a retried report) changes nothing.
 */
import { decodeMessage } from "@imgc/common";
import { type ItemResult, ItemResultSchema } from "@imgc/proto";
import type { KV } from "nats";
import { resultKey } from "../ids.js";
import { createMessage, getMessage, snapshot } from "./kv.js";

export function createResultStore(kv: KV) {
  async function get(jobId: string, itemId: string): Promise<ItemResult | null> {
    return (await getMessage(kv, ItemResultSchema, resultKey(jobId, itemId)))?.value ?? null;
  }

  return {
    get,
    /** True when this is the item's first result. */
    async record(jobId: string, result: ItemResult): Promise<boolean> {
      return (await createMessage(kv, ItemResultSchema, resultKey(jobId, result.itemId), result)) !== null;
    },

    async many(jobId: string, itemIds: readonly string[]): Promise<Map<string, ItemResult>> {
      const found = await Promise.all(itemIds.map((id) => get(jobId, id)));
      const out = new Map<string, ItemResult>();
      for (const result of found) if (result) out.set(result.itemId, result);
      return out;
    },

    /** Every result of the job, in item order. */
    async all(jobId: string): Promise<ItemResult[]> {
      return (await this.stored(jobId)).map((entry) => entry.result);
    },

    /** Every result of the job with when it was stored, in item order. */
    async stored(jobId: string): Promise<{ result: ItemResult; storedAt: number }[]> {
      const entries = (await snapshot(kv, `${jobId}.>`)).map((entry) => ({
        result: decodeMessage(ItemResultSchema, entry.value),
        storedAt: entry.created.getTime(),
      }));
      return entries.sort((a, b) => Number(a.result.itemId) - Number(b.result.itemId));
    },
  };
}

export type ResultStore = ReturnType<typeof createResultStore>;

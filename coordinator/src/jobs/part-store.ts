/**
 * The result of one task of one item, for jobs that ask for several kinds of work: KV `imgc-parts`, key
 * `<job>.<item>.<kind>` (kind as TASK_KINDS names it). Written with `create`, like results: the first terminal
 * report of a task wins. When every task of an item has its part, the lifecycle merges them into the item's
 * result (merge.ts); a coordinator that died between the two finds the parts here and merges them on reopening.
 * Once the job has ended its parts are purged.
 */
import { decodeMessage, TASK_KINDS, taskKindOf } from "@imgc/common";
import { type ItemResult, ItemResultSchema, type TaskKind } from "@imgc/proto";
import type { KV } from "nats";
import { resultKey } from "../ids.js";
import { createMessage, getMessage, snapshot } from "./kv.js";

export const PARTS_BUCKET = "imgc-parts";
const PURGE_CONCURRENCY = 32;

export interface Part {
  kind: TaskKind;
  result: ItemResult;
}

const partKey = (jobId: string, itemId: string, kind: TaskKind) =>
  `${resultKey(jobId, itemId)}.${taskKindOf(kind).name}`;

export function createPartStore(kv: KV) {
  return {
    /** True when this is the task's first result for the item. */
    async record(jobId: string, kind: TaskKind, result: ItemResult): Promise<boolean> {
      return (await createMessage(kv, ItemResultSchema, partKey(jobId, result.itemId, kind), result)) !== null;
    },

    async get(jobId: string, itemId: string, kind: TaskKind): Promise<ItemResult | null> {
      return (await getMessage(kv, ItemResultSchema, partKey(jobId, itemId, kind)))?.value ?? null;
    },

    /** Removes every part of the job (it has ended: its results hold them merged); returns how many. */
    async purge(jobId: string): Promise<number> {
      const keys = (await snapshot(kv, `${jobId}.>`)).map((entry) => entry.key);
      for (let at = 0; at < keys.length; at += PURGE_CONCURRENCY) {
        await Promise.all(keys.slice(at, at + PURGE_CONCURRENCY).map((key) => kv.purge(key)));
      }
      return keys.length;
    },

    /** Every part of the job. */
    async all(jobId: string): Promise<Part[]> {
      return (await snapshot(kv, `${jobId}.>`)).flatMap((entry) => {
        const name = entry.key.slice(entry.key.lastIndexOf(".") + 1);
        const kind = TASK_KINDS.find((k) => k.name === name)?.kind;
        return kind === undefined ? [] : [{ kind, result: decodeMessage(ItemResultSchema, entry.value) }];
      });
    },
  };
}

export type PartStore = ReturnType<typeof createPartStore>;

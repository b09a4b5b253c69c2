/**
 * Idempotency keys in KV `imgc-idempotency`: sha256(tenant, key) → job id, written with `create`, so two
 * concurrent SubmitJobs with one key make one job, across restarts.
 */
import { createHash } from "node:crypto";
import type { KV } from "nats";
import { isRevisionConflict } from "./kv.js";

export interface Reservation {
  jobId: string;
  revision: number;
}

function keyOf(tenant: string, key: string): string {
  return createHash("sha256").update(tenant).update("\n").update(key).digest("hex");
}

export function createIdempotency(kv: KV) {
  async function lookup(tenant: string, key: string): Promise<Reservation | null> {
    const entry = await kv.get(keyOf(tenant, key));
    if (entry?.operation !== "PUT") return null;
    return { jobId: entry.string(), revision: entry.revision };
  }

  return {
    lookup,

    /** Reserves the key for `jobId`; returns the reservation that exists instead when there is one. */
    async reserve(tenant: string, key: string, jobId: string): Promise<Reservation | null> {
      try {
        await kv.create(keyOf(tenant, key), new TextEncoder().encode(jobId));
        return null;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
        return lookup(tenant, key);
      }
    },

    /** Frees the key when it still points at `jobId` (the job was deleted): the key may make a new job. */
    async release(tenant: string, key: string, jobId: string): Promise<void> {
      const held = await lookup(tenant, key);
      if (held?.jobId !== jobId) return;
      try {
        await kv.delete(keyOf(tenant, key), { previousSeq: held.revision });
      } catch (err) {
        // Taken over meanwhile by a job that was never written: that reservation is not this job's to free.
        if (!isRevisionConflict(err)) throw err;
      }
    },

    /** Points a reservation whose job was never written (its submitter died) at a new job. */
    async replace(tenant: string, key: string, stale: Reservation, jobId: string): Promise<boolean> {
      try {
        await kv.update(keyOf(tenant, key), new TextEncoder().encode(jobId), stale.revision);
        return true;
      } catch (err) {
        if (isRevisionConflict(err)) return false;
        throw err;
      }
    },
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;

/**
 * What the autoscaler reads is the whole backlog. A 1,000-chunk job with no worker to take it: the leader puts a
 * lane's depth of chunks on the stream and holds the rest back for fairness, and the value KEDA's ScaledObject
 * reads (deploy/k8s/60-keda.yaml: GET /backlog on a coordinator, field `chunks`) counts every one, on the leader
 * and on a follower alike. Like GetQueueStats, it answers only the callers the internal plane lets read the queue.
 */
import { JobState } from "@imgc/proto";
import { expect, test } from "vitest";
import { BACKLOG_FIELD, BACKLOG_PATH } from "../coordinator/src/scheduler/backlog.js";
import { useCluster } from "./harness/index.js";
import { uploadFixtures } from "./harness/uploads.js";

const CHUNKS = 1_000;
const cluster = useCluster({
  workers: 0,
  coordinators: 2,
  env: { IMGC_CHUNK_MAX_ITEMS: "1", IMGC_RATE_LIMIT_RPS: "0" },
});

/** GET /backlog as the autoscaler does: with an operator's token (KEDA's bearer TriggerAuthentication). */
async function backlogOf(base: string, path = BACKLOG_PATH): Promise<Record<string, unknown>> {
  const token = cluster().credentials.operatorToken;
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

test("the backlog answers only callers that may read the queue: none without a token, none for a worker's", async () => {
  const c = cluster();
  for (const base of c.addresses.coordinatorHttpSlots) {
    expect((await fetch(`${base}${BACKLOG_PATH}`)).status).toBe(401);
    const forged = await fetch(`${base}${BACKLOG_PATH}`, { headers: { authorization: "Bearer imgc1.e30.AAAA" } });
    expect(forged.status).toBe(401);
    const worker = c.credentials.mint({ role: "worker", sub: "worker-1" });
    const asWorker = await fetch(`${base}${BACKLOG_PATH}`, { headers: { authorization: `Bearer ${worker}` } });
    expect(asWorker.status).toBe(403);
    // What it refuses, it does not tell.
    expect(await asWorker.json()).toEqual({ status: "permission denied" });
  }
});

test("a 1,000-chunk backlog reads 1,000 on every coordinator, though the stream holds only a lane's depth", async () => {
  const c = cluster();
  const fixtures = Array.from({ length: CHUNKS }, (_, i) => ({ name: `b${i}.jpg`, body: Buffer.from([i & 0xff]) }));
  const { prefix } = await uploadFixtures(c.storage, fixtures, { concurrency: 16 });
  const { job } = await c.jobs.submitJob({ sources: [{ kind: { case: "s3Prefix", value: { prefix } } }] });
  expect(job?.chunkCount).toBe(CHUNKS);
  expect(job?.state).toBe(JobState.QUEUED);

  const leader = await c.leaderSlot();
  expect(leader).toBe(0);
  const [leaderBase, followerBase] = c.addresses.coordinatorHttpSlots as [string, string];
  const fromLeader = await backlogOf(leaderBase);
  expect(fromLeader[BACKLOG_FIELD]).toBe(CHUNKS);
  expect(fromLeader.lanes).toEqual({ high: 0, normal: CHUNKS, low: 0 });
  // Per kind of work, so compressing and detecting workers scale apart: this job only compresses.
  expect(fromLeader.kinds).toEqual({ compress: CHUNKS, detect: 0 });
  expect((await backlogOf(leaderBase, `${BACKLOG_PATH}/compress`))[BACKLOG_FIELD]).toBe(CHUNKS);
  expect(await backlogOf(leaderBase, `${BACKLOG_PATH}/detect`)).toEqual({
    [BACKLOG_FIELD]: 0,
    lanes: { high: 0, normal: 0, low: 0 },
  });
  // The stream itself shows only what the leader released: the lag alone would hide the backlog.
  const { lanes } = await c.cluster.getQueueStats({});
  expect(lanes.reduce((sum, lane) => sum + Number(lane.pending), 0)).toBe(CHUNKS);
  // A follower learns the held-back chunks from the leader's lease renewals (every third of a lease).
  await expect.poll(async () => (await backlogOf(followerBase))[BACKLOG_FIELD], { timeout: 10_000 }).toBe(CHUNKS);
});

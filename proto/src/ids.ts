/** The ids the cluster hands out and checks: jobs' (made by the coordinator) and workers' (chosen by each). */

/** 20 URL-safe characters: 7 of creation time, 13 random (coordinator/src/ids.ts makes them). */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{20}$/;

export const isJobId = (id: string): boolean => JOB_ID_PATTERN.test(id);

// A worker id names a KV key and a NATS subject token (imgc.control.<id>): no dots, spaces or wildcards.
const WORKER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** What a worker id may be, for messages. */
export const WORKER_ID_RULE = "1 to 64 characters of [A-Za-z0-9_-]";

export const isWorkerId = (id: string): boolean => WORKER_ID_PATTERN.test(id);

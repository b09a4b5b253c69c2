/**
 * Everything the page asks of the gateway: JobService over Connect, on the page's own origin, and the plain
 * HTTP routes beside it (the zip of a job's results, its CSV report, the cluster snapshot).
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { JobService, type LaneStats, LaneStatsSchema, type WorkerStatus, WorkerStatusSchema } from "@imgc/proto";
import { authHeaders, authInterceptor, reportUnauthenticated } from "./api-key.js";

export type JobClient = Client<typeof JobService>;

export interface ClusterSnapshot {
  workers: WorkerStatus[];
  lanes: LaneStats[];
  /** When the page received it (ms since the epoch). */
  at: number;
}

export type LoadCluster = (signal?: AbortSignal) => Promise<ClusterSnapshot>;

/** What the page needs from the outside world; the dev server swaps in a fake one (src/dev/fake-cluster.ts). */
export interface Api {
  jobs: JobClient;
  loadCluster: LoadCluster;
}

/** Cluster data cannot be had: the route is missing, or the gateway cannot reach the coordinator. */
export class ClusterUnavailableError extends Error {
  override name = "ClusterUnavailableError";
}

export function createApi(
  transport: Transport = createConnectTransport({ baseUrl: location.origin, interceptors: [authInterceptor] }),
): Api {
  return { jobs: createClient(JobService, transport), loadCluster: fetchCluster };
}

export function resultsZipUrl(jobId: string): string {
  return `/v1/jobs/${encodeURIComponent(jobId)}/results.zip`;
}

export function reportCsvUrl(jobId: string): string {
  return `/v1/jobs/${encodeURIComponent(jobId)}/report.csv`;
}

const parseOptions = { ignoreUnknownFields: true } as const;

/** Reads `{workers, lanes}` as protobuf JSON (WorkerStatus and LaneStats); anything else is "unavailable". */
export function parseClusterSnapshot(body: unknown, at = Date.now()): ClusterSnapshot {
  const value = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  if (!Array.isArray(value.workers) || !Array.isArray(value.lanes)) {
    throw new ClusterUnavailableError("The gateway's cluster data has an unexpected shape.");
  }
  try {
    return {
      workers: value.workers.map((w) => fromJson(WorkerStatusSchema, w as JsonValue, parseOptions)),
      lanes: value.lanes.map((l) => fromJson(LaneStatsSchema, l as JsonValue, parseOptions)),
      at,
    };
  } catch (err) {
    throw new ClusterUnavailableError(`The gateway's cluster data could not be read: ${(err as Error).message}`);
  }
}

async function fetchCluster(signal?: AbortSignal): Promise<ClusterSnapshot> {
  let res: Response;
  try {
    res = await fetch("/v1/cluster", {
      headers: { accept: "application/json", ...authHeaders() },
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ClusterUnavailableError("The gateway cannot be reached.");
  }
  if (res.status === 401) {
    reportUnauthenticated("401 for the cluster data");
    throw new ClusterUnavailableError("The gateway wants an API key for the cluster data.");
  }
  if (res.status === 404) throw new ClusterUnavailableError("This gateway does not serve cluster data (/v1/cluster).");
  if (!res.ok) throw new ClusterUnavailableError(`The gateway answered ${res.status} for the cluster data.`);
  if (!(res.headers.get("content-type") ?? "").includes("json")) {
    throw new ClusterUnavailableError("This gateway does not serve cluster data (/v1/cluster).");
  }
  return parseClusterSnapshot(await res.json());
}

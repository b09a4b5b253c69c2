/**
 * `GET /v1/cluster`: the operators' view for the web client, from the coordinator's ClusterService:
 * `{"workers":[WorkerStatus…],"lanes":[LaneStats…],"activeJobs":n}` as protobuf JSON (every field present),
 * with the 64-bit counters as plain numbers. It names workers' hosts, pids, versions and the jobs they run,
 * which are no tenant's business: it needs an operator key (IMGC_OPERATOR_KEYS); a tenant's key is 403.
 */
import { toJson } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Logger } from "@imgc/common";
import { type ClusterService, LaneStatsSchema, WorkerStatusSchema } from "@imgc/proto";
import type { FastifyPluginAsync } from "fastify";
import { type Authenticator, operatorAuth } from "../plugins/auth.js";
import { errorResponses } from "../plugins/openapi.js";
import { relayError } from "../services/job-service.js";

export interface ClusterRoutesDeps {
  cluster: Client<typeof ClusterService>;
  authorize: Authenticator["operator"];
  log: Logger;
}

const everyField = { alwaysEmitImplicit: true } as const;

/** protobuf JSON of a message of proto/imgc/v1, every field present (its fields are documented there). */
const protoJson = (message: string) => ({
  type: "object",
  additionalProperties: true,
  description: `imgc.v1.${message}`,
});

const CLUSTER_SCHEMA = {
  tags: ["operations"],
  summary: "Workers, queue lanes and active jobs (operator key only)",
  security: [{ apiKey: [] }],
  response: {
    200: {
      description: "the cluster as the coordinator sees it",
      type: "object",
      required: ["workers", "lanes", "activeJobs"],
      properties: {
        workers: { type: "array", items: protoJson("WorkerStatus") },
        lanes: { type: "array", items: protoJson("LaneStats") },
        activeJobs: { type: "integer" },
      },
    },
    ...errorResponses(401, 403, 429, 503),
  },
} as const;

/** GET /v1/cluster, in a scope of its own: operators only. */
export const clusterRoutes: FastifyPluginAsync<ClusterRoutesDeps> = async (scope, { cluster, authorize, log }) => {
  await scope.register(operatorAuth, { authorize });
  scope.get("/v1/cluster", { schema: CLUSTER_SCHEMA }, async (_request, reply) => {
    const [workers, queue] = await Promise.all([
      cluster.listWorkers({}, { timeoutMs: 5_000 }),
      cluster.getQueueStats({}, { timeoutMs: 5_000 }),
    ]).catch((err: unknown) => {
      throw relayError(err, log, "ClusterService");
    });
    reply.header("cache-control", "no-store");
    return {
      workers: workers.workers.map((worker) => ({
        ...(toJson(WorkerStatusSchema, worker, everyField) as object),
        itemsDone: Number(worker.itemsDone),
      })),
      lanes: queue.lanes.map((lane) => ({
        ...(toJson(LaneStatsSchema, lane, everyField) as object),
        pending: Number(lane.pending),
        ackPending: Number(lane.ackPending),
        redelivered: Number(lane.redelivered),
      })),
      activeJobs: queue.activeJobs,
    };
  });
};

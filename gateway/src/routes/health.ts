/** `/healthz`: the process is alive. `/readyz`: its dependencies answer (200), or which do not (503). */
import type { Logger } from "@imgc/common";
import { type ReadinessCheck as Check, checkReadiness } from "@imgc/common";
import type { FastifyPluginAsync, RawServerBase } from "fastify";

const READINESS = {
  type: "object",
  required: ["status", "checks"],
  properties: {
    status: { type: "string", enum: ["ready", "unready"] },
    checks: {
      type: "object",
      description: "each dependency (coordinator, nats, s3): ok, unreachable or timeout",
      additionalProperties: { type: "string", enum: ["ok", "unreachable", "timeout"] },
    },
  },
} as const;

const HEALTHZ_SCHEMA = {
  tags: ["health"],
  summary: "Liveness (no key)",
  response: {
    200: {
      description: "the process is alive",
      type: "object",
      required: ["status"],
      properties: { status: { type: "string", enum: ["ok"] } },
    },
  },
} as const;

const READYZ_SCHEMA = {
  tags: ["health"],
  summary: "Readiness of the coordinator, NATS and S3 (no key)",
  response: {
    200: { ...READINESS, description: "every dependency answers" },
    503: { ...READINESS, description: "a dependency does not answer: checks names it in one word" },
  },
} as const;

export interface HealthRoutesDeps {
  checks: Record<string, Check>;
  log: Logger;
  timeoutMs?: number;
}

/** On both ports, without auth or rate limit. */
export const healthRoutes: FastifyPluginAsync<HealthRoutesDeps, RawServerBase> = async (
  app,
  { checks, log, timeoutMs = 2_000 },
) => {
  app.get("/healthz", { schema: HEALTHZ_SCHEMA }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: READYZ_SCHEMA }, async (_request, reply) => {
    const { ready, checks: results } = await checkReadiness(checks, timeoutMs, log);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "unready", checks: results });
  });
};

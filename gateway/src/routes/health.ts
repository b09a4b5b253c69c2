/** `/healthz`: the process is alive. `/readyz`: its dependencies answer (200), or which do not (503). */
import type { Logger } from "@imgc/common";
import { type ReadinessCheck as Check, checkReadiness } from "@imgc/common";
import type { FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerBase } from "fastify";

export interface HealthRoutesDeps {
  checks: Record<string, Check>;
  log: Logger;
  timeoutMs?: number;
}

export function healthRoutes<S extends RawServerBase>(
  app: FastifyInstance<S, RawRequestDefaultExpression<S>, RawReplyDefaultExpression<S>>,
  { checks, log, timeoutMs = 2_000 }: HealthRoutesDeps,
): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const { ready, checks: results } = await checkReadiness(checks, timeoutMs, log);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "unready", checks: results });
  });
}

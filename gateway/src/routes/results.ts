/**
 * A job's results as files, on the HTTP/1.1 port, for browsers and curl:
 *
 *   GET /v1/jobs/:id/results.zip   every output, named after its source, and report.csv last (streamed)
 *   GET /v1/jobs/:id/report.csv    one row per item and a TOTAL row
 *   GET /v1/jobs/:id/report.json   {"job":…,"items":[…],"totals":…}
 *
 * Authenticated like the RPCs and scoped to the caller's tenant: another tenant's job is 404 `not_found`,
 * exactly like a job that does not exist. All three are built from the coordinator's GetResults pages, read
 * as the response is written, so they work while the job runs and their memory does not grow with the job.
 */
import { Readable } from "node:stream";
import { keys, type Logger, type Storage } from "@imgc/common";
import { isJobId } from "@imgc/proto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { type Authenticate, requireTenant } from "../plugins/auth.js";
import type { CallerSlots } from "../plugins/caller-slots.js";
import { HttpError } from "../plugins/errors.js";
import { reportCsv, reportJson } from "../services/report.js";
import type { OpenResults } from "../services/results.js";
import { resultsZip } from "../services/results-zip.js";

export interface ResultRoutesDeps {
  openResults: OpenResults;
  storage: Pick<Storage, "getStream">;
  authenticate: Authenticate;
  log: Logger;
  /** results.zip downloads per caller at once. */
  zips: CallerSlots;
}

/** Aborted when the client goes away before the response is complete: stops the coordinator calls. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function resultRoutes(
  app: FastifyInstance,
  { openResults, storage, authenticate, log, zips }: ResultRoutesDeps,
) {
  app.register(async (scope) => {
    requireTenant(scope, authenticate);

    async function open(id: string, tenant: string, reply: FastifyReply) {
      if (!isJobId(id)) throw new HttpError(404, "not_found", `job ${JSON.stringify(id)} not found`);
      return openResults(tenant, id, disconnectSignal(reply));
    }
    const attachment = (reply: FastifyReply, type: string, filename: string) =>
      reply
        .header("content-type", type)
        .header("content-disposition", `attachment; filename="${filename}"`)
        .header("cache-control", "no-store");

    scope.get<{ Params: { id: string } }>("/v1/jobs/:id/results.zip", async (request, reply) => {
      const release = zips.acquire(request.caller);
      if (release === undefined) {
        throw new HttpError(
          429,
          "resource_exhausted",
          "too many results.zip downloads running for this API key; wait for one to finish",
        );
      }
      reply.raw.on("close", release);
      try {
        const results = await open(request.params.id, request.tenant, reply);
        attachment(reply, "application/zip", `${request.params.id}.zip`);
        const outputPrefix = keys.outputPrefix(request.tenant, request.params.id);
        return reply.send(resultsZip(results, { storage, log, outputPrefix }));
      } catch (err) {
        release();
        throw err;
      }
    });

    scope.get<{ Params: { id: string } }>("/v1/jobs/:id/report.csv", async (request, reply) => {
      const { results } = await open(request.params.id, request.tenant, reply);
      attachment(reply, "text/csv; charset=utf-8", `${request.params.id}-report.csv`);
      return reply.send(Readable.from(reportCsv(results)));
    });

    scope.get<{ Params: { id: string } }>("/v1/jobs/:id/report.json", async (request, reply) => {
      const { job, results } = await open(request.params.id, request.tenant, reply);
      reply.header("content-type", "application/json; charset=utf-8").header("cache-control", "no-store");
      return reply.send(Readable.from(reportJson(job, results)));
    });
  });
}

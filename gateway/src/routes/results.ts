/**
 * A job's results as files, on the HTTP/1.1 port, for browsers and curl:
 *
 *   GET /v1/jobs/:id/results.zip   every output, named after its source, and report/report.csv last (streamed)
 *   GET /v1/jobs/:id/report.csv    one row per item and a TOTAL row
 *   GET /v1/jobs/:id/report.json   {"job":…,"items":[…],"totals":…}
 *
 * Authenticated like the RPCs and scoped to the caller's tenant: another tenant's job is 404 `not_found`,
 * exactly like a job that does not exist. All three are built from the coordinator's GetResults pages, read
 * as the response is written, so they work while the job runs and their memory does not grow with the job.
 */
import { Readable } from "node:stream";
import { keys, type Logger, type Storage } from "@imgc/common";
import { CSV_COLUMNS, downloadStem, REPORT_ENTRY } from "@imgc/proto";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { JOB_ID_PATTERN, jobNotFound } from "../interceptors/job-ids.js";
import type { CallerSlots } from "../limits/caller-slots.js";
import { type Authenticate, tenantAuth } from "../plugins/auth.js";
import { HttpError } from "../plugins/errors.js";
import { errorResponses } from "../plugins/openapi.js";
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

/** The three routes' schema: the job id's shape is checked here, and a refused one is 404 like any unknown job. */
function schemaOf(summary: string, type: string, description: string, named = false) {
  return {
    tags: ["results"],
    summary,
    description,
    security: [{ apiKey: [] }],
    params: {
      type: "object",
      required: ["id"],
      properties: { id: { type: "string", pattern: JOB_ID_PATTERN, description: "the job's id" } },
    },
    ...(named
      ? {
          querystring: {
            type: "object",
            properties: {
              name: {
                type: "string",
                maxLength: 200,
                description: "the name to save the file under, instead of the job's label (made safe the same way)",
              },
            },
          },
        }
      : {}),
    response: {
      200: { description: type, content: { [type]: { schema: { type: "string", format: "binary" } } } },
      ...errorResponses(401, 404, 429, 503),
    },
  } as const;
}
const ZIP_SCHEMA = schemaOf(
  `Every output of the job, and ${REPORT_ENTRY}, as one streamed zip`,
  "application/zip",
  `Outputs are named <source base name>.<output ext> at the top; failed and unfinished items are left out; ${REPORT_ENTRY} is last. Saved as <name or job label>.zip (in safe characters; the job id when neither leaves any).`,
  true,
);
const CSV_SCHEMA = schemaOf(
  "The job's report as CSV",
  "text/csv",
  `One row per item (${CSV_COLUMNS.join(", ")}), then a TOTAL row. Saved as <name or job label>-report.csv.`,
  true,
);
const JSON_SCHEMA = schemaOf(
  "The job's report as JSON",
  "application/json",
  '{"job":{id,state,label,createdAt,finishedAt},"items":[…],"totals":{items,done,keptOriginal,failed,pending,inputBytes,outputBytes,bytesSaved,savingPercent}}',
);
type Named = { Params: { id: string }; Querystring: { name?: string } };

/** The stem a download is saved under: the name asked for (a label the person gave in a client), else the job's. */
const stemOf = (request: FastifyRequest<Named>, label: string | undefined) =>
  downloadStem(request.query.name || label || "", request.params.id);

/** A malformed id is reported by the handler (404), not by Fastify's 400: it names no job, like an unknown one. */
const byHandler = { attachValidation: true } as const;

/** Aborted when the client goes away before the response is complete: stops the coordinator calls. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** The results routes, in a scope of their own: every one needs a tenant's key. */
export const resultRoutes: FastifyPluginAsync<ResultRoutesDeps> = async (
  scope,
  { openResults, storage, authenticate, log, zips },
) => {
  await scope.register(tenantAuth, { authenticate });

  async function open(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) {
    if (request.validationError) throw jobNotFound(request.params.id);
    return openResults(request.tenant, request.params.id, disconnectSignal(reply));
  }
  const attachment = (reply: FastifyReply, type: string, filename: string) =>
    reply
      .header("content-type", type)
      .header("content-disposition", `attachment; filename="${filename}"`)
      .header("cache-control", "no-store");

  scope.get<Named>("/v1/jobs/:id/results.zip", { schema: ZIP_SCHEMA, ...byHandler }, async (request, reply) => {
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
      const results = await open(request, reply);
      attachment(reply, "application/zip", `${stemOf(request, results.job?.label)}.zip`);
      const outputPrefix = keys.outputPrefix(request.tenant, request.params.id);
      return reply.send(resultsZip(results, { storage, log, outputPrefix }));
    } catch (err) {
      release();
      throw err;
    }
  });

  scope.get<Named>("/v1/jobs/:id/report.csv", { schema: CSV_SCHEMA, ...byHandler }, async (request, reply) => {
    const { job, results } = await open(request, reply);
    attachment(reply, "text/csv; charset=utf-8", `${stemOf(request, job?.label)}-report.csv`);
    return reply.send(Readable.from(reportCsv(results)));
  });

  scope.get<{ Params: { id: string } }>(
    "/v1/jobs/:id/report.json",
    { schema: JSON_SCHEMA, ...byHandler },
    async (request, reply) => {
      const { job, results } = await open(request, reply);
      reply.header("content-type", "application/json; charset=utf-8").header("cache-control", "no-store");
      return reply.send(Readable.from(reportJson(job, results)));
    },
  );
};

import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createLogger } from "@imgc/common";
import { JobService } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { rejection } from "../testing/rejection.js";
import { concealUnexpectedErrors, HttpError, toHttpError } from "./errors.js";

const log = createLogger("gateway-test", "silent");

describe("RPC errors", () => {
  const client = createClient(
    JobService,
    createRouterTransport(
      ({ service }) =>
        service(JobService, {
          getJob() {
            throw new TypeError("Cannot read properties of undefined (reading 'x') at /srv/imgc/job.ts:12");
          },
          cancelJob() {
            throw new ConnectError("job is gone", Code.NotFound);
          },
          async *watchJob() {
            yield { event: { sequence: 1n } };
            throw new RangeError("ECONNRESET 10.0.0.5:4222");
          },
        }),
      { router: { interceptors: [concealUnexpectedErrors(log)] } },
    ),
  );

  test("an unexpected error becomes Internal without its message", async () => {
    const err = await rejection(client.getJob({ jobId: "x" }));
    expect([err.code, err.rawMessage]).toEqual([Code.Internal, "internal error"]);
  });

  test("a ConnectError passes unchanged", async () => {
    const err = await rejection(client.cancelJob({ jobId: "x" }));
    expect([err.code, err.rawMessage]).toEqual([Code.NotFound, "job is gone"]);
  });

  test("so does a failure in the middle of a stream, after the events before it", async () => {
    const seen: bigint[] = [];
    const err = await rejection(
      (async () => {
        for await (const { event } of client.watchJob({ jobId: "x" })) seen.push(event?.sequence ?? 0n);
      })(),
    );
    expect(seen).toEqual([1n]);
    expect([err.code, err.rawMessage]).toEqual([Code.Internal, "internal error"]);
  });
});

describe("HTTP errors", () => {
  test("statuses and stable codes; 5xx bodies say nothing of the cause", () => {
    expect(toHttpError(new HttpError(411, "length_required", "send a length"))).toEqual({
      status: 411,
      body: { code: "length_required", message: "send a length" },
    });
    expect(toHttpError(new ConnectError("too big", Code.ResourceExhausted))).toEqual({
      status: 413,
      body: { code: "resource_exhausted", message: "too big" },
    });
    expect(toHttpError(new ConnectError("no key", Code.Unauthenticated)).status).toBe(401);
    expect(toHttpError(new ConnectError("s3 at 10.0.0.9 exploded", Code.Internal))).toEqual({
      status: 500,
      body: { code: "internal", message: "internal error" },
    });
    expect(toHttpError(new Error("ENOENT /etc/secret"))).toEqual({
      status: 500,
      body: { code: "internal", message: "internal error" },
    });
    expect(
      toHttpError(
        Object.assign(new Error("Unsupported Media Type"), { statusCode: 415, code: "FST_ERR_CTP_INVALID_MEDIA_TYPE" }),
      ),
    ).toEqual({
      status: 415,
      body: { code: "unsupported_media_type", message: "Unsupported Media Type" },
    });
  });

  test("Fastify's own refusals answer with the documented codes, never FST_ERR_…", () => {
    const fastifyError = (statusCode: number, code: string) =>
      toHttpError(Object.assign(new Error("refused"), { statusCode, code })).body.code;
    expect(fastifyError(400, "FST_ERR_VALIDATION")).toBe("invalid_argument");
    expect(fastifyError(414, "FST_ERR_MAX_PARAM_LENGTH")).toBe("resource_exhausted");
    expect(fastifyError(413, "FST_ERR_CTP_BODY_TOO_LARGE")).toBe("resource_exhausted");
    expect(fastifyError(418, "FST_ERR_WHATEVER")).toBe("invalid_argument");
  });
});

/**
 * Errors of the plain HTTP routes, as JSON bodies shaped like Connect's: `{"code":"unauthenticated","message":…}`.
 *
 * Codes are stable strings clients may switch on (over the rate limit: 429 `rate_limited` with Retry-After). A 5xx never carries the underlying message (it may name
 * hosts, paths or keys); the error is logged instead.
 */
import { maxHeaderSize, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { type Logger, quoted } from "@imgc/common";
import type { FastifyPluginAsync, FastifySchemaValidationError, RawServerBase } from "fastify";
import fp from "fastify-plugin";
import { RateLimitError } from "../limits/rate-limit.js";

/** An HTTP-only failure with its status and stable code. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  code: string;
  message: string;
}

export function toHttpError(err: unknown): { status: number; body: ErrorBody; retryAfter?: number } {
  if (RateLimitError.is(err)) {
    return { status: 429, body: { code: "rate_limited", message: err.rawMessage }, retryAfter: err.retryAfterSeconds };
  }
  if (err instanceof HttpError) return { status: err.status, body: { code: err.code, message: err.message } };
  if (err instanceof ConnectError) {
    // On this gateway ResourceExhausted only ever means "larger than the upload limit".
    const status = err.code === Code.ResourceExhausted ? 413 : codeToHttpStatus(err.code);
    const message = status >= 500 && err.code !== Code.Unavailable ? "internal error" : err.rawMessage;
    return { status, body: { code: codeToString(err.code), message } };
  }
  // Fastify's own errors (a request its route schema refuses, a bad content type, a malformed URL) carry a
  // 4xx status and a safe message, but codes of their own (FST_ERR_…): they answer with the documented codes.
  const { statusCode, message } = err as { statusCode?: number; message?: string };
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return {
      status: statusCode,
      body: { code: CODE_OF_STATUS[statusCode] ?? "invalid_argument", message: message ?? "bad request" },
    };
  }
  return { status: 500, body: { code: "internal", message: "internal error" } };
}

/**
 * Fastify's `schemaErrorFormatter`: a request its route schema refuses, in the words of every other refusal
 * ("Expected at most 255 characters for name but received 2004"), the value quoted only as a short prefix.
 * The formatter runs with Ajv's `verbose` errors, which carry the refused value.
 */
export function schemaError(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  if (first === undefined) return new Error(`${dataVar}: invalid`);
  const field = first.instancePath.replace(/^\//, "").replaceAll("/", ".") || dataVar;
  const { keyword, params } = first;
  const data = (first as { data?: unknown }).data;
  const length = typeof data === "string" ? data.length : undefined;
  if (keyword === "maxLength" || keyword === "minLength") {
    const bound = keyword === "maxLength" ? "at most" : "at least";
    return new Error(`Expected ${bound} ${String(params.limit)} characters for ${field} but received ${length}`);
  }
  if (keyword === "pattern" && typeof data === "string") {
    return new Error(`Expected ${field} matching ${String(params.pattern)} but received ${quoted(data)}`);
  }
  return new Error(`${field} ${first.message ?? "is invalid"}`);
}

/**
 * Fastify's `clientErrorHandler`: a request Node's parser refuses before any route sees it (a URL and headers
 * over `http.maxHeaderSize`, a malformed request line, a request that did not arrive in time), answered in
 * the documented shape, and the socket closed (it is no longer in a state to carry another request).
 */
export function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, body]: [number, ErrorBody] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, { code: "resource_exhausted", message: `the URL and headers are larger than ${maxHeaderSize} bytes` }]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, { code: "deadline_exceeded", message: "the request did not arrive in time" }]
        : [400, { code: "invalid_argument", message: "malformed HTTP request" }];
  if (socket.writable) {
    const json = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    );
  }
  socket.destroy();
}

/** The stable code of a refusal that arrives only as an HTTP status: Connect's names, plus HTTP's own two. */
const CODE_OF_STATUS: Record<number, string> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  405: "unimplemented",
  408: "deadline_exceeded",
  411: "length_required",
  413: "resource_exhausted",
  414: "resource_exhausted",
  415: "unsupported_media_type",
  429: "resource_exhausted",
  431: "resource_exhausted",
};

export interface ErrorRepliesOptions {
  log: Logger;
}

const errorRepliesPlugin: FastifyPluginAsync<ErrorRepliesOptions, RawServerBase> = async (app, { log }) => {
  app.setErrorHandler((err, request, reply) => {
    const { status, body, retryAfter } = toHttpError(err);
    if (status >= 500) log.error({ err, method: request.method, url: request.url }, "request failed");
    if (retryAfter !== undefined) reply.header("retry-after", String(retryAfter));
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: "not_found",
      message: `no route for ${request.method} ${quoted(request.url.split("?")[0] ?? "")}`,
    }),
  );
};

/**
 * Every refusal of the instance's routes in the JSON shape above, and an unknown route as 404 `not_found`
 * (fp: the handlers are the root's, so routes registered after it inherit them).
 */
export const errorReplies = fp(errorRepliesPlugin, { name: "imgc-error-replies" });

/**
 * The RPC side of the same rule: a ConnectError passes as it is; anything else is a bug whose message may
 * name internals, so the caller gets Internal "internal error" and the log gets the rest. Applies to
 * streamed responses too, where the failure surfaces while the stream is read.
 */
export function concealUnexpectedErrors(log: Logger): Interceptor {
  const conceal = (err: unknown, procedure: string): ConnectError => {
    if (err instanceof ConnectError) return err;
    log.error({ err, procedure }, "rpc failed unexpectedly");
    return new ConnectError("internal error", Code.Internal);
  };
  return (next) => async (request) => {
    const procedure = `${request.service.typeName}/${request.method.name}`;
    try {
      const response = await next(request);
      if (!response.stream) return response;
      const messages = response.message;
      async function* guarded() {
        try {
          yield* messages;
        } catch (err) {
          throw conceal(err, procedure);
        }
      }
      return { ...response, message: guarded() };
    } catch (err) {
      throw conceal(err, procedure);
    }
  };
}

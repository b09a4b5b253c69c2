/**
 * CORS for browsers calling the gateway from another origin (the vite dev server, a separate web host).
 *
 * The allowed headers are Connect's lists (protocol headers for Connect and gRPC-Web, grpc-status and
 * friends exposed) plus Authorization for the API key. Same-origin calls need no CORS; they are simply
 * answered like any allowed origin.
 */
import { cors as connectCors } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";

export interface CorsOptions {
  /** Allowed origins, e.g. "http://localhost:5173"; "*" allows any. */
  origins: readonly string[];
}

const allowMethods = [...connectCors.allowedMethods, "PUT"].join(", ");
const allowHeaders = [...connectCors.allowedHeaders, "Authorization"].join(", ");
const exposeHeaders = connectCors.exposedHeaders.join(", ");

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function cors(app: FastifyInstance, { origins }: CorsOptions): void {
  const anyOrigin = origins.includes("*");
  const allowed = (origin: string, host: string | undefined) =>
    anyOrigin || origins.includes(origin) || sameOrigin(origin, host);

  // In a hook rather than a route: Connect registers every method (OPTIONS included) on its paths.
  app.addHook("onRequest", async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    reply.header("vary", "Origin");
    const ok = allowed(origin, request.headers.host);
    if (ok) reply.header("access-control-allow-origin", origin);
    if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
      // A preflight: allowed origins get the method and header lists; others none, and the browser refuses.
      if (ok) {
        reply.header("access-control-allow-methods", allowMethods);
        reply.header("access-control-allow-headers", allowHeaders);
        reply.header("access-control-max-age", "7200");
      }
      return reply.code(204).send();
    }
    if (ok) reply.header("access-control-expose-headers", exposeHeaders);
  });
  // So that a preflight to a path with no route of its own still reaches the hook.
  app.options("*", async (_request, reply) => reply.code(204).send());
}

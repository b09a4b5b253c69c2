/**
 * CORS for browsers calling the gateway from another origin (the vite dev server, a separate web host), as
 * options for @fastify/cors.
 *
 * The lists are Connect's (protocol headers for Connect and gRPC-Web, grpc-status and friends exposed) plus
 * what the HTTP routes need: PUT for uploads, Authorization for the API key. Same-origin calls need no CORS;
 * they are simply answered like any allowed origin, which needs the request's Host, hence a delegator rather
 * than a fixed origin list.
 */

import { cors as connectCors } from "@connectrpc/connect";
import type { FastifyCorsOptions } from "@fastify/cors";
import type { FastifyRequest } from "fastify";

export interface CorsOptions {
  /** Allowed origins, e.g. "http://localhost:5173"; "*" allows any. */
  origins: readonly string[];
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Options for `app.register(fastifyCors, corsOptions(…))`. */
export function corsOptions({ origins }: CorsOptions): FastifyCorsOptions {
  const anyOrigin = origins.includes("*");
  const allowed = (request: FastifyRequest) => {
    const origin = request.headers.origin;
    return origin !== undefined && (anyOrigin || origins.includes(origin) || sameOrigin(origin, request.headers.host));
  };
  const lists = {
    methods: [...connectCors.allowedMethods, "PUT"],
    allowedHeaders: [...connectCors.allowedHeaders, "Authorization"],
    exposedHeaders: [...connectCors.exposedHeaders],
    maxAge: 7200,
    // An OPTIONS without Access-Control-Request-Method would otherwise be a text/plain 400, against the
    // rule that every refusal is JSON; it is answered like a preflight instead.
    strictPreflight: false,
  };
  return {
    // `origin: true` reflects the caller's origin (also under "*", as before: never a literal "*"); `false`
    // leaves the request alone, so a refused origin's preflight gets no CORS header and the browser refuses.
    delegator: (request, callback) => callback(null, { ...lists, origin: allowed(request) }),
  };
}

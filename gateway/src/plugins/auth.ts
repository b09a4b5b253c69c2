/**
 * Who is calling: `Authorization: Bearer <key>` against IMGC_API_KEYS (key → tenant).
 *
 * RPCs are checked by Connect's request gate, before any request message is read; plain HTTP routes by an
 * onRequest hook, before the body is read. With no keys configured the gateway runs in dev mode and every
 * caller is tenant "default". A rate limiter, when given, then takes a token for the caller (its key, or its
 * tenant in dev mode), so both ports and every route share one budget per caller.
 */
import { createHash } from "node:crypto";
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { isReflectionService } from "@imgc/common";
import type { FastifyInstance } from "fastify";
import type { Admit } from "./rate-limit.js";

export const DEV_TENANT = "default";

/** The caller's tenant, set by the request gate for the service implementation to read. */
export const tenantKey = createContextKey<string>(DEV_TENANT, { description: "the authenticated tenant" });

/** Returns the caller's tenant or throws ConnectError: Unauthenticated, or ResourceExhausted over the rate limit. */
export type Authenticate = (authorization: string | undefined) => string;

// Keys are looked up by their digest so that lookups never compare secrets character by character.
const digest = (key: string) => createHash("sha256").update(key).digest("base64");

export function createAuthenticator(apiKeys: ReadonlyMap<string, string>, admit: Admit = () => {}): Authenticate {
  if (apiKeys.size === 0) {
    return () => {
      admit(`tenant:${DEV_TENANT}`);
      return DEV_TENANT;
    };
  }
  const tenants = new Map([...apiKeys].map(([key, tenant]) => [digest(key), tenant]));
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match?.[1]) {
      throw new ConnectError("missing API key: send the header Authorization: Bearer <key>", Code.Unauthenticated);
    }
    const keyDigest = digest(match[1]);
    const tenant = tenants.get(keyDigest);
    if (tenant === undefined) throw new ConnectError("unknown API key", Code.Unauthenticated);
    admit(`key:${keyDigest}`);
    return tenant;
  };
}

/**
 * Connect's request gate: runs before any request message is received. Server reflection is let through
 * unauthenticated (it describes the public API, nothing more), so `buf curl` works without --schema.
 */
export function authGate(authenticate: Authenticate) {
  return (context: HandlerContext) => {
    if (isReflectionService(context.service.typeName)) return;
    context.values.set(tenantKey, authenticate(context.requestHeader.get("authorization") ?? undefined));
  };
}

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated tenant (routes of an instance passed to `requireTenant` only). */
    tenant: string;
  }
}

/** Authenticates every route of `app` (and of its children) before the body is read; 401 on failure. */
export function requireTenant(app: FastifyInstance, authenticate: Authenticate): void {
  app.decorateRequest("tenant", DEV_TENANT);
  app.addHook("onRequest", async (request) => {
    request.tenant = authenticate(request.headers.authorization);
  });
}

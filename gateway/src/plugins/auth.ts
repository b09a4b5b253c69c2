/**
 * Who is calling: `Authorization: Bearer <key>` against IMGC_API_KEYS (key → tenant) and IMGC_OPERATOR_KEYS.
 *
 * RPCs are checked by Connect's request gate, before any request message is read; plain HTTP routes by an
 * onRequest hook, before the body is read. Only in explicit dev mode (IMGC_DEV_MODE=1 with no keys) is every
 * caller tenant "default" and an operator. A rate limiter, when given, then takes a token for the caller (its
 * key, or its tenant in dev mode), so both ports and every route share one budget per caller.
 *
 * Unknown keys are refused through a bucket of their own, shared by every failed attempt: guessing keys is
 * throttled without ever letting a stranger's failures spend a real key's budget. Each refusal is logged with
 * the first characters of the key's digest, never the key.
 */
import { createHash } from "node:crypto";
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { isReflectionService, type Logger } from "@imgc/common";
import { DEFAULT_TENANT as DEV_TENANT } from "@imgc/proto";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { type Admit, createRateLimiter } from "../limits/rate-limit.js";

/** An authenticated caller: its tenant, and an id (its key's digest) that per-caller limits count by. */
export interface Caller {
  tenant: string;
  id: string;
}

/** The caller's tenant, set by the request gate for the service implementation to read. */
export const tenantKey = createContextKey<string>(DEV_TENANT, { description: "the authenticated tenant" });
/** The caller's id, for the per-caller caps on long-lived calls. */
export const callerKey = createContextKey<string>(`tenant:${DEV_TENANT}`, { description: "the authenticated caller" });

/** Returns the caller or throws ConnectError: Unauthenticated, or ResourceExhausted over the rate limit. */
export type Authenticate = (authorization: string | undefined) => Caller;

export interface Authenticator {
  /** A tenant key (or anyone, in dev mode). */
  tenant: Authenticate;
  /** An operator key (or anyone, in dev mode); a tenant key is PermissionDenied. */
  operator: (authorization: string | undefined) => void;
}

export interface AuthOptions {
  /** Tenant keys: key → tenant. Empty only in dev mode. */
  apiKeys: ReadonlyMap<string, string>;
  /** Keys of operators: the cluster view and /metrics. */
  operatorKeys?: readonly string[];
  /** Takes a token for an authenticated caller. */
  admit?: Admit;
  /** Throttles failed attempts (all of them together); 10 a second in bursts of 20 by default. */
  admitFailure?: Admit;
  log?: Pick<Logger, "warn">;
}

// Keys are looked up by their digest so that lookups never compare secrets character by character.
const digest = (key: string) => createHash("sha256").update(key).digest("base64");

const MISSING = "missing API key: send the header Authorization: Bearer <key>";

export function createAuthenticator(options: AuthOptions): Authenticator {
  const admit = options.admit ?? (() => {});
  if (options.apiKeys.size === 0) {
    return {
      tenant: () => {
        admit(`tenant:${DEV_TENANT}`);
        return { tenant: DEV_TENANT, id: `tenant:${DEV_TENANT}` };
      },
      operator: () => admit(`tenant:${DEV_TENANT}`),
    };
  }
  const admitFailure = options.admitFailure ?? createRateLimiter({ perSecond: 10, burst: 20 });
  const tenants = new Map([...options.apiKeys].map(([key, tenant]) => [digest(key), tenant]));
  const operators = new Set((options.operatorKeys ?? []).map(digest));

  /** The key's digest, or throws Unauthenticated (after the failure bucket had its say). */
  function keyOf(authorization: string | undefined, known: (keyDigest: string) => boolean): string {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    const keyDigest = match?.[1] ? digest(match[1]) : undefined;
    if (keyDigest !== undefined && known(keyDigest)) return keyDigest;
    admitFailure("unauthenticated");
    if (keyDigest === undefined) throw new ConnectError(MISSING, Code.Unauthenticated);
    options.log?.warn({ key: keyDigest.slice(0, 8) }, "unknown API key refused");
    throw new ConnectError("unknown API key", Code.Unauthenticated);
  }

  return {
    tenant(authorization) {
      const keyDigest = keyOf(authorization, (d) => tenants.has(d) || operators.has(d));
      const tenant = tenants.get(keyDigest);
      admit(`key:${keyDigest}`);
      if (tenant === undefined) {
        throw new ConnectError("an operator key acts for no tenant: use a tenant's API key", Code.PermissionDenied);
      }
      return { tenant, id: `key:${keyDigest}` };
    },
    operator(authorization) {
      const keyDigest = keyOf(authorization, (d) => tenants.has(d) || operators.has(d));
      admit(`key:${keyDigest}`);
      if (!operators.has(keyDigest)) {
        throw new ConnectError("this needs an operator key (IMGC_OPERATOR_KEYS)", Code.PermissionDenied);
      }
    },
  };
}

/**
 * Connect's request gate: runs before any request message is received. Server reflection is let through
 * unauthenticated (it describes the public API, nothing more), so `buf curl` works without --schema.
 */
export function authGate(authenticate: Authenticate) {
  return (context: HandlerContext) => {
    if (isReflectionService(context.service.typeName)) return;
    const caller = authenticate(context.requestHeader.get("authorization") ?? undefined);
    context.values.set(tenantKey, caller.tenant);
    context.values.set(callerKey, caller.id);
  };
}

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated tenant (routes of a scope `tenantAuth` is registered in only). */
    tenant: string;
    /** The authenticated caller's id (routes of a scope `tenantAuth` is registered in only). */
    caller: string;
  }
}

const tenantAuthPlugin: FastifyPluginAsync<{ authenticate: Authenticate }> = async (app, { authenticate }) => {
  app.decorateRequest("tenant", DEV_TENANT);
  app.decorateRequest("caller", "");
  app.addHook("onRequest", async (request) => {
    const caller = authenticate(request.headers.authorization);
    request.tenant = caller.tenant;
    request.caller = caller.id;
  });
};

/**
 * Authenticates every route of the scope it is registered in before the body is read; 401 on failure.
 * fp: the hook and the decorators belong to that scope (a route plugin), not to a child of it.
 */
export const tenantAuth = fp(tenantAuthPlugin, { name: "imgc-tenant-auth" });

const operatorAuthPlugin: FastifyPluginAsync<{ authorize: Authenticator["operator"] }> = async (app, { authorize }) => {
  app.addHook("onRequest", async (request) => {
    authorize(request.headers.authorization);
  });
};

/** Lets only operators (anyone, in dev mode) reach the routes of its scope: 401 without a key, 403 with a tenant's. */
export const operatorAuth = fp(operatorAuthPlugin, { name: "imgc-operator-auth" });

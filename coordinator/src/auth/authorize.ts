/**
 * Wraps a Connect ServiceImpl so that every call is authenticated and authorized before its handler runs:
 * `authorization: Bearer <token>` is verified (Unauthenticated when missing or invalid), the role policy
 * (policy.ts) decides the method, the worker id and the tenant (PermissionDenied), and the verified identity is
 * left in the call's context values for the handlers (identity.ts).
 *
 * Without a verifier (IMGC_INSECURE_INTERNAL=1 and no key) every caller is trusted as before: the tenant is
 * `x-imgc-tenant` or `default`. That is a development cluster's setting, never a default.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { AUTHORIZATION, bearerOf, type Logger, TokenError, type TokenVerifier } from "@imgc/common";
import { DEFAULT_TENANT, TENANT_HEADER } from "@imgc/proto";
import { checkTenant } from "../tenant.js";
import { type Identity, setIdentity } from "./identity.js";
import { decide } from "./policy.js";

export interface AuthorizeOptions {
  /** undefined: insecure (development) mode. */
  verifier: TokenVerifier | undefined;
  log?: Logger;
}

type Handler = (request: unknown, context: HandlerContext) => unknown;

export function authorize<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: AuthorizeOptions,
): ServiceImpl<S> {
  const check = (method: string, request: unknown, context: HandlerContext): void => {
    const tenantHeader = context.requestHeader.get(TENANT_HEADER) ?? undefined;
    const authorization = context.requestHeader.get(AUTHORIZATION) ?? undefined;
    setIdentity(context, verifyCaller(options, service, method, request, tenantHeader, authorization));
  };
  const out: Record<string, unknown> = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, Handler | undefined>)[method.localName];
    if (!fn) continue;
    const name = method.localName;
    if (method.methodKind === "server_streaming") {
      out[name] = async function* (request: unknown, context: HandlerContext) {
        check(name, request, context);
        yield* fn.call(impl, request, context) as AsyncIterable<unknown>;
      };
    } else {
      out[name] = async (request: unknown, context: HandlerContext) => {
        check(name, method.methodKind === "unary" ? request : undefined, context);
        return fn.call(impl, request, context);
      };
    }
  }
  return out as ServiceImpl<S>;
}

/**
 * Who calls, by its `authorization` header, and whether the policy lets it call `method` of `service`:
 * Unauthenticated without a valid token, PermissionDenied for the wrong role, worker id or tenant.
 */
function verifyCaller(
  options: AuthorizeOptions,
  service: DescService,
  method: string,
  request: unknown,
  tenantHeader: string | undefined,
  authorization: string | undefined,
): Identity {
  if (options.verifier === undefined) {
    return { role: "insecure", sub: "insecure", tenant: checkTenant(tenantHeader?.trim() || DEFAULT_TENANT) };
  }
  const token = bearerOf(authorization);
  if (token === undefined) throw refuse(options, method, "no internal token");
  let claims: ReturnType<TokenVerifier["verify"]>;
  try {
    claims = options.verifier.verify(token);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    throw refuse(options, method, err.message);
  }
  try {
    return decide(claims, { service: service.typeName, method, request, tenantHeader });
  } catch (err) {
    options.log?.warn({ method, role: claims.role, sub: claims.sub, err: (err as Error).message }, "call refused");
    throw err;
  }
}

/**
 * For an HTTP endpoint that serves what an RPC answers (GET /backlog is GetQueueStats' figure): the same callers,
 * by the same token in the same header; throws the RPC's Unauthenticated or PermissionDenied.
 */
export function authorizeLike<S extends DescService>(
  service: S,
  method: keyof ServiceImpl<S> & string,
  options: AuthorizeOptions,
) {
  return (authorization: string | undefined): void => {
    verifyCaller(options, service, method, undefined, undefined, authorization);
  };
}

function refuse(options: AuthorizeOptions, method: string, message: string): ConnectError {
  options.log?.warn({ method, reason: message }, "call refused");
  return new ConnectError(message, Code.Unauthenticated);
}

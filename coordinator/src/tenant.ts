import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { isTenant, TENANT_HEADER, TENANT_RULE } from "@imgc/proto";
import { identityOf } from "./auth/identity.js";

/** A tenant as named by a header or a token, or InvalidArgument. */
export function checkTenant(tenant: string): string {
  if (!isTenant(tenant)) throw new ConnectError(`${TENANT_HEADER} must be ${TENANT_RULE}`, Code.InvalidArgument);
  return tenant;
}

/**
 * The tenant the verified caller acts for (auth/policy.ts decides it from the caller's credential; only a
 * gateway, a service among its own tenants, or an operator reading may name one in `x-imgc-tenant`).
 */
export function tenantOf(context: HandlerContext): string {
  const { tenant } = identityOf(context);
  if (tenant === undefined) throw new ConnectError("this credential acts for no tenant", Code.PermissionDenied);
  return tenant;
}

/**
 * The authenticated internal service that called (its credential's subject), for the setting that lets named
 * services read sources outside a tenant's folders (IMGC_SOURCE_READERS); undefined for any other caller.
 */
export function callerIdentity(context: HandlerContext): string | undefined {
  const { role, sub } = identityOf(context);
  return role === "service" ? sub : undefined;
}

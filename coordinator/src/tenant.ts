import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { identityOf } from "./auth/identity.js";

export const TENANT_HEADER = "x-imgc-tenant";
export const DEFAULT_TENANT = "default";

// Tenants name folders in object keys (uploads/<tenant>/…), so they stay within safe key characters.
const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A tenant as named by a header or a token, or InvalidArgument. */
export function checkTenant(tenant: string): string {
  if (!TENANT_PATTERN.test(tenant)) {
    throw new ConnectError(
      `${TENANT_HEADER} must be 1 to 64 characters of letters, digits, ".", "_" and "-"`,
      Code.InvalidArgument,
    );
  }
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

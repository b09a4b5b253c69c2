import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";

export const TENANT_HEADER = "x-imgc-tenant";
export const DEFAULT_TENANT = "default";

// Tenants name folders in object keys (uploads/<tenant>/…), so they stay within safe key characters.
const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The caller's tenant, set by the gateway after authenticating it; `default` for internal callers. */
export function tenantOf(context: HandlerContext): string {
  const tenant = context.requestHeader.get(TENANT_HEADER)?.trim() || DEFAULT_TENANT;
  if (!TENANT_PATTERN.test(tenant)) {
    throw new ConnectError(
      `${TENANT_HEADER} must be 1 to 64 characters of letters, digits, ".", "_" and "-"`,
      Code.InvalidArgument,
    );
  }
  return tenant;
}

/**
 * The authenticated identity of the caller (an internal service's name), when the internal plane says who
 * called; undefined until then, so that every caller is held to its tenant's folders.
 */
export function callerIdentity(_context: HandlerContext): string | undefined {
  return undefined;
}

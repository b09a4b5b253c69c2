/** Tenants: who a job belongs to, as the gateway and internal services name them to the coordinator. */

/** The request header in which a gateway or an internal service names the tenant it acts for. */
export const TENANT_HEADER = "x-imgc-tenant";

/** The tenant of a development cluster's unauthenticated callers (IMGC_DEV_MODE, IMGC_INSECURE_INTERNAL). */
export const DEFAULT_TENANT = "default";

// Tenants name folders in object keys (uploads/<tenant>/…), so they stay within safe key characters, and
// start with a letter or digit so that none is "..", a dot file or taken for a command-line option.
const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What a tenant may be, for messages. */
export const TENANT_RULE = '1 to 64 characters of letters, digits, ".", "_" and "-", starting with a letter or digit';

export const isTenant = (tenant: string): boolean => TENANT_PATTERN.test(tenant);

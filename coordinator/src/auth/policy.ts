/**
 * Who may call what on the coordinator, and for which tenant.
 *
 * - worker: ClaimChunk, ReportItem, ReportItems, CompleteChunk, and only as itself (request.worker_id == the token's sub;
 *   a pool token: worker_id starts with `<sub>-`, for replicas whose ids are made at start).
 * - gateway: every JobService method, for the tenant it names in `x-imgc-tenant` (the gateway authenticates
 *   end users; none named: `default`); ListWorkers and GetQueueStats for its cluster page.
 * - service: JobService for the tenants its token names; `x-imgc-tenant` picks one of them (none named and
 *   exactly one tenant: that one); `*` in the token: any.
 * - operator: ListWorkers, DrainWorker, GetQueueStats, and the read-only JobService methods for any tenant.
 * - coordinator: everything (peers of a cluster of coordinators).
 * Nobody else names a tenant: `x-imgc-tenant` from any other credential is refused, not ignored.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { TokenClaims } from "@imgc/common";
import { DEFAULT_TENANT, TENANT_HEADER } from "@imgc/proto";
import { checkTenant } from "../tenant.js";
import type { Identity } from "./identity.js";

/** The methods, by their `localName`, as the Connect ServiceImpls name them. */
export const WORKER_METHODS: ReadonlySet<string> = new Set([
  "claimChunk",
  "reportItem",
  "reportItems",
  "completeChunk",
]);
const CLUSTER_READS = new Set(["listWorkers", "getQueueStats"]);
const OPERATOR_CLUSTER = new Set(["listWorkers", "drainWorker", "getQueueStats"]);
const JOB_READS = new Set(["getJob", "listJobs", "watchJob", "getResults"]);

export interface CallFacts {
  /** "imgc.v1.JobService" or "imgc.v1.ClusterService". */
  service: string;
  /** The method's localName (claimChunk). */
  method: string;
  /** The unary request (the worker id is checked on it); undefined for streams of requests. */
  request: unknown;
  /** `x-imgc-tenant` as sent, if any. */
  tenantHeader: string | undefined;
}

const denied = (message: string) => new ConnectError(message, Code.PermissionDenied);

/** The identity a call runs as, or PermissionDenied. */
export function decide(claims: TokenClaims, call: CallFacts): Identity {
  const isJobs = call.service === "imgc.v1.JobService";
  const header = call.tenantHeader?.trim() || undefined;
  const identity = (tenant: string | undefined): Identity => ({ role: claims.role, sub: claims.sub, tenant });
  const noHeader = () => {
    if (header !== undefined) throw denied(`${TENANT_HEADER} is not accepted from a ${claims.role} credential`);
  };
  switch (claims.role) {
    case "coordinator":
      return identity(isJobs ? checkTenant(header ?? DEFAULT_TENANT) : undefined);
    case "worker": {
      noHeader();
      if (isJobs || !WORKER_METHODS.has(call.method)) throw denied(`a worker may not call ${call.method}`);
      const workerId = (call.request as { workerId?: unknown } | undefined)?.workerId;
      const itself = claims.pool
        ? typeof workerId === "string" && workerId.startsWith(`${claims.sub}-`)
        : workerId === claims.sub;
      if (!itself) throw denied("a worker may act only as itself");
      return identity(undefined);
    }
    case "gateway":
      if (isJobs) return identity(checkTenant(header ?? DEFAULT_TENANT));
      noHeader();
      if (!CLUSTER_READS.has(call.method)) throw denied(`a gateway may not call ${call.method}`);
      return identity(undefined);
    case "operator":
      if (isJobs) {
        if (!JOB_READS.has(call.method)) throw denied(`an operator may not call ${call.method}`);
        return identity(checkTenant(header ?? DEFAULT_TENANT));
      }
      noHeader();
      if (!OPERATOR_CLUSTER.has(call.method)) throw denied(`an operator may not call ${call.method}`);
      return identity(undefined);
    case "service": {
      if (!isJobs) throw denied(`a service may not call ${call.method}`);
      const tenants = claims.tenants ?? [];
      if (header !== undefined) {
        if (!tenants.includes("*") && !tenants.includes(header))
          throw denied("this credential may not act for that tenant");
        return identity(checkTenant(header));
      }
      const named = tenants.filter((t) => t !== "*");
      if (named.length === 1 && !tenants.includes("*")) return identity(checkTenant(named[0] as string));
      throw denied(`this credential acts for several tenants: name one in ${TENANT_HEADER}`);
    }
  }
}

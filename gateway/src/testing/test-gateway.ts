/**
 * A gateway for tests that name only what they are about: everything else answers nothing — a coordinator and
 * a cluster with no methods (Unimplemented), storage that keeps nothing, no readiness checks, no API keys (dev
 * mode), no CORS origins, a silent log.
 */
import { Readable } from "node:stream";
import { createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { createLogger } from "@imgc/common";
import { ClusterService, JobService } from "@imgc/proto";
import { build, type Gateway, type GatewayDeps } from "../server.js";

/** A coordinator client answered in memory by `impl`; the methods it leaves out are Unimplemented. */
export function fakeCoordinator(impl: Partial<ServiceImpl<typeof JobService>>): GatewayDeps["coordinator"] {
  return createClient(
    JobService,
    createRouterTransport(({ service }) => service(JobService, impl)),
  );
}

export function buildTestGateway(deps: Partial<GatewayDeps> & Pick<GatewayDeps, "maxUploadBytes">): Promise<Gateway> {
  return build({
    log: createLogger("gateway-test", "silent"),
    coordinator: createClient(
      JobService,
      createRouterTransport(() => {}),
    ),
    cluster: createClient(
      ClusterService,
      createRouterTransport(() => {}),
    ),
    storage: { putStream: async () => {}, presignPut: async () => "", getStream: async () => Readable.from([]) },
    checks: {},
    apiKeys: new Map(),
    corsOrigins: [],
    ...deps,
  });
}

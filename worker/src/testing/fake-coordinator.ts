/** Test support: a ClusterService served over real gRPC (grpc-js on a loopback port), recording what it hears. */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { createLogger, grpcImplementation, grpcServiceDefinition } from "@imgc/common";
import {
  type ClaimChunkRequest,
  ClaimChunkResponseSchema,
  ClusterService,
  type CompleteChunkRequest,
  type ReportItemRequest,
  ReportItemResponseSchema,
} from "@imgc/proto";

export interface FakeCoordinator {
  url: string;
  claims: ClaimChunkRequest[];
  reports: ReportItemRequest[];
  completes: CompleteChunkRequest[];
  stop(): Promise<void>;
}

export interface FakeBehaviour {
  /** The items ClaimChunk answers as pending; default: none. */
  pending?(request: ClaimChunkRequest): string[];
  cancelledOnClaim?(request: ClaimChunkRequest): boolean;
  /** ClaimChunk answers NOT_FOUND. */
  unknownChunk?(request: ClaimChunkRequest): boolean;
  cancelledOnReport?(request: ReportItemRequest): boolean;
}

export async function startFakeCoordinator(behaviour: FakeBehaviour = {}, port = 0): Promise<FakeCoordinator> {
  const claims: ClaimChunkRequest[] = [];
  const reports: ReportItemRequest[] = [];
  const completes: CompleteChunkRequest[] = [];
  const impl: Partial<ServiceImpl<typeof ClusterService>> = {
    claimChunk(request) {
      claims.push(request);
      if (behaviour.unknownChunk?.(request))
        throw new ConnectError(`chunk ${request.jobId}.${request.index}`, Code.NotFound);
      return create(ClaimChunkResponseSchema, {
        pendingItemIds: behaviour.pending?.(request) ?? [],
        cancelled: behaviour.cancelledOnClaim?.(request) ?? false,
      });
    },
    reportItem(request) {
      reports.push(request);
      return create(ReportItemResponseSchema, {
        accepted: true,
        cancelled: behaviour.cancelledOnReport?.(request) ?? false,
      });
    },
    completeChunk(request) {
      completes.push(request);
      return {};
    },
  };
  const server = new grpc.Server();
  server.addService(
    grpcServiceDefinition(ClusterService),
    grpcImplementation(ClusterService, impl, createLogger("fake-coordinator", "silent")),
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    url: `127.0.0.1:${bound}`,
    claims,
    reports,
    completes,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Calls still open (a client retrying) must not hold the test up.
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500).unref();
      }),
  };
}

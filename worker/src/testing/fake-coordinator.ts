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
  CompleteChunkRequestSchema,
  type ReportItemRequest,
  ReportItemRequestSchema,
  ReportItemResponseSchema,
  ReportItemsResponseSchema,
} from "@imgc/proto";

export interface FakeCoordinator {
  url: string;
  claims: ClaimChunkRequest[];
  /** Every result heard, one per item, whether it came in ReportItem or ReportItems. */
  reports: ReportItemRequest[];
  /** Items announced as started (ReportItems). */
  started: string[];
  /** Chunk completions, whether by CompleteChunk or by ReportItems' `complete`. */
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
  const started: string[] = [];
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
    reportItems(request) {
      started.push(...request.startedItemIds);
      let cancelled = false;
      for (const result of request.results) {
        const one = create(ReportItemRequestSchema, {
          workerId: request.workerId,
          jobId: request.jobId,
          chunkIndex: request.chunkIndex,
          result,
        });
        reports.push(one);
        cancelled = (behaviour.cancelledOnReport?.(one) ?? false) || cancelled;
      }
      if (request.complete) {
        completes.push(
          create(CompleteChunkRequestSchema, {
            workerId: request.workerId,
            jobId: request.jobId,
            index: request.chunkIndex,
          }),
        );
      }
      return create(ReportItemsResponseSchema, { accepted: request.results.map(() => true), cancelled });
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
    started,
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

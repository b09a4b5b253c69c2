/**
 * The coordinator's gRPC server: JobService and ClusterService (Connect ServiceImpls bridged onto grpc-js),
 * the standard health service, and server reflection.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import {
  createReflection,
  grpcImplementation,
  grpcServiceDefinition,
  type Logger,
  MAX_MESSAGE_BYTES,
} from "@imgc/common";
import { ClusterService, JobService } from "@imgc/proto";
import { HealthImplementation } from "grpc-health-check";

export interface ServerDeps {
  jobService: ServiceImpl<typeof JobService>;
  clusterService: ServiceImpl<typeof ClusterService>;
  log: Logger;
  /** The health service, so the caller can turn it NOT_SERVING while it shuts down. */
  health?: HealthImplementation;
}

export function createHealth(): HealthImplementation {
  return new HealthImplementation({
    "": "SERVING",
    [JobService.typeName]: "SERVING",
    [ClusterService.typeName]: "SERVING",
  });
}

export function build(deps: ServerDeps): grpc.Server {
  const server = new grpc.Server({
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  });
  server.addService(grpcServiceDefinition(JobService), grpcImplementation(JobService, deps.jobService, deps.log));
  server.addService(
    grpcServiceDefinition(ClusterService),
    grpcImplementation(ClusterService, deps.clusterService, deps.log),
  );
  (deps.health ?? createHealth()).addToServer(server);
  createReflection().addToServer(server);
  return server;
}

/** Binds and resolves with the port (useful with port 0). */
/** `credentials`: TLS when the coordinator has a certificate (grpcServerCredentials). */
export function listen(
  server: grpc.Server,
  host: string,
  port: number,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

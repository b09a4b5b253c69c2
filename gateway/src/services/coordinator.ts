/**
 * The gateway's line to the coordinator: gRPC over HTTP/2 cleartext, one multiplexed connection.
 *
 * Readiness asks the coordinator's standard gRPC health service (grpc.health.v1.Health/Check). Its
 * descriptor is declared here rather than generated, because it is two tiny messages from outside the
 * project's contract.
 */
import { create, createFileRegistry, type DescMessage, type DescMethodUnary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  connectTls,
  createFailoverTransport,
  internalBearer,
  type Logger,
  parseAddresses,
  type TlsFiles,
} from "@imgc/common";
import { ClusterService, JobService } from "@imgc/proto";
import { propagateTrace } from "../interceptors/trace.js";

/**
 * The coordinators: `addresses` lists them (comma-separated), or is one DNS name for all. Calls find the leader
 * by themselves and wait out a failover (see @imgc/common's failover transport). `token`: the gateway's internal
 * token (IMGC_AUTH_TOKEN), sent on every call (undefined only when insecure); `tls`: IMGC_TLS_CA, when the
 * coordinators serve TLS.
 */
export function createCoordinatorTransport(addresses: string, log?: Logger, token?: string, tls?: TlsFiles): Transport {
  const { scheme, nodeOptions } = connectTls(tls);
  return createFailoverTransport({
    addresses: parseAddresses(addresses),
    transportFor: (address) =>
      createGrpcTransport({
        baseUrl: `${scheme}://${address}`,
        ...(nodeOptions ? { nodeOptions } : {}),
        // Keep the connection alive and notice a dead coordinator between calls.
        pingIntervalMs: 10_000,
        pingTimeoutMs: 5_000,
        idleConnectionTimeoutMs: 5 * 60_000,
        // A call made while serving a traced JobService call carries its trace context on.
        interceptors: [propagateTrace, ...internalBearer(token)],
      }),
    onSwitch: (from, to, reason) => log?.info({ from, to, reason }, "coordinator calls move"),
  });
}

/**
 * The coordinator's JobService, as the gateway calls it: every RPC the gateway does not serve itself is
 * forwarded here with the caller's tenant.
 */
export type CoordinatorJobService = Client<typeof JobService>;

export function createCoordinatorJobService(transport: Transport): CoordinatorJobService {
  return createClient(JobService, transport);
}

/** ClusterService is internal to the cluster: the gateway only reads it, for GET /v1/cluster. */
export function createClusterClient(transport: Transport): Client<typeof ClusterService> {
  return createClient(ClusterService, transport);
}

const healthFile = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      {
        name: "HealthCheckRequest",
        field: [
          {
            name: "service",
            jsonName: "service",
            number: 1,
            type: FieldDescriptorProto_Type.STRING,
            label: FieldDescriptorProto_Label.OPTIONAL,
          },
        ],
      },
      {
        name: "HealthCheckResponse",
        // The ServingStatus enum, read as its wire type (a varint) to spare declaring the enum.
        field: [
          {
            name: "status",
            jsonName: "status",
            number: 1,
            type: FieldDescriptorProto_Type.INT32,
            label: FieldDescriptorProto_Label.OPTIONAL,
          },
        ],
      },
    ],
    service: [
      {
        name: "Health",
        method: [
          {
            name: "Check",
            inputType: ".grpc.health.v1.HealthCheckRequest",
            outputType: ".grpc.health.v1.HealthCheckResponse",
          },
        ],
      },
    ],
  }),
  () => undefined,
);

const healthCheck = healthFile.getService("grpc.health.v1.Health")?.methods[0] as DescMethodUnary<
  DescMessage,
  DescMessage
>;

const SERVING = 1;

/** Resolves when the coordinator reports SERVING for `service` ("" is the whole server). */
export async function checkCoordinatorHealth(transport: Transport, timeoutMs: number, service = ""): Promise<void> {
  const response = await transport.unary(healthCheck, undefined, timeoutMs, undefined, { service } as never);
  const status = (response.message as unknown as { status?: number }).status ?? 0;
  if (status !== SERVING) throw new Error(`coordinator health is ${status === 2 ? "NOT_SERVING" : `status ${status}`}`);
}

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { createGrpcJsClient, createLogger, internalGrpcOptions } from "@imgc/common";
import { JobService } from "@imgc/proto";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, listen } from "./server.js";
import { startTestStack, type TestCoordinator, type TestStack } from "./testing/harness.js";

let stack: TestStack;
let t: TestCoordinator;
let server: grpc.Server;
let address: string;

beforeAll(async () => {
  stack = await startTestStack();
  t = stack.t;
  server = build({
    jobService: t.services.jobService,
    clusterService: t.services.clusterService,
    log: createLogger("test", "silent"),
  });
  address = `127.0.0.1:${await listen(server, "127.0.0.1", 0)}`;
});

afterAll(async () => {
  server.forceShutdown();
  await stack.stop();
});

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorMessage: string };
}

/** One request on the v1 reflection stream, as grpcurl and buf curl send it. */
function reflect(request: Record<string, string>): Promise<ReflectionResponse> {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve("@grpc/reflection")), "..", "proto");
  const definition = loadSync(join(root, "grpc/reflection/v1/reflection.proto"), { keepCase: false, longs: String });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const client = new loaded.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = (
      client as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<unknown, ReflectionResponse> }
    ).serverReflectionInfo();
    call.on("data", (response: ReflectionResponse) => {
      resolve(response);
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write(request);
  });
}

describe("the gRPC server", () => {
  it("serves JobService over gRPC, tenant from metadata, errors with their codes", async () => {
    // The gateway's credential: the one whose x-imgc-tenant the coordinator honours.
    const gateway = t.auth.mint({ role: "gateway", sub: "gateway" });
    const client = createGrpcJsClient(JobService, address, internalGrpcOptions(gateway));
    try {
      const err = await client.getJob({ jobId: "x" }).catch((e: unknown) => e);
      expect((err as ConnectError).code).toBe(Code.NotFound);
      t.storage.put("uploads/acme/u/a.jpg", 10);
      const { job } = await client.submitJob(
        { sources: [{ kind: { case: "uploadKey", value: "uploads/acme/u/a.jpg" } }] },
        { headers: { "x-imgc-tenant": "acme" } },
      );
      expect(job?.tenant).toBe("acme");
      const hidden = await client.getJob({ jobId: job?.id ?? "" }).catch((e: unknown) => e);
      expect(hidden).toBeInstanceOf(ConnectError);
      expect((hidden as ConnectError).code).toBe(Code.NotFound);
    } finally {
      client.close();
    }
  });

  it("answers the standard health check", async () => {
    const Health = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, "Health");
    const client = new Health(address, grpc.credentials.createInsecure()) as unknown as {
      Check(request: { service: string }, callback: (err: Error | null, response: { status: string }) => void): void;
      close(): void;
    };
    const response = await new Promise<{ status: string }>((resolve, reject) =>
      client.Check({ service: "imgc.v1.JobService" }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    client.close();
    expect(response.status).toBe("SERVING");
  });

  it("lists its services and describes them through reflection", async () => {
    const listed = await reflect({ listServices: "*" });
    expect(listed.listServicesResponse?.service.map((s) => s.name).sort()).toEqual([
      "grpc.health.v1.Health",
      "imgc.v1.ClusterService",
      "imgc.v1.JobService",
    ]);
    const files = await reflect({ fileContainingSymbol: "imgc.v1.JobService" });
    expect(files.fileDescriptorResponse?.fileDescriptorProto.length).toBeGreaterThanOrEqual(4);
    const health = await reflect({ fileContainingSymbol: "grpc.health.v1.Health" });
    expect(health.errorResponse).toBeUndefined();
    expect(health.fileDescriptorResponse?.fileDescriptorProto.length).toBe(1);
    // Go's protodesc (grpcurl, buf curl) accepts only fully-qualified references and protoc's map entry names.
    const file = fromBinary(
      FileDescriptorProtoSchema,
      health.fileDescriptorResponse?.fileDescriptorProto[0] ?? new Uint8Array(),
    );
    const references = file.messageType.flatMap((m) => [...m.field, ...m.nestedType.flatMap((n) => n.field)]);
    const named = references.filter((f) => f.typeName);
    expect(named.length).toBeGreaterThan(0);
    for (const field of named) expect(field.typeName).toMatch(/^\.grpc\.health\.v1\./);
    expect(file.messageType.find((m) => m.name === "HealthListResponse")?.nestedType[0]?.name).toBe("StatusesEntry");
  });
});

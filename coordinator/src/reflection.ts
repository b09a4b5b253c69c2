/**
 * gRPC server reflection from the protobuf-es descriptors compiled into @imgc/proto, so `grpcurl` and
 * `buf curl` work against the coordinator without the .proto files.
 */
import { type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { file_imgc_v1_cluster_service, file_imgc_v1_job_service } from "@imgc/proto";
import { protoPath as healthProtoPath } from "grpc-health-check";

/** The files and, transitively, everything they import, each once. */
function withDependencies(roots: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.set(file.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const root of roots) visit(root);
  return [...seen.values()];
}

/** A package definition in the shape @grpc/reflection reads: serialized FileDescriptorProtos. */
export function reflectionPackage(
  roots: readonly DescFile[] = [file_imgc_v1_job_service, file_imgc_v1_cluster_service],
) {
  const fileDescriptorProtos = withDependencies(roots).map((file) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)),
  );
  const definition: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const root of roots) {
    for (const service of root.services) definition[service.typeName] = { fileDescriptorProtos };
  }
  return definition as unknown as ConstructorParameters<typeof ReflectionService>[0];
}

export function createReflection(): ReflectionService {
  // The health service too, so `grpcurl … grpc.health.v1.Health/Check` needs no proto file either.
  return new ReflectionService({ ...reflectionPackage(), ...loadSync(healthProtoPath, { keepCase: true }) });
}

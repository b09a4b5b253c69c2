/**
 * gRPC server reflection from the protobuf-es descriptors compiled into @imgc/proto, so `grpcurl` and
 * `buf curl` work without the .proto files: `createReflection` for grpc-js servers (the coordinator), and
 * the descriptor helpers the Connect implementation in reflection-service.ts shares (the gateway).
 */
import { type DescFile, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type DescriptorProto, type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { file_imgc_v1_cluster_service, file_imgc_v1_job_service } from "@imgc/proto";
import { protoPath as healthProtoPath } from "grpc-health-check";

/** The files and, transitively, everything they import, each once. */
export function withDependencies(roots: readonly DescFile[]): DescFile[] {
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

/**
 * proto-loader writes type references relative to their scope ("ServingStatus"); reflection clients built on
 * Go's protodesc (grpcurl, buf curl) accept only fully-qualified ones (".grpc.health.v1.HealthCheckResponse.
 * ServingStatus"), so each reference is resolved the way protoc does: innermost scope first, and map entry
 * types get their protoc names back.
 */
function qualified(file: FileDescriptorProto): FileDescriptorProto {
  // protoc names a map's entry type "<Field>Entry", and protodesc insists; proto-loader drops the suffix.
  const renameEntries = (messages: DescriptorProto[]) => {
    for (const message of messages) {
      for (const nested of message.nestedType) {
        if (!nested.options?.mapEntry || nested.name.endsWith("Entry")) continue;
        const old = nested.name;
        nested.name = `${old}Entry`;
        for (const field of message.field) if (field.typeName === old) field.typeName = nested.name;
      }
      renameEntries(message.nestedType);
    }
  };
  renameEntries(file.messageType);
  const known = new Set<string>();
  const collect = (scope: string, messages: DescriptorProto[]) => {
    for (const message of messages) {
      const name = `${scope}.${message.name}`;
      known.add(name);
      for (const nested of message.enumType) known.add(`${name}.${nested.name}`);
      collect(name, message.nestedType);
    }
  };
  const root = file.package ? `.${file.package}` : "";
  for (const enumType of file.enumType) known.add(`${root}.${enumType.name}`);
  collect(root, file.messageType);
  const resolve = (scope: string, name: string) => {
    if (!name || name.startsWith(".")) return name;
    for (let at = scope; ; at = at.slice(0, Math.max(0, at.lastIndexOf(".")))) {
      if (known.has(`${at}.${name}`)) return `${at}.${name}`;
      if (!at) return name;
    }
  };
  const fix = (scope: string, messages: DescriptorProto[]) => {
    for (const message of messages) {
      const name = `${scope}.${message.name}`;
      for (const field of message.field) field.typeName = resolve(name, field.typeName);
      fix(name, message.nestedType);
    }
  };
  fix(root, file.messageType);
  for (const service of file.service) {
    for (const method of service.method) {
      method.inputType = resolve(root, method.inputType);
      method.outputType = resolve(root, method.outputType);
    }
  }
  if (!file.syntax) file.syntax = "proto3";
  return file;
}

/** The standard health service's descriptor, so `grpcurl … grpc.health.v1.Health/Check` needs no proto file. */
function healthPackage() {
  const definition = loadSync(healthProtoPath, { keepCase: true });
  for (const entry of Object.values(definition)) {
    const files = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    if (!files) continue;
    files.forEach((bytes, i) => {
      files[i] = Buffer.from(
        toBinary(FileDescriptorProtoSchema, qualified(fromBinary(FileDescriptorProtoSchema, bytes))),
      );
    });
  }
  return definition;
}

export function createReflection(): ReflectionService {
  return new ReflectionService({ ...reflectionPackage(), ...healthPackage() });
}

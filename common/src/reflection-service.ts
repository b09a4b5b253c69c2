/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha `ServerReflectionInfo`) as a Connect service, for
 * servers built on connect-node (the gateway), so `buf curl` and `grpcurl` need no .proto files there.
 *
 * The answers come from the protobuf-es descriptors compiled into the code: a file is sent with everything
 * it imports, as serialized FileDescriptorProtos, which is what both clients expect. The messages of the
 * reflection protocol itself are generated into gen/ (see gen/README.md).
 */
import { type DescFile, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "./gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";
import { withDependencies } from "./reflection.js";

/** The request, as both protocol versions shape it. */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** What a request is answered with, before it is shaped as either version's response. */
type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** The services to describe, and the index that answers for them. */
export function createReflectionIndex(services: readonly { typeName: string; file: DescFile }[]) {
  // Both reflection files: every listed service must resolve, or `buf curl --list-methods` (which describes
  // each one) fails on the first it cannot find.
  const roots = [
    ...services.map((service) => service.file),
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ];
  // DescFile.name drops ".proto"; clients ask by the full name, which the descriptor keeps.
  const files = new Map(withDependencies(roots).map((file) => [file.proto.name, file]));
  // Every fully-qualified name a client may ask about, as grpc-js's reflection indexes them.
  const symbols = new Map<string, DescFile>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const indexMessage = (message: DescMessage, file: DescFile) => {
    symbols.set(message.typeName, file);
    for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) symbols.set(`${message.typeName}.${oneof.name}`, file);
    for (const nested of message.nestedMessages) indexMessage(nested, file);
    for (const nested of message.nestedEnums) symbols.set(nested.typeName, file);
  };
  for (const file of files.values()) {
    for (const message of file.messages) indexMessage(message, file);
    for (const enumeration of file.enums) symbols.set(enumeration.typeName, file);
    for (const service of file.services) {
      symbols.set(service.typeName, file);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file);
    }
    for (const extension of file.extensions) {
      symbols.set(extension.typeName, file);
      const numbers = extensions.get(extension.extendee.typeName) ?? new Map<number, DescFile>();
      numbers.set(extension.number, file);
      extensions.set(extension.extendee.typeName, numbers);
    }
  }
  const encoded = new Map<DescFile, Uint8Array>();
  const encode = (file: DescFile) => {
    let bytes = encoded.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file, bytes);
    }
    return bytes;
  };
  const withImports = (file: DescFile): Answer => ({
    case: "fileDescriptorResponse",
    value: { fileDescriptorProto: withDependencies([file]).map(encode) },
  });
  const notFound = (errorMessage: string): Answer => ({
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage },
  });
  const listed = [
    ...services.map((service) => service.typeName),
    v1.ServerReflection.typeName,
    v1alpha.ServerReflection.typeName,
  ];

  return function answer(request: ReflectionRequest): Answer {
    const { messageRequest: asked } = request;
    switch (asked.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: listed.map((name) => ({ name })) } };
      case "fileByFilename": {
        const file = files.get(asked.value);
        return file ? withImports(file) : notFound(`file not found: ${asked.value}`);
      }
      case "fileContainingSymbol": {
        const file = symbols.get(asked.value.replace(/^\./, ""));
        return file ? withImports(file) : notFound(`symbol not found: ${asked.value}`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = asked.value;
        const file = extensions.get(containingType.replace(/^\./, ""))?.get(extensionNumber);
        return file ? withImports(file) : notFound(`extension ${extensionNumber} of ${containingType} not found`);
      }
      case "allExtensionNumbersOfType": {
        const typeName = asked.value.replace(/^\./, "");
        if (!symbols.has(typeName)) return notFound(`type not found: ${asked.value}`);
        return {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: typeName, extensionNumber: [...(extensions.get(typeName)?.keys() ?? [])] },
        };
      }
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty request" } };
    }
  };
}

/**
 * Registers both versions of the reflection service on `router`, describing `services` (and reflection
 * itself). Each request on the stream is answered in turn; the stream ends when the client ends it.
 */
export function reflectionRoutes(services: readonly { typeName: string; file: DescFile }[]) {
  const answer = createReflectionIndex(services);
  return (router: ConnectRouter) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          const response: MessageInitShape<typeof v1.ServerReflectionResponseSchema> = {
            validHost: request.host,
            originalRequest: request,
            messageResponse: answer(request),
          };
          yield response;
        }
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          const response: MessageInitShape<typeof v1alpha.ServerReflectionResponseSchema> = {
            validHost: request.host,
            originalRequest: request,
            messageResponse: answer(request),
          };
          yield response;
        }
      },
    });
  };
}

/** Reflection services go unauthenticated: they describe the public API, which the web client ships anyway. */
export function isReflectionService(typeName: string): boolean {
  return typeName === v1.ServerReflection.typeName || typeName === v1alpha.ServerReflection.typeName;
}

import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { JobService } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createReflectionIndex } from "./reflection-service.js";

const answer = createReflectionIndex([JobService]);
const ask = (messageRequest: Parameters<typeof answer>[0]["messageRequest"]) => answer({ host: "", messageRequest });

function fileNames(result: ReturnType<typeof answer>): string[] {
  if (result.case !== "fileDescriptorResponse") throw new Error(`expected files, got ${result.case}`);
  return result.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

describe("reflection index", () => {
  test("lists the described services and both reflection versions", () => {
    expect(ask({ case: "listServices", value: "*" })).toEqual({
      case: "listServicesResponse",
      value: {
        service: [
          { name: "imgc.v1.JobService" },
          { name: "grpc.reflection.v1.ServerReflection" },
          { name: "grpc.reflection.v1alpha.ServerReflection" },
        ],
      },
    });
  });

  test("a service, a method, a message or a field is answered with its file and every file it imports", () => {
    for (const symbol of [
      "imgc.v1.JobService",
      "imgc.v1.JobService.GetJob",
      ".imgc.v1.GetJobRequest",
      "imgc.v1.GetJobRequest.job_id",
    ]) {
      const names = fileNames(ask({ case: "fileContainingSymbol", value: symbol }));
      expect(names[0], symbol).toBe("imgc/v1/job_service.proto");
      expect(names, symbol).toEqual(
        expect.arrayContaining(["imgc/v1/job.proto", "imgc/v1/options.proto", "google/protobuf/timestamp.proto"]),
      );
    }
    expect(fileNames(ask({ case: "fileContainingSymbol", value: "imgc.v1.ItemState" }))[0]).toBe("imgc/v1/job.proto");
    expect(fileNames(ask({ case: "fileByFilename", value: "google/protobuf/timestamp.proto" }))).toEqual([
      "google/protobuf/timestamp.proto",
    ]);
  });

  test("every listed service resolves to its file, reflection's own two versions included", () => {
    const listed = ask({ case: "listServices", value: "*" });
    if (listed.case !== "listServicesResponse") throw new Error(`expected services, got ${listed.case}`);
    const expected: Record<string, string> = {
      "imgc.v1.JobService": "imgc/v1/job_service.proto",
      "grpc.reflection.v1.ServerReflection": "grpc/reflection/v1/reflection.proto",
      "grpc.reflection.v1alpha.ServerReflection": "grpc/reflection/v1alpha/reflection.proto",
    };
    for (const { name } of listed.value.service) {
      expect(fileNames(ask({ case: "fileContainingSymbol", value: name }))[0], name).toBe(expected[name]);
    }
  });

  test("unknown names are NOT_FOUND errors on the stream, not failures of it", () => {
    for (const request of [
      { case: "fileContainingSymbol", value: "imgc.v1.Nope" },
      { case: "fileByFilename", value: "nope.proto" },
      { case: "fileContainingExtension", value: { containingType: "imgc.v1.Job", extensionNumber: 100 } },
      { case: "allExtensionNumbersOfType", value: "imgc.v1.Nope" },
    ] as const) {
      const result = ask(request);
      expect(result.case, request.case).toBe("errorResponse");
      expect(result.value).toMatchObject({ errorCode: Code.NotFound });
    }
    expect(ask({ case: "allExtensionNumbersOfType", value: "imgc.v1.Job" })).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "imgc.v1.Job", extensionNumber: [] },
    });
  });
});

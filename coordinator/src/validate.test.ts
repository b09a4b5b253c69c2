import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  CompressionOptionsSchema,
  DetectionOptionsSchema,
  Fit,
  QualityLevel,
  type SourceSchema,
  SubmitJobRequestSchema,
  TaskKind,
} from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { detectionProblems, jobTasks, optionProblems, sourceScopeFor, validateSubmit } from "./validate.js";

const resize = (maxWidth: number, maxHeight: number, fit: Fit, allowEnlarge: boolean) =>
  optionProblems(create(CompressionOptionsSchema, { resize: { maxWidth, maxHeight, fit, allowEnlarge } }));

describe("resize validation", () => {
  it("refuses a box over 100 megapixels that the output would fill: enlargement, or contain", () => {
    expect(resize(11_500, 11_500, Fit.FILL, true)).toEqual([
      "options.resize: expected max_width × max_height of at most 100000000 pixels with allow_enlarge or fit CONTAIN but received 11500 × 11500",
    ]);
    expect(resize(65_535, 65_535, Fit.CONTAIN, false)).toHaveLength(1);
    expect(resize(65_535, 65_535, Fit.INSIDE, true)).toHaveLength(1);
  });

  it("accepts a large box that only bounds the output, and any box within the limit", () => {
    expect(resize(65_535, 65_535, Fit.INSIDE, false)).toEqual([]);
    expect(resize(65_535, 65_535, Fit.FILL, false)).toEqual([]);
    expect(resize(10_000, 10_000, Fit.FILL, true)).toEqual([]);
  });
});

const BUCKET = "imgc";
type Kind = NonNullable<MessageInitShape<typeof SourceSchema>["kind"]>;

function problems(tenant: string, sources: Kind[], unscoped = false): string {
  const request = create(SubmitJobRequestSchema, { sources: sources.map((kind) => ({ kind })) });
  try {
    validateSubmit(request, tenant, BUCKET, { unscoped });
  } catch (err) {
    return ConnectError.from(err).rawMessage;
  }
  return "";
}

const prefix = (prefix: string, bucket = ""): Kind => ({ case: "s3Prefix", value: { bucket, prefix } });
const upload = (key: string): Kind => ({ case: "uploadKey", value: key });

describe("shrink_to_fit", () => {
  const shrink = (target?: MessageInitShape<typeof CompressionOptionsSchema>["target"]) =>
    optionProblems(create(CompressionOptionsSchema, { shrinkToFit: true, ...(target ? { target } : {}) }));

  it("is accepted with a max_bytes goal only", () => {
    expect(shrink({ goal: { case: "maxBytes", value: 50_000n } })).toEqual([]);
  });

  it("is refused with any other goal, or none, naming what it received", () => {
    expect(shrink({ goal: { case: "minSsim", value: 0.95 } })).toEqual([
      "options.shrink_to_fit: expected a target.max_bytes goal but received target.min_ssim",
    ]);
    expect(shrink()).toEqual(["options.shrink_to_fit: expected a target.max_bytes goal but received no target"]);
  });
});

describe("source scope", () => {
  it("keeps every tenant, default included, to its own uploads/ and outputs/", () => {
    for (const tenant of ["default", "acme"]) {
      expect(problems(tenant, [upload(`uploads/${tenant}/x/a.jpg`), prefix(`outputs/${tenant}/j/`)])).toBe("");
      expect(problems(tenant, [upload("uploads/globex/x/a.jpg")])).toContain(`must be under uploads/${tenant}/`);
      expect(problems(tenant, [prefix("")])).toMatch(/covers uploads\//);
      expect(problems(tenant, [prefix("private/")])).toMatch(/must be under uploads\/.+ or outputs\//);
      expect(problems(tenant, [upload("secrets.txt")])).toMatch(/must be under uploads\/.+ or outputs\//);
      expect(problems(tenant, [prefix("photos/", "other-bucket")])).toMatch(/only the cluster's bucket is allowed/);
    }
  });

  it("lets only an unscoped internal service read the rest of the bucket and other buckets, never a tenant's folder", () => {
    expect(problems("default", [prefix("photos/"), prefix("photos/", "other-bucket")], true)).toBe("");
    expect(problems("default", [upload("uploads/globex/x/a.jpg")], true)).toMatch(/must be under uploads\/default\//);
    const scopeOf = sourceScopeFor(["ingest"]);
    expect(scopeOf("ingest").unscoped).toBe(true);
    expect(scopeOf("gateway").unscoped).toBe(false);
    expect(scopeOf(undefined).unscoped).toBe(false);
  });
});

describe("key limits", () => {
  it("refuses a key longer than S3's 1024 bytes as the caller's mistake (it used to reach S3 and come back FailedPrecondition)", () => {
    const long = `uploads/acme/x/${"a".repeat(100_000)}.jpg`;
    expect(problems("acme", [upload(long)])).toBe(
      `sources[0].upload_key: expected at most 1024 bytes but received ${Buffer.byteLength(long)}`,
    );
    expect(problems("acme", [prefix(`uploads/acme/${"é".repeat(600)}/`)])).toMatch(
      /^sources\[0\]\.s3_prefix\.prefix: expected at most 1024 bytes but received 1214$/,
    );
    expect(problems("acme", [upload(`uploads/acme/x/${"a".repeat(1000)}`)])).toBe("");
  });

  it("quotes a refused bucket name or URL as a short escaped prefix, however long it is", () => {
    expect(problems("acme", [prefix("uploads/acme/", `B${"\n".repeat(100_000)}`)])).toBe(
      `sources[0].s3_prefix.bucket: expected a bucket name but received "B${"\\n".repeat(31)}…"`,
    );
    expect(problems("acme", [{ case: "url", value: `not a url ${"x".repeat(2_000)}` }])).toBe(
      `sources[0].url: expected a URL but received "not a url ${"x".repeat(54)}…"`,
    );
  });
});

const target = (goal: NonNullable<Parameters<typeof create<typeof CompressionOptionsSchema>>[1]>["target"]) =>
  optionProblems(create(CompressionOptionsSchema, { target: goal }));

describe("optionProblems: perceptual targets", () => {
  it("accepts a min score of 30 to 100 and every named level", () => {
    expect(target({ goal: { case: "minScore", value: 30 } })).toEqual([]);
    expect(target({ goal: { case: "minScore", value: 100 } })).toEqual([]);
    for (const value of [
      QualityLevel.JPEG_Q80,
      QualityLevel.VISUALLY_LOSSLESS,
      QualityLevel.HIGH,
      QualityLevel.MEDIUM,
    ]) {
      expect(target({ goal: { case: "level", value } })).toEqual([]);
    }
  });

  it("names the field and the value it refuses", () => {
    expect(target({ goal: { case: "minScore", value: 120 } })).toEqual([
      "options.target.min_score: expected a number between 30 and 100 but received 120",
    ]);
    expect(target({ goal: { case: "minScore", value: Number.NaN } })).toHaveLength(1);
    expect(target({ goal: { case: "level", value: 42 as QualityLevel } })).toEqual([
      "options.target.level: unknown value 42",
    ]);
  });
});

function submitProblems(init: Parameters<typeof create<typeof SubmitJobRequestSchema>>[1]): string {
  const request = create(SubmitJobRequestSchema, { sources: [{ kind: upload("uploads/acme/a.jpg") }], ...init });
  try {
    validateSubmit(request, "acme", BUCKET);
  } catch (err) {
    return ConnectError.from(err).rawMessage;
  }
  return "";
}

const detection = (init: Parameters<typeof create<typeof DetectionOptionsSchema>>[1]) =>
  detectionProblems(create(DetectionOptionsSchema, init));

describe("tasks and detection options", () => {
  it("reads no tasks as [COMPRESS] and keeps a list as given", () => {
    expect(jobTasks([])).toEqual([TaskKind.COMPRESS]);
    expect(jobTasks([TaskKind.DETECT])).toEqual([TaskKind.DETECT]);
    expect(jobTasks([TaskKind.COMPRESS, TaskKind.DETECT])).toEqual([TaskKind.COMPRESS, TaskKind.DETECT]);
    expect(submitProblems({ tasks: [TaskKind.COMPRESS, TaskKind.DETECT] })).toBe("");
    expect(submitProblems({ tasks: [TaskKind.DETECT], detection: { minScore: 0.3, labels: ["cup"] } })).toBe("");
  });

  it("refuses duplicate, unspecified and unknown tasks", () => {
    expect(submitProblems({ tasks: [TaskKind.DETECT, TaskKind.DETECT] })).toBe("tasks: DETECT is listed twice");
    expect(submitProblems({ tasks: [TaskKind.UNSPECIFIED] })).toBe(
      "tasks: expected COMPRESS or DETECT but received UNSPECIFIED",
    );
    expect(submitProblems({ tasks: [7 as TaskKind] })).toBe("tasks: expected COMPRESS or DETECT but received 7");
  });

  it("keeps min_score in [0, 1), max_objects at most 100 and labels to COCO's 80", () => {
    expect(detection({ minScore: 0, maxObjects: 100, labels: ["person", "traffic light"] })).toEqual([]);
    expect(detection({ minScore: 1 })).toEqual([
      "detection.min_score: expected a number from 0 up to but not including 1 but received 1",
    ]);
    expect(detection({ minScore: -0.1 })).toHaveLength(1);
    expect(detection({ minScore: Number.NaN })).toHaveLength(1);
    expect(detection({ maxObjects: 101 })).toEqual([
      "detection.max_objects: expected a number between 0 and 100 but received 101",
    ]);
    expect(detection({ labels: ["person", "unicorn"] })).toEqual([
      'detection.labels: expected COCO labels such as "person" or "cup" but received "unicorn"',
    ]);
    expect(detection({ labels: ["x".repeat(10_000)] })[0]?.length).toBeLessThan(200);
    expect(detection({ labels: Array.from({ length: 81 }, () => "cup") })).toEqual([
      "detection.labels: expected at most 80 labels but received 81",
    ]);
  });

  it("lists detection problems with the rest of the request's in one InvalidArgument", () => {
    expect(submitProblems({ tasks: [TaskKind.DETECT], detection: { maxObjects: 500, labels: ["dragon"] } })).toBe(
      'detection.max_objects: expected a number between 0 and 100 but received 500; detection.labels: expected COCO labels such as "person" or "cup" but received "dragon"',
    );
  });
});

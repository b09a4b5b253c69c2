/**
 * SubmitJob validation: every problem in the request, named by its field, in one InvalidArgument.
 *
 * Sources are also checked against the tenant: in the cluster's bucket the folders uploads/, outputs/ and
 * reports/ hold one sub-folder per tenant, and a tenant reads only its own uploads/ and outputs/, whoever it
 * is: `default` (dev mode) is a tenant like any other. Only a caller whose scope says `unscoped` (an internal
 * service whose credential IMGC_SOURCE_READERS names, see docs/security.md) may also read the rest of the
 * bucket and other buckets; never another tenant's folders.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_KEY_BYTES, quoted } from "@imgc/common";
import {
  ChromaSubsampling,
  type CompressionOptions,
  type DetectionOptions,
  Fit,
  ImageFormat,
  isCocoLabel,
  isOutputFormat,
  MAX_OUTPUT_PIXELS,
  MAX_RETENTION_DAYS,
  ManifestFormat,
  MetadataPolicy,
  OPTION_LIMITS,
  Priority,
  QualityLevel,
  type Source,
  type SubmitJobRequest,
  TaskKind,
} from "@imgc/proto";

/** What a caller may read as sources besides its own folders. */
export interface SourceScope {
  /** The rest of the cluster's bucket and other buckets (never another tenant's folders). */
  unscoped: boolean;
}

const SCOPED: SourceScope = { unscoped: false };

/**
 * IMGC_SOURCE_READERS: the internal-service identities (comma-separated credential names) whose jobs may read
 * outside their tenant's folders. Empty by default: nobody may.
 */
export function sourceScopeFor(readers: readonly string[]): (identity: string | undefined) => SourceScope {
  const allowed = new Set(readers);
  return (identity) => ({ unscoped: identity !== undefined && allowed.has(identity) });
}

export const MAX_SOURCES = 10_000;
const TENANT_AREAS = ["uploads/", "outputs/", "reports/"] as const;

function isEnumValue(enumObject: object, value: number): boolean {
  return Object.values(enumObject).includes(value);
}

/** Why `key` (or, as a prefix, every key under it) is off limits to the tenant; null when it is allowed. */
export function keyProblem(key: string, tenant: string, isPrefix: boolean, scope: SourceScope = SCOPED): string | null {
  const bytes = Buffer.byteLength(key);
  if (bytes > MAX_KEY_BYTES) return `expected at most ${MAX_KEY_BYTES} bytes but received ${bytes}`;
  if (key.split("/").includes("..")) return "must not contain '..'";
  for (const area of TENANT_AREAS) {
    const own = `${area}${tenant}/`;
    if (key.startsWith(area) && !key.startsWith(own)) return `must be under ${own}`;
    if (isPrefix && area.startsWith(key) && key.length < area.length) {
      return `covers ${area}, which holds other tenants' objects; use ${own}`;
    }
  }
  if (!scope.unscoped && !key.startsWith(`uploads/${tenant}/`) && !key.startsWith(`outputs/${tenant}/`)) {
    return `must be under uploads/${tenant}/ or outputs/${tenant}/`;
  }
  return null;
}

function sourceProblems(sources: readonly Source[], tenant: string, bucket: string, scope: SourceScope): string[] {
  const problems: string[] = [];
  if (sources.length === 0) problems.push("sources: at least one source is required");
  if (sources.length > MAX_SOURCES)
    problems.push(`sources: at most ${MAX_SOURCES} sources, received ${sources.length}`);
  sources.slice(0, MAX_SOURCES).forEach((source, i) => {
    const where = `sources[${i}]`;
    switch (source.kind.case) {
      case "uploadKey": {
        const key = source.kind.value;
        if (!key || key.endsWith("/")) problems.push(`${where}.upload_key: expected an object key`);
        else {
          const problem = keyProblem(key, tenant, false, scope);
          if (problem) problems.push(`${where}.upload_key: ${problem}`);
        }
        break;
      }
      case "s3Prefix": {
        const { bucket: other, prefix } = source.kind.value;
        if (other && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(other)) {
          problems.push(`${where}.s3_prefix.bucket: expected a bucket name but received ${quoted(other)}`);
        } else if (other && other !== bucket) {
          if (!scope.unscoped) problems.push(`${where}.s3_prefix.bucket: only the cluster's bucket is allowed`);
        } else {
          const problem = keyProblem(prefix, tenant, true, scope);
          if (problem) problems.push(`${where}.s3_prefix.prefix: ${problem}`);
        }
        break;
      }
      case "url": {
        const problem = urlProblem(source.kind.value);
        if (problem) problems.push(`${where}.url: ${problem}`);
        break;
      }
      case "manifest": {
        const { content, format } = source.kind.value;
        if (content.case === "url") {
          const problem = urlProblem(content.value);
          if (problem) problems.push(`${where}.manifest.url: ${problem}`);
        } else if (content.case === "inline") {
          if (content.value.length > MAX_INLINE_MANIFEST) {
            problems.push(`${where}.manifest.inline: at most ${MAX_INLINE_MANIFEST} characters; pass a url instead`);
          }
        } else problems.push(`${where}.manifest: expected url or inline`);
        if (!isEnumValue(ManifestFormat, format)) problems.push(`${where}.manifest.format: unknown value ${format}`);
        break;
      }
      default:
        problems.push(`${where}: expected upload_key, s3_prefix, url or manifest`);
    }
  });
  return problems;
}

function range(problems: string[], field: string, value: number, { min, max }: { min: number; max: number }): void {
  if (!(value >= min && value <= max)) {
    problems.push(`${field}: expected a number between ${min} and ${max} but received ${value}`);
  }
}

// A oneof case's field name as the proto spells it (minSsim → min_ssim).
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function optionProblems(options: CompressionOptions | undefined): string[] {
  const problems: string[] = [];
  if (!options) return problems;
  if (!isEnumValue(ImageFormat, options.format) || options.format > ImageFormat.PNG) {
    problems.push(`options.format: expected AUTO, KEEP, JPEG, WEBP, AVIF or PNG but received ${options.format}`);
  }
  for (const format of options.autoFormats) {
    if (!isOutputFormat(format)) {
      problems.push(
        `options.auto_formats: expected JPEG, WEBP, AVIF or PNG but received ${ImageFormat[format] ?? format}`,
      );
    }
  }
  const goal = options.target?.goal;
  if (goal?.case === "quality") range(problems, "options.target.quality", goal.value, OPTION_LIMITS.quality);
  if (goal?.case === "minSsim") range(problems, "options.target.min_ssim", goal.value, OPTION_LIMITS.minSsim);
  if (goal?.case === "minScore") range(problems, "options.target.min_score", goal.value, OPTION_LIMITS.minScore);
  if (goal?.case === "level" && !isEnumValue(QualityLevel, goal.value)) {
    problems.push(`options.target.level: unknown value ${goal.value}`);
  }
  if (goal?.case === "maxBytes" && goal.value < 1n) {
    problems.push("options.target.max_bytes: expected at least 1 byte but received 0");
  }
  if (options.shrinkToFit && goal?.case !== "maxBytes") {
    problems.push(
      `options.shrink_to_fit: expected a target.max_bytes goal but received ${goal?.case ? `target.${snake(goal.case)}` : "no target"}`,
    );
  }
  if (options.resize) {
    range(problems, "options.resize.max_width", options.resize.maxWidth, OPTION_LIMITS.side);
    range(problems, "options.resize.max_height", options.resize.maxHeight, OPTION_LIMITS.side);
    if (!isEnumValue(Fit, options.resize.fit)) problems.push(`options.resize.fit: unknown value ${options.resize.fit}`);
    // A box that makes every output at least that large: contain always pads to it, and with enlargement any
    // fit may reach it. Workers check the exact output size too (PIXEL_LIMIT), against their own limit.
    const { maxWidth, maxHeight, allowEnlarge, fit } = options.resize;
    if ((allowEnlarge || fit === Fit.CONTAIN) && maxWidth * maxHeight > MAX_OUTPUT_PIXELS) {
      problems.push(
        `options.resize: expected max_width × max_height of at most ${MAX_OUTPUT_PIXELS} pixels with allow_enlarge or fit CONTAIN but received ${maxWidth} × ${maxHeight}`,
      );
    }
  }
  if (!isEnumValue(MetadataPolicy, options.metadata)) {
    problems.push(`options.metadata: unknown value ${options.metadata}`);
  }
  if (!isEnumValue(ChromaSubsampling, options.chromaSubsampling)) {
    problems.push(`options.chroma_subsampling: unknown value ${options.chromaSubsampling}`);
  }
  range(problems, "options.effort", options.effort, OPTION_LIMITS.effort);
  return problems;
}

/** How many labels one job may name (all of COCO's 80). */
export const MAX_DETECTION_LABELS = 80;

/** The tasks of a request as a job stores them: an empty list is [COMPRESS]. */
export function jobTasks(tasks: readonly TaskKind[]): TaskKind[] {
  return tasks.length === 0 ? [TaskKind.COMPRESS] : [...tasks];
}

function taskProblems(tasks: readonly TaskKind[]): string[] {
  const problems: string[] = [];
  const seen = new Set<TaskKind>();
  for (const task of tasks) {
    if (task !== TaskKind.COMPRESS && task !== TaskKind.DETECT) {
      problems.push(`tasks: expected COMPRESS or DETECT but received ${TaskKind[task] ?? task}`);
    } else if (seen.has(task)) problems.push(`tasks: ${TaskKind[task]} is listed twice`);
    seen.add(task);
  }
  return problems;
}

export function detectionProblems(detection: DetectionOptions | undefined): string[] {
  const problems: string[] = [];
  if (!detection) return problems;
  if (!(detection.minScore >= 0 && detection.minScore < 1)) {
    problems.push(
      `detection.min_score: expected a number from 0 up to but not including 1 but received ${detection.minScore}`,
    );
  }
  range(problems, "detection.max_objects", detection.maxObjects, OPTION_LIMITS.maxObjects);
  if (detection.labels.length > MAX_DETECTION_LABELS) {
    problems.push(
      `detection.labels: expected at most ${MAX_DETECTION_LABELS} labels but received ${detection.labels.length}`,
    );
  }
  const unknown = detection.labels.slice(0, MAX_DETECTION_LABELS + 1).find((label) => !isCocoLabel(label));
  if (unknown !== undefined) {
    problems.push(`detection.labels: expected COCO labels such as "person" or "cup" but received ${quote(unknown)}`);
  }
  return problems;
}

/** A short, escaped rendering of untrusted text for an error message. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

const MAX_INLINE_MANIFEST = 4 * 1024 * 1024;

function urlProblem(url: string): string | null {
  if (url.length > 2_048) return "at most 2048 characters";
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return "expected an http(s) URL";
  } catch {
    return `expected a URL but received ${quoted(url)}`;
  }
  return null;
}

function webhookProblem(url: string): string | null {
  if (!url) return null;
  const problem = urlProblem(url);
  return problem && `webhook_url: ${problem}`;
}

/** Throws InvalidArgument listing every problem of the request. */
export function validateSubmit(
  request: SubmitJobRequest,
  tenant: string,
  bucket: string,
  scope: SourceScope = SCOPED,
): void {
  const problems = [
    ...sourceProblems(request.sources, tenant, bucket, scope),
    ...optionProblems(request.options),
    ...taskProblems(request.tasks),
    ...detectionProblems(request.detection),
  ];
  if (!isEnumValue(Priority, request.priority)) problems.push(`priority: unknown value ${request.priority}`);
  if (request.idempotencyKey.length > 256) problems.push("idempotency_key: at most 256 characters");
  if (request.label.length > 256) problems.push("label: at most 256 characters");
  range(problems, "retention_days", request.retentionDays, { min: 0, max: MAX_RETENTION_DAYS });
  const webhook = webhookProblem(request.webhookUrl);
  if (webhook) problems.push(webhook);
  if (problems.length > 0) throw new ConnectError(problems.join("; "), Code.InvalidArgument);
}

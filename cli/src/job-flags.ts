/** The flags that shape a job, shared by `compress` and `submit`, and what they become in a SubmitJobRequest. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type CompressionOptionsSchema, ImageFormat, Priority } from "@imgc/proto";
import { choice, integer, UsageError } from "./args.js";

export const jobOptions = {
  format: { type: "string" },
  quality: { type: "string" },
  lossless: { type: "boolean" },
  "max-width": { type: "string" },
  "max-height": { type: "string" },
  priority: { type: "string" },
  label: { type: "string" },
  "idempotency-key": { type: "string" },
  webhook: { type: "string" },
} as const;

export const jobOptionsHelp = `Compression:
  --format F             webp, jpeg, avif, png, keep (the input's format) or auto (the smallest; default)
  --quality N            encoder quality, 1 to 100 (default: each format's own)
  --lossless             lossless output (PNG, lossless WebP/AVIF)
  --max-width N          shrink to at most N pixels wide (1 to 100000)
  --max-height N         shrink to at most N pixels tall (1 to 100000)
Job:
  --priority P           high, normal (default) or low
  --label TEXT           a label shown in listings
  --idempotency-key K    submitting the same key again returns the same job
  --webhook URL          POSTed to when the job ends`;

const FORMATS = {
  auto: ImageFormat.AUTO,
  keep: ImageFormat.KEEP,
  jpeg: ImageFormat.JPEG,
  webp: ImageFormat.WEBP,
  avif: ImageFormat.AVIF,
  png: ImageFormat.PNG,
} as const;
const PRIORITIES = { high: Priority.HIGH, normal: Priority.NORMAL, low: Priority.LOW } as const;

type Flags = { [K in keyof typeof jobOptions]?: (typeof jobOptions)[K]["type"] extends "boolean" ? boolean : string };

export interface JobSettings {
  options: MessageInitShape<typeof CompressionOptionsSchema>;
  priority: Priority;
  label: string;
  idempotencyKey: string;
  webhookUrl: string;
}

export function jobSettings(flags: Flags): JobSettings {
  const format = choice(flags.format, "--format", Object.keys(FORMATS) as (keyof typeof FORMATS)[]);
  const quality = integer(flags.quality, "--quality", 1, 100);
  const maxWidth = integer(flags["max-width"], "--max-width", 1, 100_000);
  const maxHeight = integer(flags["max-height"], "--max-height", 1, 100_000);
  const lane = choice(flags.priority, "--priority", Object.keys(PRIORITIES) as (keyof typeof PRIORITIES)[]);
  if (quality !== undefined && flags.lossless) throw new UsageError("--quality and --lossless cannot be combined");
  const options: MessageInitShape<typeof CompressionOptionsSchema> = {
    format: FORMATS[format ?? "auto"],
  };
  if (flags.lossless) options.target = { goal: { case: "lossless", value: true } };
  else if (quality !== undefined) options.target = { goal: { case: "quality", value: quality } };
  if (maxWidth !== undefined || maxHeight !== undefined) {
    options.resize = { maxWidth: maxWidth ?? 0, maxHeight: maxHeight ?? 0 };
  }
  return {
    options,
    priority: PRIORITIES[lane ?? "normal"],
    label: flags.label ?? "",
    idempotencyKey: flags["idempotency-key"] ?? "",
    webhookUrl: flags.webhook ?? "",
  };
}

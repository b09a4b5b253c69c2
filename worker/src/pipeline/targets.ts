import { ErrorCode, ImageFormat } from "@imgc/proto";
import type { Deadline } from "./deadline.js";
import { defaultQuality, encode, type Setting } from "./encode.js";
import { fail } from "./errors.js";
import type { OutputFormat } from "./formats.js";
import type { Plan } from "./plan.js";
import type { Source } from "./source.js";

/** One format's best effort at the job's goal. */
export interface Candidate {
  readonly format: OutputFormat;
  readonly data: Buffer;
  /** The encoder quality, 0 for lossless output. */
  readonly quality: number;
  readonly ssim?: number;
}

// The setting a quality means for a format: PNG is lossless (its quality steers palette quantisation only),
// near-lossless WebP is lossless with a preprocessing quality.
const settingFor = (format: OutputFormat, quality: number, plan: Plan): Setting => {
  if (format === ImageFormat.PNG) return plan.palette ? { lossless: true, quality } : { lossless: true };
  if (format === ImageFormat.WEBP && plan.nearLossless) return { lossless: true, quality };
  return { quality };
};

const reported = (format: OutputFormat, setting: Setting, plan: Plan): number =>
  setting.lossless ? (format === ImageFormat.PNG && plan.palette ? (setting.quality ?? 0) : 0) : setting.quality;

export const reachGoal = async (
  source: Source,
  format: OutputFormat,
  plan: Plan,
  deadline: Deadline,
): Promise<Candidate> => {
  const once = async (setting: Setting): Promise<Candidate> => ({
    format,
    data: await encode(source, format, setting, plan, deadline),
    quality: reported(format, setting, plan),
  });
  const goal = plan.goal;
  switch (goal.kind) {
    case "default":
      return once(settingFor(format, defaultQuality[format], plan));
    case "quality":
      return once(settingFor(format, goal.quality, plan));
    case "lossless":
      return format === ImageFormat.JPEG ? once({ quality: 100 }) : once({ lossless: true });
    default:
      return fail(ErrorCode.INVALID_OPTIONS, `The ${goal.kind} target is not supported yet`);
  }
};

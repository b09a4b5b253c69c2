import { ErrorCode, ImageFormat } from "@imgc/proto";
import { bisect } from "./bisect.js";
import type { Deadline } from "./deadline.js";
import { defaultQuality, encode, type Setting } from "./encode.js";
import { CompressError } from "./errors.js";
import { formatInfo, type OutputFormat } from "./formats.js";
import type { Meter } from "./meter.js";
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

export interface GoalContext {
  readonly source: Source;
  readonly plan: Plan;
  readonly deadline: Deadline;
  readonly meter: Meter;
  /**
   * The size another format already reached (AUTO): a min-SSIM search stops as soon as it is clear this
   * format cannot be smaller, since a higher quality only grows the output.
   */
  readonly sizeToBeat?: number;
}

// Whether the format has a quality the search can steer. Plain PNG is lossless whatever the quality.
const steerable = (format: OutputFormat, plan: Plan): boolean => format !== ImageFormat.PNG || plan.palette;

// The setting a quality means for a format: PNG is lossless (its quality steers palette quantisation only),
// near-lossless WebP is lossless with a preprocessing quality.
const settingFor = (format: OutputFormat, quality: number, plan: Plan): Setting => {
  if (format === ImageFormat.PNG) return plan.palette ? { lossless: true, quality } : { lossless: true };
  if (format === ImageFormat.WEBP && plan.nearLossless) return { lossless: true, quality };
  return { quality };
};

// The quality an output reports: 0 when nothing was lost.
const reportedQuality = (format: OutputFormat, quality: number, plan: Plan): number =>
  steerable(format, plan) ? quality : 0;

const unreachable = (message: string): CompressError => new CompressError(ErrorCode.INVALID_OPTIONS, message);

/** Thrown inside a search that can no longer beat sizeToBeat. */
class Outsized extends Error {}

/**
 * Reaches the job's goal in one format. Returns undefined when a search was cut short by sizeToBeat; throws
 * INVALID_OPTIONS when the goal cannot be met in this format.
 */
export const reachGoal = async (format: OutputFormat, ctx: GoalContext): Promise<Candidate | undefined> => {
  const { source, plan, deadline, meter } = ctx;
  const name = formatInfo(format).name;
  const probes = new Map<number, { data: Buffer; ssim?: number }>();
  const probe = async (quality: number) => {
    let p = probes.get(quality);
    if (!p) {
      p = { data: await encode(source, format, settingFor(format, quality, plan), plan, deadline) };
      probes.set(quality, p);
    }
    return p;
  };
  const candidate = (quality: number, data: Buffer, ssim?: number): Candidate => ({
    format,
    data,
    quality: reportedQuality(format, quality, plan),
    ...(ssim === undefined ? {} : { ssim }),
  });
  const once = async (quality: number): Promise<Candidate> => candidate(quality, (await probe(quality)).data);

  const goal = plan.goal;
  switch (goal.kind) {
    case "default":
      return once(defaultQuality[format]);
    case "quality":
      return once(goal.quality);
    case "lossless":
      if (format === ImageFormat.JPEG) return once(100);
      return candidate(0, await encode(source, format, { lossless: true }, plan, deadline));
    case "min-ssim": {
      if (!steerable(format, plan)) return candidate(0, (await probe(100)).data, 1);
      const measured = async (quality: number) => {
        const p = await probe(quality);
        p.ssim ??= await meter.ssim(p.data);
        return { ...p, ssim: p.ssim };
      };
      try {
        const quality = await bisect(
          1,
          100,
          async (q) => {
            const p = await measured(q);
            const ok = p.ssim >= goal.minSsim;
            if (!ok && ctx.sizeToBeat !== undefined && p.data.length >= ctx.sizeToBeat) throw new Outsized();
            return ok;
          },
          "lowest",
        );
        if (quality === undefined) {
          const best = await measured(100);
          throw unreachable(
            `The ${name} output reaches an SSIM of ${best.ssim.toFixed(4)} at most, below the target of ${goal.minSsim}`,
          );
        }
        const p = await measured(quality);
        return candidate(quality, p.data, p.ssim);
      } catch (e) {
        if (e instanceof Outsized) return undefined;
        throw e;
      }
    }
    case "max-bytes": {
      const fits = (data: Buffer) => data.length <= goal.maxBytes;
      const quality = steerable(format, plan)
        ? await bisect(1, 100, async (q) => fits((await probe(q)).data), "highest")
        : fits((await probe(100)).data)
          ? 100
          : undefined;
      if (quality === undefined) {
        const smallest = (await probe(steerable(format, plan) ? 1 : 100)).data.length;
        throw unreachable(`The smallest ${name} output is ${smallest} bytes, over the limit of ${goal.maxBytes} bytes`);
      }
      const p = await probe(quality);
      return candidate(quality, p.data, await meter.ssim(p.data));
    }
  }
};

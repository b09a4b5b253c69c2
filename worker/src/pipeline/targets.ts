import { ErrorCode, formatInfo, ImageFormat, type OutputFormat } from "@imgc/proto";
import { ItemError } from "../item-error.js";
import { bisect } from "./bisect.js";
import type { Deadline } from "./deadline.js";
import { defaultQuality, type Encodable, type Encoded, encode, type Setting } from "./encode.js";
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
  /** The SSIMULACRA 2 score against the source, for a perceptual target. */
  readonly score?: number;
  /** The output's size (of one frame, when animated). */
  readonly width: number;
  readonly height: number;
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
export const steerable = (format: OutputFormat, plan: Plan): boolean => format !== ImageFormat.PNG || plan.palette;

// The setting a quality means for a format: PNG is lossless (its quality steers palette quantisation only),
// near-lossless WebP is lossless with a preprocessing quality.
export const settingFor = (format: OutputFormat, quality: number, plan: Plan): Setting => {
  if (format === ImageFormat.PNG) return plan.palette ? { lossless: true, quality } : { lossless: true };
  if (format === ImageFormat.WEBP && plan.nearLossless) return { lossless: true, quality };
  return { quality };
};

// The quality an output reports: 0 when nothing was lost.
export const reportedQuality = (format: OutputFormat, quality: number, plan: Plan): number =>
  steerable(format, plan) ? quality : 0;

/**
 * The lowest quality a min-SSIM search goes to. SSIM's stabilising constants make it lenient on smooth,
 * low-contrast content: a 4K photo of a soft surface scores 0.988 as a WebP at quality 1, which is visibly
 * blocky and smeared, yet clean at 20–50. So, like the auto-quality features of image proxies, the search
 * stays within a sane range; AVIF's scale sits lower (its default is 50 where JPEG's is 80).
 */
export const minSearchQuality: Record<OutputFormat, number> = {
  [ImageFormat.JPEG]: 30,
  [ImageFormat.WEBP]: 30,
  [ImageFormat.AVIF]: 20,
  [ImageFormat.PNG]: 30,
};

const unreachable = (message: string): ItemError => new ItemError(ErrorCode.INVALID_OPTIONS, message);

/**
 * A byte budget no quality of a format meets: the smallest output reached and its size, which is what
 * shrinking to fit (shrink.ts) estimates the next dimensions from.
 */
const overBudgetBrand = Symbol.for("imgc.OverBudget");

export class OverBudget extends ItemError {
  readonly [overBudgetBrand] = true;
  readonly smallest: number;
  readonly width: number;
  readonly height: number;

  constructor(message: string, smallest: Encoded) {
    super(ErrorCode.INVALID_OPTIONS, message);
    this.smallest = smallest.data.length;
    this.width = smallest.width;
    this.height = smallest.height;
  }

  // A brand, as ItemError.is: the module may be loaded twice.
  static override is(e: unknown): e is OverBudget {
    return typeof e === "object" && e !== null && (e as { [overBudgetBrand]?: unknown })[overBudgetBrand] === true;
  }
}

/**
 * The lowest quality a max-bytes search goes to: any (1) by default; under shrink_to_fit the floor of
 * minSearchQuality, since there a smaller image is the better buy than a blocky one.
 */
const maxBytesFloor = (format: OutputFormat, plan: Plan): number => (plan.shrinkToFit ? minSearchQuality[format] : 1);

/** Thrown inside a search that can no longer beat sizeToBeat. */
class Outsized extends Error {}

/**
 * The encoder setting of a goal that needs a single encode (a quality, the default, lossless), and the
 * quality it reports; undefined for the goals that search.
 */
export const fixedGoal = (format: OutputFormat, plan: Plan): { setting: Setting; quality: number } | undefined => {
  const goal = plan.goal;
  const at = (quality: number) => ({
    setting: settingFor(format, quality, plan),
    quality: reportedQuality(format, quality, plan),
  });
  switch (goal.kind) {
    case "default":
      return at(defaultQuality[format]);
    case "quality":
      return at(goal.quality);
    case "lossless":
      return format === ImageFormat.JPEG
        ? { setting: { quality: 100 }, quality: 100 }
        : { setting: { lossless: true }, quality: 0 };
    default:
      return undefined;
  }
};

/** The one encode of a fixed goal, from any Encodable: decoded pixels or the streamed input. */
export const reachFixed = async (
  source: Encodable,
  format: OutputFormat,
  fixed: { setting: Setting; quality: number },
  plan: Plan,
  deadline: Deadline,
): Promise<Candidate> => ({
  format,
  quality: fixed.quality,
  ...(await encode(source, format, fixed.setting, plan, deadline)),
});

/**
 * Reaches the job's goal in one format. Returns undefined when a search was cut short by sizeToBeat; throws
 * INVALID_OPTIONS when the goal cannot be met in this format.
 */
export const reachGoal = async (format: OutputFormat, ctx: GoalContext): Promise<Candidate | undefined> => {
  const { source, plan, deadline, meter } = ctx;
  const fixed = fixedGoal(format, plan);
  if (fixed) return reachFixed(source, format, fixed, plan, deadline);
  const name = formatInfo(format).name;
  const probes = new Map<number, Encoded & { ssim?: number }>();
  const probe = async (quality: number) => {
    let p = probes.get(quality);
    if (!p) {
      p = await encode(source, format, settingFor(format, quality, plan), plan, deadline);
      probes.set(quality, p);
    }
    return p;
  };
  const candidate = (quality: number, p: Encoded, ssim: number): Candidate => ({
    format,
    quality: reportedQuality(format, quality, plan),
    data: p.data,
    width: p.width,
    height: p.height,
    ssim,
  });

  const goal = plan.goal;
  switch (goal.kind) {
    case "min-ssim": {
      if (!steerable(format, plan)) return candidate(0, await probe(100), 1);
      const measured = async (quality: number) => {
        const p = await probe(quality);
        p.ssim ??= await meter.ssim(p.data);
        return { ...p, ssim: p.ssim };
      };
      try {
        const quality = await bisect(
          minSearchQuality[format],
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
        return candidate(quality, p, p.ssim);
      } catch (e) {
        if (e instanceof Outsized) return undefined;
        throw e;
      }
    }
    case "min-score":
      throw new Error("a perceptual target is reached by reachScore, over every candidate format at once");
    case "max-bytes": {
      const fits = (p: Encoded) => p.data.length <= goal.maxBytes;
      const steered = steerable(format, plan);
      const floor = steered ? maxBytesFloor(format, plan) : 100;
      // Shrinking to fit tries several sizes, most of which miss: one encode at the floor tells, not seven.
      const floorFits = plan.shrinkToFit ? fits(await probe(floor)) : true;
      const quality = !floorFits
        ? undefined
        : steered
          ? await bisect(floor, 100, async (q) => fits(await probe(q)), "highest")
          : fits(await probe(100))
            ? 100
            : undefined;
      if (quality === undefined) {
        const smallest = await probe(floor);
        const at = floor > 1 && steered ? ` at quality ${floor}` : "";
        throw new OverBudget(
          `The smallest ${name} output${at} is ${smallest.data.length} bytes, over the limit of ${goal.maxBytes} bytes`,
          smallest,
        );
      }
      const p = await probe(quality);
      return candidate(quality, p, await meter.ssim(p.data));
    }
    default:
      throw new Error(`unhandled goal ${goal.kind}`);
  }
};

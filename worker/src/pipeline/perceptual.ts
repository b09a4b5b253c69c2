import { ErrorCode, formatInfo, ImageFormat, OPTION_LIMITS, type OutputFormat } from "@imgc/proto";
import sharp from "sharp";
import { ItemError } from "../item-error.js";
import type { Deadline } from "./deadline.js";
import { type Encodable, encode } from "./encode.js";
import { classify } from "./errors.js";
import type { Plan } from "./plan.js";
import { mosaicOf, type Sample, sampleOf } from "./sample.js";
import type { Source } from "./source.js";
import type { Pixels } from "./ssim.js";
import { createScorer, type Scorer } from "./ssimulacra2.js";
import { type Candidate, reportedQuality, settingFor, steerable } from "./targets.js";

/** What one format reached on the sample. */
export interface SampleResult {
  readonly format: OutputFormat;
  readonly quality: number;
  /** The sample's encoded size: what AUTO compares formats by. */
  readonly bytes: number;
  readonly score: number;
  /** Sample encodes spent. */
  readonly probes: number;
  /** Not a search's answer: the last resort of a relative target nothing reached. */
  readonly fallback?: boolean;
}

/** An output at full size and its score. */
export interface Confirmed {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  readonly quality: number;
  readonly score: number;
  /** Full-size encodes spent. */
  readonly encodes: number;
}

/**
 * How a format's quality relates to the score, near the useful range (70–90), measured on the photo corpus:
 * the quality that usually reaches 80, and score points per quality step. Only the first guess uses it; the
 * search measures from there.
 */
const model: Record<OutputFormat, { at80: number; slope: number }> = {
  [ImageFormat.JPEG]: { at80: 82, slope: 0.6 },
  [ImageFormat.WEBP]: { at80: 86, slope: 0.6 },
  [ImageFormat.AVIF]: { at80: 66, slope: 0.55 },
  [ImageFormat.PNG]: { at80: 80, slope: 0.6 },
};

/**
 * The score the sample must reach when it stands for a larger image: the confirming measurement at full size
 * then rarely asks for a second encode.
 */
const SAMPLE_MARGIN = 0.5;
const LOWEST_QUALITY = 5;
/**
 * Up to this many pixels the full-size check scores the whole image rather than the sample's tiles: a sample
 * can miss the one region that decides the score (a test pattern's lines), and here a whole score costs no
 * more than a second or so of CPU.
 */
const CONFIRM_WHOLE_PIXELS = 1_500_000;
/** A search that has bracketed the answer this closely stops. */
const RESOLUTION = 2;
const MAX_SAMPLE_PROBES = 5;
/** How far over the size to beat a format's first probe may be and still be searched. */
const PRUNE = 1.15;
/**
 * sharp's AVIF effort (libaom's speed, reversed) for a perceptual search when the job sets no effort: on an
 * 8-megapixel photo its default (4) costs about 20 WebP q80 encodes, 2 about 3–4 (15% more bytes than 4),
 * 1 about 1.5 (another 8% more bytes). 2 is where AUTO reaches a third fewer bytes than JPEG q80.
 */
export const SEARCH_AVIF_EFFORT = 2;

export interface PerceptualSearch {
  /**
   * The lowest quality of `format` whose sample scores at least the target. Undefined when a probe below the
   * target is already no smaller than `sizeToBeat`: this format cannot win.
   */
  onSample(format: OutputFormat, target: number, sizeToBeat?: number): Promise<SampleResult | undefined>;
  /** Encodes at full size from the sample's answer, raising the quality until the full-size output scores. */
  atFullSize(found: SampleResult, target: number): Promise<Confirmed>;
  /**
   * The score of a plain JPEG at quality 80 (sharp's default settings) of the image: on the sample, or with
   * `confirming`, as the full-size check measures (the whole image, when it is small enough to score whole).
   */
  jpegQ80Score(confirming?: boolean): Promise<number>;
}

export interface SearchDeps {
  readonly source: Source;
  readonly plan: Plan;
  readonly deadline: Deadline;
  /** The SSIMULACRA 2 score to reach, or as good as a plain JPEG at quality 80 of this image. */
  readonly target: number | "jpeg-q80";
}

const unreachable = (format: OutputFormat, score: number, target: number): ItemError =>
  new ItemError(
    ErrorCode.INVALID_OPTIONS,
    `The ${formatInfo(format).name} output reaches a score of ${score.toFixed(1)} at most, below the target of ${target}`,
  );

const decodePixels = async (data: Buffer, animated: boolean): Promise<Pixels> => {
  const { data: px, info } = await sharp(data, { animated, limitInputPixels: false })
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return { data: px, width: info.width, height: info.height, channels: info.channels };
};

export const createPerceptualSearch = (deps: SearchDeps): PerceptualSearch => {
  const { source, plan, deadline } = deps;
  const setting = (format: OutputFormat, quality: number) => {
    const s = settingFor(format, quality, plan);
    return format === ImageFormat.AVIF && plan.effort === 0 && !s.lossless
      ? { ...s, avifEffort: SEARCH_AVIF_EFFORT }
      : s;
  };
  const fullHeight = source.height * source.frames;
  const whole: Pixels = { data: source.pixels, width: source.width, height: fullHeight, channels: source.channels };
  const sample: Sample | undefined = sampleOf(whole);
  const reference = sample ? mosaicOf(whole, sample) : whole;
  let scorer: Scorer | undefined;
  const scorerOf = () => {
    scorer ??= createScorer(reference);
    return scorer;
  };
  const confirmWhole = sample !== undefined && whole.width * whole.height <= CONFIRM_WHOLE_PIXELS;
  let wholeScorer: Scorer | undefined;
  const confirmMeasure = async (pixels: Pixels): Promise<number> => {
    if (!confirmWhole) return measure(pixels);
    deadline.check();
    wholeScorer ??= createScorer(whole);
    return wholeScorer.score(pixels);
  };
  // When the image is its own sample, the sample encodes are the full-size encodes (metadata included).
  const sampleSource: Encodable = sample
    ? (() => {
        const m = reference;
        const raw = { width: m.width, height: m.height, channels: m.channels as 1 | 2 | 3 | 4 };
        return {
          pipeline: () => (m.channels <= 2 ? sharp(m.data, { raw }).toColourspace("b-w") : sharp(m.data, { raw })),
          hasAlpha: source.hasAlpha,
          frames: 1,
          loop: 0,
          delay: [],
        };
      })()
    : source;
  const goalOf = (target: number) => (sample ? target + SAMPLE_MARGIN : target);
  const encoded = new Map<string, { data: Buffer; width: number; height: number; score: number }>();

  const measure = async (pixels: Pixels): Promise<number> => {
    deadline.check();
    const s = scorerOf();
    return s.score(sample && pixels.width !== s.width ? mosaicOf(pixels, sample) : pixels);
  };
  // Scoring costs several encodes of the sample: a probe whose bytes already lose is not scored.
  const probe = async (format: OutputFormat, quality: number, sizeToBeat = Number.POSITIVE_INFINITY) => {
    const key = `${format}:${quality}`;
    let p = encoded.get(key);
    if (!p) {
      const e = await encode(sampleSource, format, setting(format, quality), plan, deadline);
      if (e.data.length >= sizeToBeat) return { ...e, score: Number.NaN };
      const decoded = await deadline.run(decodePixels(e.data, !sample && source.frames > 1)).catch((err: unknown) => {
        throw classify(err);
      });
      p = { ...e, score: await measure(decoded) };
      encoded.set(key, p);
    }
    return p;
  };

  const onSample = async (
    format: OutputFormat,
    target: number,
    sizeToBeat?: number,
  ): Promise<SampleResult | undefined> => {
    const goal = goalOf(target);
    if (!steerable(format, plan)) {
      const p = await probe(format, 100);
      return { format, quality: 100, bytes: p.data.length, score: p.score, probes: 1 };
    }
    const { at80, slope } = model[format];
    const clamp = (q: number) => Math.max(LOWEST_QUALITY, Math.min(100, Math.round(q)));
    let q = clamp(at80 + (goal - 80) / slope);
    let pass: { q: number; score: number; bytes: number } | undefined;
    let fail: { q: number; score: number } | undefined;
    let probes = 0;
    while (probes < MAX_SAMPLE_PROBES) {
      // Scoring is the costly part. The first probe sits at the predicted answer: when its bytes already lose
      // by more than a prediction's error could make up, this format is dropped unscored.
      const p = await probe(format, q, probes === 0 && sizeToBeat !== undefined ? sizeToBeat * PRUNE : undefined);
      probes++;
      if (Number.isNaN(p.score)) return undefined;
      if (p.score >= goal) {
        if (!pass || q < pass.q) pass = { q, score: p.score, bytes: p.data.length };
      } else {
        if (sizeToBeat !== undefined && p.data.length >= sizeToBeat) return undefined;
        if (!fail || q > fail.q) fail = { q, score: p.score };
      }
      let next: number;
      if (pass && fail) {
        if (pass.q - fail.q <= RESOLUTION) break;
        // Inside the bracket, interpolate: the score is close to linear in the quality over a few steps.
        const t = (goal - fail.score) / Math.max(1e-6, pass.score - fail.score);
        next = Math.min(pass.q - 1, Math.max(fail.q + 1, Math.round(fail.q + t * (pass.q - fail.q))));
      } else if (pass) {
        if (pass.q <= LOWEST_QUALITY) break;
        next = clamp(pass.q - Math.max(RESOLUTION, (pass.score - goal) / slope + 1));
      } else if (fail) {
        if (fail.q >= 100) break;
        next = clamp(fail.q + Math.max(RESOLUTION, (goal - fail.score) / slope + 1));
      } else break;
      if (encoded.has(`${format}:${next}`)) break;
      q = next;
    }
    if (!pass) {
      const best = await probe(format, 100);
      if (best.score < goal) throw unreachable(format, best.score, goal);
      pass = { q: 100, score: best.score, bytes: best.data.length };
    }
    return { format, quality: pass.q, bytes: pass.bytes, score: pass.score, probes };
  };

  const jpegQ80Score = async (confirming = false): Promise<number> => {
    const onWhole = confirming && confirmWhole;
    let img = onWhole ? source.pipeline() : sampleSource.pipeline();
    if (source.hasAlpha) img = img.flatten({ background: "#ffffff" });
    const data = await deadline.run(img.jpeg({ quality: 80 }).toBuffer()).catch((err: unknown) => {
      throw classify(err);
    });
    const decoded = await deadline.run(decodePixels(data, (onWhole || !sample) && source.frames > 1));
    return onWhole ? confirmMeasure(decoded) : measure(decoded);
  };

  const atFullSize = async (found: SampleResult, target: number): Promise<Confirmed> => {
    if (!sample) {
      const p = await probe(found.format, found.quality);
      return { data: p.data, width: p.width, height: p.height, quality: found.quality, score: p.score, encodes: 0 };
    }
    const { slope } = model[found.format];
    let quality = found.quality;
    let encodes = 0;
    for (;;) {
      const e = await encode(source, found.format, setting(found.format, quality), plan, deadline);
      encodes++;
      const decoded = await deadline.run(decodePixels(e.data, source.frames > 1)).catch((err: unknown) => {
        throw classify(err);
      });
      const score = await confirmMeasure(decoded);
      if (score >= target || !steerable(found.format, plan)) {
        return { data: e.data, width: e.width, height: e.height, quality, score, encodes };
      }
      if (quality >= 100) throw unreachable(found.format, score, target);
      quality = Math.min(100, quality + Math.max(RESOLUTION, Math.ceil((target - score) / slope)));
    }
  };

  return { onSample, atFullSize, jpegQ80Score };
};

/**
 * A perceptual target over the candidate formats: each is searched on the sample (stopping as soon as it
 * cannot beat the smallest so far), the smallest on the sample is encoded at full size and confirmed.
 */
export const reachScore = async (
  formats: readonly OutputFormat[],
  deps: SearchDeps,
): Promise<Candidate & { fullEncodes: number; sampleEncodes: number; target: number }> => {
  const search = createPerceptualSearch(deps);
  // Never below the floor a job may ask for: a q80 JPEG of pure noise scores lower than anyone wants.
  const relative = deps.target === "jpeg-q80";
  const target = relative ? Math.max(OPTION_LIMITS.minScore.min, await search.jpegQ80Score()) : (deps.target as number);
  // The full-size check compares with the reference JPEG as it measures it (whole image, where scored whole).
  let confirmTarget: number | undefined;
  const found: SampleResult[] = [];
  let failure: ItemError | undefined;
  let sampleEncodes = 0;
  // The usually smallest first: the others' searches then stop at their first probe that cannot win.
  const order = [...formats].sort((a, b) => Number(b === ImageFormat.AVIF) - Number(a === ImageFormat.AVIF));
  for (const format of order) {
    const best = found.reduce<SampleResult | undefined>((a, b) => (a && a.bytes <= b.bytes ? a : b), undefined);
    try {
      const r = await search.onSample(format, target, best?.bytes);
      if (r) {
        found.push(r);
        sampleEncodes += r.probes;
      }
    } catch (e) {
      // A target one format cannot reach (AUTO): the others may.
      if (!ItemError.is(e) || e.code !== ErrorCode.INVALID_OPTIONS) throw e;
      if (formats.length === 1 && !relative) throw e;
      failure ??= e;
    }
  }
  // Smallest on the sample first; should one miss at full size even at quality 100, the next may not.
  const ranked = found.slice().sort((a, b) => a.bytes - b.bytes);
  const first = ranked[0]?.format ?? order[0];
  if (relative && first !== undefined) {
    // AUTO's default never fails for want of quality (lossy WebP of an animated GIF may not reach a JPEG's
    // score): when nothing reaches it, the best the likeliest format does. An explicit min_score fails instead.
    ranked.push({ format: first, quality: 100, bytes: 0, score: 0, probes: 0, fallback: true });
  }
  for (const r of ranked) {
    try {
      confirmTarget ??= relative ? Math.max(OPTION_LIMITS.minScore.min, await search.jpegQ80Score(true)) : target;
      const c = await search.atFullSize(r, r.fallback ? Number.NEGATIVE_INFINITY : confirmTarget);
      return {
        format: r.format,
        data: c.data,
        width: c.width,
        height: Math.floor(c.height),
        quality: reportedQuality(r.format, c.quality, deps.plan),
        score: c.score,
        fullEncodes: c.encodes,
        sampleEncodes,
        target,
      };
    } catch (e) {
      if (!ItemError.is(e) || e.code !== ErrorCode.INVALID_OPTIONS) throw e;
      failure = e;
    }
  }
  throw failure ?? new ItemError(ErrorCode.INTERNAL, "No output format could be tried");
};

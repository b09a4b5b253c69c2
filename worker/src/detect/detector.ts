/**
 * Object detection on one image: decode it as the compression pipeline does (same format sniffing, header
 * checks, limits and error codes; the first frame of an animation; EXIF orientation applied), letterbox it into
 * the model's square, run the model, keep one box per object (non-maximum suppression per label), and filter
 * by DetectionOptions. Boxes come back in the source's pixels as displayed.
 */
import { COCO_LABELS, type DetectionOptions, ErrorCode, formatInfo, type ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { asItemError, ItemError } from "../item-error.js";
import { createDeadline } from "../pipeline/deadline.js";
import { classify } from "../pipeline/errors.js";
import { sniffInput } from "../pipeline/header.js";
import { failOn } from "../pipeline/input.js";
import { checkHeader, type Limits } from "../pipeline/limits.js";
import { MODEL_INPUT, type Model, type RawDetection } from "./model.js";
import { suppress } from "./nms.js";

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedObject {
  label: string;
  score: number;
  /** In the source's pixels as displayed (EXIF orientation applied). */
  sourceBox: Box;
}

export interface DetectOutcome {
  /** Highest score first. */
  objects: DetectedObject[];
  sourceWidth: number;
  sourceHeight: number;
  /** The input's animation frames; only the first was looked at. 1 for a still image. */
  frames: number;
  model: string;
  inputFormat: ImageFormat;
}

export interface Detector {
  detect(input: Buffer, options: DetectionOptions, limits: Limits, signal?: AbortSignal): Promise<DetectOutcome>;
}

/** DetectionOptions with their documented defaults (options.proto) applied. */
export interface DetectionPlan {
  minScore: number;
  maxObjects: number;
  /** undefined: every label. */
  labels: ReadonlySet<string> | undefined;
}

export const DEFAULT_MIN_SCORE = 0.5;
export const DEFAULT_MAX_OBJECTS = 20;
export const MAX_OBJECTS = 100;

/** The coordinator validates the options; the worker still never trusts them to be in range. */
export function detectionPlan(options: DetectionOptions): DetectionPlan {
  const minScore = options.minScore > 0 && options.minScore < 1 ? options.minScore : DEFAULT_MIN_SCORE;
  const maxObjects = options.maxObjects === 0 ? DEFAULT_MAX_OBJECTS : Math.min(MAX_OBJECTS, options.maxObjects);
  return { minScore, maxObjects, labels: options.labels.length > 0 ? new Set(options.labels) : undefined };
}

/** Two objects of one label overlapping more than this (intersection over union) are one object. */
const SAME_OBJECT_IOU = 0.5;

interface Letterboxed {
  /** MODEL_INPUT² RGB pixels: the image scaled to fit, at the top left, black around it. */
  rgb: Uint8Array;
  /** The scaled image's size inside that square. */
  width: number;
  height: number;
}

async function letterbox(input: Buffer, format: ImageFormat, limits: Limits, seconds: number): Promise<Letterboxed> {
  const { data, info } = await sharp(input, {
    autoOrient: true,
    animated: false,
    limitInputPixels: limits.maxPixels,
    failOn: failOn(format),
  })
    .timeout({ seconds })
    .resize(MODEL_INPUT, MODEL_INPUT, { fit: "inside" })
    // Transparent pixels as white, grey and CMYK as sRGB: the model wants three 8-bit channels.
    .flatten({ background: "#ffffff" })
    .toColourspace("srgb")
    .removeAlpha()
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new ItemError(ErrorCode.INTERNAL, "The image could not be prepared for the model");
  const rgb = new Uint8Array(MODEL_INPUT * MODEL_INPUT * 3);
  const row = info.width * 3;
  for (let y = 0; y < info.height; y++) rgb.set(data.subarray(y * row, (y + 1) * row), y * MODEL_INPUT * 3);
  return { rgb, width: info.width, height: info.height };
}

const clamp = (v: number, max: number) => Math.min(max, Math.max(0, Math.round(v)));

function toSource(raw: RawDetection, scaleX: number, scaleY: number, width: number, height: number): Box {
  const x = clamp(raw.x1 * scaleX, width);
  const y = clamp(raw.y1 * scaleY, height);
  return { x, y, width: clamp(raw.x2 * scaleX, width) - x, height: clamp(raw.y2 * scaleY, height) - y };
}

/** A detector around a loaded model. Never throws anything but an ItemError, whose code is the item's. */
export function createDetector(model: Model): Detector {
  return {
    async detect(input, options, limits, signal) {
      try {
        const deadline = createDeadline(limits.timeoutMs, signal);
        const plan = detectionPlan(options);
        const { format, decodable, header } = await sniffInput(input, limits, deadline);
        checkHeader(header, limits, false);
        // Orientations 5 to 8 turn the image a quarter: the displayed width is the stored height.
        const turned = header.orientation >= 5;
        const sourceWidth = turned ? header.height : header.width;
        const sourceHeight = turned ? header.width : header.height;
        const boxed = await deadline
          .run(letterbox(decodable, format, limits, deadline.seconds()))
          .catch((e: unknown) => {
            throw classify(e, formatInfo(format).name);
          });
        const scaleX = sourceWidth / boxed.width;
        const scaleY = sourceHeight / boxed.height;
        const raw = await deadline.run(model.run(boxed.rgb));
        const candidates = raw
          .filter((d) => Number.isInteger(d.cls) && d.cls >= 0 && d.cls < COCO_LABELS.length)
          .map((d) => ({
            label: COCO_LABELS[d.cls] as string,
            score: d.score,
            sourceBox: toSource(d, scaleX, scaleY, sourceWidth, sourceHeight),
          }))
          .filter(
            (o) =>
              o.score >= plan.minScore &&
              (plan.labels?.has(o.label) ?? true) &&
              o.sourceBox.width > 0 &&
              o.sourceBox.height > 0,
          );
        return {
          objects: suppress(candidates, SAME_OBJECT_IOU).slice(0, plan.maxObjects),
          sourceWidth,
          sourceHeight,
          frames: header.frames,
          model: model.name,
          inputFormat: format,
        };
      } catch (e) {
        throw asItemError(e, "Detection failed because of an internal error");
      }
    },
  };
}

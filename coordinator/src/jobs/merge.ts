/**
 * One item's result from the results of its tasks. A job that asks for several kinds of work (compress and
 * detect) gets one report per task and item; the item ends when every task has ended for it, with one stored
 * ItemResult: the compression's fields and the detection's objects, each object's box placed on the output.
 */
import { clone, create } from "@bufbuild/protobuf";
import {
  type Box,
  BoxSchema,
  type ItemDetection,
  ItemDetectionSchema,
  type ItemResult,
  ItemResultSchema,
  ItemState,
} from "@imgc/proto";

/** `box` of the source (`width` × `height`) scaled onto an output of `toWidth` × `toHeight`, kept inside it. */
export function scaleBox(box: Box, width: number, height: number, toWidth: number, toHeight: number): Box {
  const sx = toWidth / width;
  const sy = toHeight / height;
  const x = Math.min(toWidth, Math.round(box.x * sx));
  const y = Math.min(toHeight, Math.round(box.y * sy));
  return create(BoxSchema, {
    x,
    y,
    width: Math.min(toWidth - x, Math.round(box.width * sx)),
    height: Math.min(toHeight - y, Math.round(box.height * sy)),
  });
}

/** The detection with each object's box on the output image; unchanged when there is no output to place it on. */
function placed(detection: ItemDetection, output: ItemResult | undefined): ItemDetection {
  const copy = clone(ItemDetectionSchema, detection);
  const { sourceWidth, sourceHeight } = copy;
  const hasOutput = !!output?.outputKey && output.width > 0 && output.height > 0;
  for (const object of copy.objects) {
    if (hasOutput && output && object.sourceBox && sourceWidth > 0 && sourceHeight > 0) {
      object.box = scaleBox(object.sourceBox, sourceWidth, sourceHeight, output.width, output.height);
    } else object.box = undefined;
  }
  return copy;
}

/**
 * The item's result from its compression result and its detection result (either may be absent when the job did
 * not ask for it). FAILED when either task failed, with that task's error (compression's first); what the other
 * task produced is kept.
 */
export function mergeItem(compress: ItemResult | undefined, detect: ItemResult | undefined): ItemResult {
  const base = compress ?? detect;
  if (!base) throw new Error("mergeItem needs at least one task's result");
  const merged = clone(ItemResultSchema, base);
  if (detect?.detection) merged.detection = placed(detect.detection, compress);
  else merged.detection = undefined;
  const failed = [compress, detect].find((result) => result?.state === ItemState.FAILED);
  if (failed) {
    merged.state = ItemState.FAILED;
    merged.errorCode = failed.errorCode;
    merged.errorMessage = failed.errorMessage;
  }
  return merged;
}

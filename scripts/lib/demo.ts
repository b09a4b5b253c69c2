/**
 * The demo job of `npm run up`: uploads images the way the web client does (CreateUploads, then a PUT to
 * each presigned URL), submits them, and follows the job through the gateway until it ends.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  contentTypeOf,
  extensionOf,
  formatBytes,
  formatSaving,
  IMAGE_EXTENSIONS,
  type ItemResult,
  ItemState,
  isTerminalItemState,
  isTerminalJobState,
  type Job,
  JobService,
  JobState,
} from "@imgc/proto";
import { type Fixture, generateImages } from "./generated-images.js";

/** The corpus photos when ../shared/corpus/photos exists beside the repository, else a few generated images. */
export async function demoImages(repoRoot: string): Promise<{ images: Fixture[]; from: string }> {
  const dir = path.resolve(repoRoot, "..", "shared", "corpus", "photos");
  if (existsSync(dir)) {
    const names = readdirSync(dir).filter((name) => IMAGE_EXTENSIONS.has(extensionOf(name)));
    if (names.length > 0) {
      return { images: names.sort().map((name) => ({ name, body: readFileSync(path.join(dir, name)) })), from: dir };
    }
  }
  return { images: await generateImages(6, { minSide: 480, maxSide: 960, seed: 1 }), from: "generated images" };
}

export async function runDemo(gatewayHttp: string, images: Fixture[], say: (line: string) => void): Promise<Job> {
  const client = createClient(JobService, createConnectTransport({ baseUrl: gatewayHttp, httpVersion: "1.1" }));
  const started = Date.now();
  const { slots } = await client.createUploads({
    files: images.map((image) => ({
      name: image.name,
      size: BigInt(image.body.length),
      contentType: contentTypeOf(image.name),
    })),
  });
  await Promise.all(
    slots.map(async (slot, index) => {
      const image = images[index] as Fixture;
      const res = await fetch(slot.url, { method: "PUT", body: new Uint8Array(image.body) });
      if (!res.ok) throw new Error(`uploading ${image.name} answered ${res.status}`);
    }),
  );
  const names = new Map(slots.map((slot, index) => [slot.key, images[index]?.name ?? slot.key]));
  const { job } = await client.submitJob({
    sources: slots.map((slot) => ({ kind: { case: "uploadKey", value: slot.key } })),
    label: "npm run up demo",
  });
  if (!job) throw new Error("SubmitJob returned no job");
  say(`submitted job ${job.id}: ${images.length} images, ${formatBytes(sum(images.map((i) => i.body.length)))}`);

  const finished = await follow(client, job.id, (item) => say(describeItem(item, names)));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const counts = finished.counts;
  const saving = formatSaving(finished.bytesIn, finished.bytesOut);
  say(
    `job ${finished.id} ${JobState[finished.state]}: ${counts?.done ?? 0} compressed, ${counts?.keptOriginal ?? 0} kept, ` +
      `${counts?.failed ?? 0} failed; ${formatBytes(finished.bytesIn)} → ${formatBytes(finished.bytesOut)}` +
      `${saving ? ` (${saving})` : ""} in ${seconds} s`,
  );
  return finished;
}

/** WatchJob's item events as they come; polling GetJob if the stream breaks. */
async function follow(
  client: Client<typeof JobService>,
  jobId: string,
  onItem: (item: ItemResult) => void,
): Promise<Job> {
  const seen = new Set<string>();
  let after = 0n;
  try {
    for await (const { event } of client.watchJob({ jobId, afterSequence: after })) {
      if (!event) continue;
      after = event.sequence;
      // An item's first event is its start (RUNNING, no sizes yet): each is described once, when it ends.
      if (
        event.kind.case === "item" &&
        isTerminalItemState(event.kind.value.state) &&
        !seen.has(event.kind.value.itemId)
      ) {
        seen.add(event.kind.value.itemId);
        onItem(event.kind.value);
      }
      if (event.kind.case === "job" && isTerminalJobState(event.kind.value.state)) return event.kind.value;
    }
  } catch {
    // Fall through to polling.
  }
  for (;;) {
    const { job } = await client.getJob({ jobId });
    if (job && isTerminalJobState(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function describeItem(item: ItemResult, names: Map<string, string>): string {
  const name = names.get(item.sourceKey) ?? item.sourceKey;
  const by = item.workerId ? ` by ${item.workerId}` : "";
  if (item.state === ItemState.FAILED) return `${name}: failed (${item.errorMessage})${by}`;
  const what =
    item.state === ItemState.KEPT_ORIGINAL
      ? "kept the original"
      : `${formatBytes(item.inputBytes)} → ${formatBytes(item.outputBytes)} ${formatSaving(item.inputBytes, item.outputBytes)}`;
  return `${name}: ${what}${by} in ${item.durationMs} ms`;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

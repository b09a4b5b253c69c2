import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "nats";
import { describe, expect, it } from "vitest";
import {
  endedJob,
  pullChunks,
  runChunk,
  type TestCoordinator,
  tenantHeader,
  useTestStack,
} from "../testing/harness.js";

let nc: NatsConnection;
let t: TestCoordinator;
// "ingest" may read outside a tenant's folders (IMGC_SOURCE_READERS): the one way a job's source can be another
// tenant's upload, which GetResults must still never presign for it.
useTestStack((stack) => ({ nc, t } = stack), { settings: { sourceReaders: ["ingest"] } });

const code = (err: unknown) => ConnectError.from(err).code;

async function run(jobId: string) {
  for (const p of await pullChunks(nc, 100)) {
    await runChunk(t, "w1", p.chunk);
    p.ack();
  }
  return endedJob(t, jobId).catch(() => undefined);
}

describe("GetResults include_source_urls", () => {
  it("presigns the tenant's own uploads only, and only when asked", async () => {
    t.storage.put("uploads/default/o/1.jpg", 1000);
    t.storage.put("outputs/default/old/2.jpg", 1000);
    const { job } = await t.jobs.submitJob({
      sources: [
        { kind: { case: "uploadKey", value: "uploads/default/o/1.jpg" } },
        { kind: { case: "s3Prefix", value: { prefix: "outputs/default/old/" } } },
      ],
    });
    const jobId = job?.id ?? "";
    await run(jobId);

    const plain = await t.jobs.getResults({ jobId });
    expect(plain.results.map((r) => r.sourceUrl)).toEqual(["", ""]);
    const asked = await t.jobs.getResults({ jobId, includeSourceUrls: true });
    const [upload, output] = asked.results;
    expect(upload?.sourceUrl).toMatch(/^http:\/\/s3\.test\/imgc\/uploads\/default\/o\/1\.jpg\?expires=600$/);
    // An earlier output read as a source is not an upload: the job's outputs are had through download_url.
    expect(output?.sourceKey).toBe("outputs/default/old/2.jpg");
    expect(output?.sourceUrl).toBe("");

    // One item alone, as the web's compare asks; an id the job does not have gives nothing.
    const one = await t.jobs.getResults({ jobId, itemIds: ["000000"], includeSourceUrls: true });
    expect(one.results.map((r) => [r.itemId, r.sourceUrl !== ""])).toEqual([["000000", true]]);
    const forged = await t.jobs.getResults({ jobId, itemIds: ["000007"], includeSourceUrls: true });
    expect(forged.results).toEqual([]);

    // Another tenant cannot reach the job at all.
    expect(await t.jobs.getResults({ jobId, includeSourceUrls: true }, tenantHeader("acme")).catch(code)).toBe(
      Code.NotFound,
    );
  });

  it("gives nothing for another bucket's objects, even under a name like the tenant's uploads, nor another tenant's job", async () => {
    t.storage.put("uploads/default/secret/1.jpg", 1000);
    const { job: theirs } = await t.jobs.submitJob({
      sources: [{ kind: { case: "uploadKey", value: "uploads/default/secret/1.jpg" } }],
    });
    await run(theirs?.id ?? "");

    // acme's service may read other buckets; there "uploads/acme/…" is not the cluster's upload, and a URL
    // presigned for that key would hand out the cluster bucket's object of that name instead.
    const token = t.auth.mint({ role: "service", sub: "ingest", tenants: ["acme"] });
    const ingest = { headers: { authorization: `Bearer ${token}` } };
    t.storage.put("uploads/acme/mine/1.jpg", 1000);
    t.storage.put("uploads/acme/mine/1.jpg", 1000, "archive");
    const { job: mine } = await t.jobs.submitJob(
      {
        sources: [
          { kind: { case: "uploadKey", value: "uploads/acme/mine/1.jpg" } },
          { kind: { case: "s3Prefix", value: { bucket: "archive", prefix: "uploads/acme/mine/" } } },
        ],
      },
      ingest,
    );
    const mineId = mine?.id ?? "";
    await run(mineId);
    const page = await t.jobs.getResults({ jobId: mineId, includeSourceUrls: true }, ingest);
    expect(page.results.map((r) => r.sourceKey)).toEqual(["uploads/acme/mine/1.jpg", "uploads/acme/mine/1.jpg"]);
    expect(page.results[0]?.sourceUrl).toContain("/imgc/uploads/acme/mine/1.jpg");
    expect(page.results[1]?.sourceUrl).toBe("");

    // The other tenant's job, by its id, does not exist for acme.
    const asked = { jobId: theirs?.id ?? "", itemIds: ["000000"], includeSourceUrls: true };
    expect(await t.jobs.getResults(asked, ingest).catch(code)).toBe(Code.NotFound);
  });
});

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  type ItemResult,
  ItemResultSchema,
  ItemState,
  type Job,
  JobCountsSchema,
  type JobEvent,
  JobSchema,
  JobService,
  JobState,
} from "@imgc/proto";
import { describe, expect, test, vi } from "vitest";
import type { Api } from "./api.js";
import { createBatch } from "./batch.js";
import { type CompareSubject, offlineOriginal } from "./compare.js";
import type { JobView, Stage } from "./job-view.js";
import { defaultOptions } from "./options.js";
import type { RecentJobs } from "./recent-jobs.js";
import type { Row } from "./row.js";

const jpeg = (name: string) => new File([new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0])], name);

/**
 * An in-memory JobService: uploads get keys, a submitted job's items end as `outcome` says once `release`
 * is called (a job stays running until then), and RetryJob and DeleteJob answer as the gateway would.
 */
function cluster(outcome: (name: string) => ItemState) {
  const jobs = new Map<string, { job: Job; items: ItemResult[] }>();
  const calls: string[] = [];
  let unreachable = false;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const newJob = (id: string, keys: readonly string[], label: string) => {
    const job = create(JobSchema, { id, label, state: JobState.RUNNING });
    const items = keys.map((sourceKey, i) =>
      create(ItemResultSchema, { itemId: String(i), sourceKey, inputBytes: 8n, state: ItemState.PENDING }),
    );
    jobs.set(id, { job, items });
    return job;
  };
  const transport = createRouterTransport(({ service }) =>
    service(JobService, {
      createUploads(req) {
        calls.push("createUploads");
        return { slots: req.files.map((f) => ({ key: `uploads/t/x/${f.name}`, url: `https://s3.test/${f.name}` })) };
      },
      submitJob(req) {
        calls.push("submitJob");
        const keys = req.sources.map((s) => (s.kind.case === "uploadKey" ? s.kind.value : ""));
        return { job: newJob(`job${jobs.size + 1}`.padEnd(20, "0"), keys, req.label) };
      },
      async *watchJob(req) {
        const held = jobs.get(req.jobId);
        if (!held) return;
        await released;
        let sequence = 0n;
        for (const item of held.items) {
          const name = item.sourceKey.slice(item.sourceKey.lastIndexOf("/") + 1);
          Object.assign(item, { state: outcome(name), outputBytes: 4n, outputKey: `outputs/${name}` });
          yield { event: { sequence: ++sequence, jobId: req.jobId, kind: { case: "item", value: item } } };
        }
        const failed = held.items.filter((i) => i.state === ItemState.FAILED).length;
        held.job.state = failed ? JobState.COMPLETED_WITH_ERRORS : JobState.COMPLETED;
        held.job.counts = create(JobCountsSchema, {
          total: held.items.length,
          done: held.items.length - failed,
          failed,
        });
        const event = { sequence: ++sequence, jobId: req.jobId, kind: { case: "job" as const, value: held.job } };
        yield { event } as { event: JobEvent };
      },
      getResults(req) {
        calls.push(`getResults${req.includeSourceUrls ? " with originals" : ""}`);
        if (unreachable) throw new ConnectError("Failed to fetch", Code.Unavailable);
        const held = jobs.get(req.jobId);
        const asked = held?.items.filter((i) => req.itemIds.length === 0 || req.itemIds.includes(i.itemId)) ?? [];
        const results = asked.map((item) =>
          create(ItemResultSchema, {
            ...item,
            downloadUrl: req.includeUrls ? `https://s3.test/${item.outputKey}` : "",
            sourceUrl: req.includeSourceUrls ? `https://s3.test/${item.sourceKey}` : "",
          }),
        );
        return held ? { job: held.job, results } : {};
      },
      retryJob(req) {
        calls.push("retryJob");
        const failed = (jobs.get(req.jobId)?.items ?? []).filter((i) => i.state === ItemState.FAILED);
        return {
          job: newJob(
            "retry".padEnd(20, "0"),
            failed.map((i) => i.sourceKey),
            "retry",
          ),
        };
      },
      deleteJob(req) {
        calls.push(`deleteJob ${req.jobId}`);
        jobs.delete(req.jobId);
        return {};
      },
    }),
  );
  return {
    client: createClient(JobService, transport),
    calls,
    release,
    /** From now on GetResults fails as a fetch does when the network is down. */
    cutOff: () => {
      unreachable = true;
    },
  };
}

function page(outcome: (name: string) => ItemState = () => ItemState.DONE) {
  const fake = cluster(outcome);
  let rows: readonly Row[] = [];
  let stage: Stage = { kind: "empty" };
  const announced: string[] = [];
  const errors: string[] = [];
  const shown: (string | undefined)[] = [];
  const compared: CompareSubject[] = [];
  let batchName = "";
  const recent = { remember: vi.fn(), forget: vi.fn(), parentOf: () => undefined, labelOf: () => "" };
  const view = {
    setRows: (next: readonly Row[]) => {
      rows = next;
    },
    touch: () => {},
    setStage: (next: Stage) => {
      stage = next;
    },
    setError: (message: string) => errors.push(message),
    setPending: vi.fn(),
    setThumbnails: () => {},
    visibleRows: () => [...rows],
    batchName: () => batchName,
    reveal: () => {},
    setWork: () => {},
  } satisfies JobView;
  const batch = createBatch({
    api: { jobs: fake.client } as unknown as Api,
    view,
    dropZone: { setEnabled: () => {} },
    compare: { open: (subject: CompareSubject) => compared.push(subject) },
    recent: recent as unknown as RecentJobs,
    options: () => defaultOptions,
    announce: (message) => announced.push(message),
    showing: (jobId) => shown.push(jobId),
    put: async (_url, body, _type, onProgress) => onProgress(body.size),
  });
  return {
    batch,
    fake,
    view,
    recent,
    announced,
    errors,
    shown,
    compared,
    rows: () => rows,
    stage: () => stage,
    /** What the person typed as the batch's name before Compress. */
    name: (typed: string) => {
      batchName = typed;
    },
  };
}

describe("a batch, through its parts", () => {
  test("files are checked, uploaded, submitted as one job and followed to its end", async () => {
    const p = page();
    p.batch.addFiles([jpeg("a.jpg"), jpeg("b.jpg"), new File(["hello"], "notes.jpg")]);
    await p.batch.start();
    expect(p.announced[0]).toBe("2 images added, 1 refused.");
    expect(p.fake.calls).toEqual(["createUploads", "submitJob"]);
    expect(p.stage()).toMatchObject({ kind: "job", title: "a.jpg and b.jpg" });
    expect(p.shown).toEqual([p.batch.jobId()]);
    expect(p.recent.remember).toHaveBeenCalledOnce();
    p.fake.release();
    await vi.waitFor(() => expect(p.announced).toHaveLength(2));
    expect(p.announced[1]).toBe("Job finished: 2 of 2 images compressed, 16 bytes became 8 bytes (−50%).");
    expect(p.rows().map((r) => `${r.name} ${r.phase}`)).toEqual(["a.jpg done", "b.jpg done", "notes.jpg refused"]);
    expect(p.batch.busy()).toBe(false);
  });

  test("a name typed before Compress is the job's label; left empty, the job is named after its files", async () => {
    const p = page();
    p.batch.addFiles([jpeg("a.jpg"), jpeg("b.jpg"), jpeg("c.jpg")]);
    p.name("Holiday");
    await p.batch.start();
    expect(p.stage()).toMatchObject({ kind: "job", title: "Holiday" });
    expect(p.recent.remember).toHaveBeenLastCalledWith(expect.objectContaining({ label: "Holiday" }));
    p.batch.clear();
    p.name("");
    p.batch.addFiles([jpeg("d.jpg"), jpeg("e.jpg"), jpeg("f.jpg")]);
    await p.batch.start();
    expect(p.stage()).toMatchObject({ kind: "job", title: "d.jpg and 2 more" });
  });

  test("files dropped while the job runs wait for the person's word", async () => {
    const p = page();
    p.batch.addFiles([jpeg("a.jpg")]);
    await p.batch.start();
    p.batch.addFiles([jpeg("c.jpg")]);
    expect(p.view.setPending).toHaveBeenLastCalledWith(1);
    expect(p.rows().map((r) => r.name)).toEqual(["a.jpg"]);
    p.batch.acceptPending();
    expect(p.rows().map((r) => r.name)).toEqual(["c.jpg"]);
    expect(p.stage().kind).toBe("staged");
    expect(p.shown.at(-1)).toBeUndefined();
  });

  test("Retry N failed shows the new job with the failed rows only, and Delete job empties the page", async () => {
    const p = page((name) => (name === "b.jpg" ? ItemState.FAILED : ItemState.DONE));
    p.batch.addFiles([jpeg("a.jpg"), jpeg("b.jpg")]);
    await p.batch.start();
    const first = p.batch.jobId();
    p.fake.release();
    await vi.waitFor(() => expect(p.announced.at(-1)).toMatch(/^Job finished: 1 of 2 images compressed, 1 failed/));
    await p.batch.retryFailed();
    expect(p.announced.at(-1)).toBe("1 image sent again.");
    expect(p.batch.jobId()).not.toBe(first);
    expect(p.recent.remember).toHaveBeenLastCalledWith(expect.objectContaining({ id: p.batch.jobId() }), first);
    expect(p.rows().map((r) => `${r.name} ${r.phase}`)).toEqual(["b.jpg queued"]);
    const retry = p.batch.jobId();
    await p.batch.deleteJob();
    expect(p.fake.calls.at(-1)).toBe(`deleteJob ${retry}`);
    expect(p.recent.forget).toHaveBeenCalledWith(retry);
    expect(p.stage().kind).toBe("empty");
    expect(p.rows()).toEqual([]);
    expect(p.announced.at(-1)).toBe("Job deleted.");
    expect(p.errors).toEqual([]);
  });

  test("a reopened job compares against the cluster's original; offline, it says so and still shows the result", async () => {
    const p = page();
    p.batch.addFiles([jpeg("a.jpg"), jpeg("b.jpg")]);
    await p.batch.start();
    const jobId = p.batch.jobId() ?? "";
    p.fake.release();
    await vi.waitFor(() => expect(p.announced.at(-1)).toMatch(/^Job finished/));
    // With the files in hand the comparison uses them and asks the cluster for no original.
    await p.batch.compareRow(p.rows()[0] as Row);
    expect(p.compared[0]?.before).toBeInstanceOf(File);
    expect(p.fake.calls.filter((c) => c.includes("with originals"))).toEqual([]);

    // Reopened (a reload, Recent jobs): the rows have no files, so the cluster's copy is asked for, one item.
    p.batch.clear();
    await p.batch.open(jobId);
    await vi.waitFor(() => expect(p.rows().map((r) => r.phase)).toEqual(["done", "done"]));
    expect(p.rows().every((r) => r.file === undefined)).toBe(true);
    await p.batch.compareRow(p.rows()[1] as Row);
    expect(p.compared[1]).toMatchObject({
      before: "https://s3.test/uploads/t/x/b.jpg",
      after: "https://s3.test/outputs/b.jpg",
    });
    expect(p.compared[1]?.beforeProblem).toBeUndefined();
    expect(p.fake.calls.at(-1)).toBe("getResults with originals");

    // The network goes: the comparison opens with the result it holds and says why the original is missing.
    p.fake.cutOff();
    vi.stubGlobal("navigator", { onLine: false });
    try {
      await p.batch.compareRow(p.rows()[1] as Row);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(p.compared[2]).toMatchObject({ beforeProblem: offlineOriginal, after: "https://s3.test/outputs/b.jpg" });
    expect(p.compared[2]?.before).toBeUndefined();
    // Online but unreachable: the words, never the browser's "Failed to fetch".
    await p.batch.compareRow(p.rows()[0] as Row);
    expect(p.compared.at(-1)?.beforeProblem).toBe(
      "The original cannot be loaded now: the cluster could not be reached; check the connection and try again.",
    );
    expect(p.errors).toEqual([]);
  });
});

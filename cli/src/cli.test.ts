/**
 * The CLI as a user meets it: runCli with captured output, against an in-memory JobService (the gateway is
 * not what is tested here) and a fetch that serves the outputs.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import {
  ChromaSubsampling,
  ClusterService,
  ErrorCode,
  Fit,
  ImageFormat,
  ItemState,
  JobService,
  JobState,
  MetadataPolicy,
  TaskKind,
} from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { commands, runCli } from "./cli.js";
import type { Context } from "./context.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fetch request as the fake saw it. */
interface Fetched {
  url: string;
  headers: Record<string, string>;
}

function harness(
  jobImpl: Partial<ServiceImpl<typeof JobService>>,
  served = new Map<string, Buffer | Response>(),
  env: Record<string, string> = {},
  fetched: Fetched[] = [],
) {
  const jobs = createClient(
    JobService,
    createRouterTransport(({ service }) => service(JobService, jobImpl)),
  );
  const cluster = createClient(
    ClusterService,
    createRouterTransport(({ service }) =>
      service(ClusterService, {
        listWorkers: () => ({
          workers: [{ id: "worker-2", host: "b", slots: 4, busy: 1, itemsDone: 7n, itemsPerSecond: 2.5 }],
        }),
      }),
    ),
  );
  return async (argv: string[]): Promise<Run> => {
    let stdout = "";
    let stderr = "";
    const context: Context = {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env,
      jobs: () => jobs,
      cluster: () => cluster,
      fetch: (async (url: string | URL | Request, init?: RequestInit) => {
        fetched.push({ url: String(url), headers: { ...(init?.headers as Record<string, string>) } });
        const body = served.get(String(url));
        if (body instanceof Response) return body;
        return body ? new Response(body) : new Response("no such object", { status: 404 });
      }) as typeof fetch,
    };
    const code = await runCli(argv, context);
    return { code, stdout, stderr };
  };
}

describe("usage", () => {
  const run = harness({});

  test("no command prints the help on stderr and exits 2; --help prints it on stdout and exits 0", async () => {
    const bare = await run([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Usage: imgc <command>/);
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    for (const command of commands) expect(help.stdout).toContain(`  ${command.name}`);
  });

  test.each(commands.map((command) => command.name))("imgc %s --help explains its usage", async (name) => {
    const { code, stdout } = await run([name, "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: imgc ${name}`));
  });

  test("an unknown command or option, or a bad value, exits 2 with a pointer to --help", async () => {
    expect(await run(["compres"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown command "compres"/),
    });
    const option = await run(["status", "--verbose", "job"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe("imgc status: unknown option '--verbose'\nRun \"imgc status --help\" for usage.\n");
    const quality = await run(["compress", "a.jpg", "--quality", "120"]);
    expect(quality.code).toBe(2);
    expect(quality.stderr).toMatch(
      /^imgc compress: Expected integer between 1 and 100 for --quality but received 120\n/,
    );
    expect(await run(["status"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/missing <job>/) });
    const huge = await run(["z".repeat(100_000)]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toBe(
      `imgc: unknown command "${"z".repeat(40)}"… (100000 characters)\nRun "imgc --help" for the commands.\n`,
    );
    expect(await run(["compress", "/no/such/file.jpg"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no such file or directory: \/no\/such\/file.jpg/),
    });
  });
});

describe("commands", () => {
  test("retry sends the items and only the options asked for, and prints the new job", async () => {
    const asked: unknown[] = [];
    const run = harness({
      retryJob(request) {
        asked.push(request);
        return { job: { id: "retry-1", retryOf: request.jobId, state: JobState.QUEUED }, created: asked.length === 1 };
      },
    });
    expect(await run(["retry", "job-1"])).toEqual({ code: 0, stdout: "retry-1\n", stderr: "" });
    expect(asked[0]).toMatchObject({ jobId: "job-1", itemIds: [], priority: 0 });
    expect((asked[0] as { options?: unknown }).options).toBeUndefined();
    const again = await run(["retry", "job-1", "--items", "000001,000004", "--format", "png", "--priority", "high"]);
    expect(again.stdout).toBe("retry-1 (this retry was asked before)\n");
    expect(asked[1]).toMatchObject({
      itemIds: ["000001", "000004"],
      options: { format: ImageFormat.PNG },
      priority: 1,
    });
    const refused = await run(["retry", "job-1", "--label", "x"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--label does not apply to a retry");
    expect((await run(["retry", "job-1", "--quality", "120"])).stderr).toContain(
      "Expected integer between 1 and 100 for --quality but received 120",
    );
    expect(asked).toHaveLength(2);
  });

  test("results --state and --items ask the server for only those", async () => {
    const asked: { itemIds: string[]; states: ItemState[] }[] = [];
    const run = harness({
      getResults(request) {
        asked.push(request);
        return { results: [{ itemId: "000001", state: ItemState.FAILED, errorCode: ErrorCode.CORRUPT_INPUT }] };
      },
    });
    const { code, stdout } = await run([
      "results",
      "job-1",
      "--state",
      "failed,kept_original",
      "--items",
      "000001, 000004",
      "--csv",
    ]);
    expect(code).toBe(0);
    expect(stdout.split("\r\n")[1]).toMatch(/^000001,,,FAILED,/);
    expect(asked[0]).toMatchObject({
      itemIds: ["000001", "000004"],
      states: [ItemState.FAILED, ItemState.KEPT_ORIGINAL],
    });
    expect((await run(["results", "job-1", "--state", "broken"])).stderr).toContain(
      "Expected a comma-separated list of pending, running, done, kept_original, failed for --state but received",
    );
  });

  test("delete deletes the job and says how many objects went; an unknown job exits 1", async () => {
    const run = harness({
      deleteJob(request) {
        if (request.jobId === "missing") throw new ConnectError('job "missing" not found', Code.NotFound);
        return { objectsDeleted: 7 };
      },
    });
    expect(await run(["delete", "job-1"])).toEqual({
      code: 0,
      stdout: "deleted job job-1 and 7 objects\n",
      stderr: "",
    });
    expect(JSON.parse((await run(["delete", "job-1", "--json"])).stdout)).toEqual({ objectsDeleted: 7 });
    expect((await run(["delete", "missing"])).code).toBe(1);
  });

  test("--retention-days reaches SubmitJob, checked", async () => {
    const asked: { retentionDays: number }[] = [];
    const run = harness({
      submitJob(request) {
        asked.push(request);
        return { job: { id: "job-9" }, created: true };
      },
    });
    expect((await run(["submit", "uploads/t/a.jpg", "--retention-days", "7"])).code).toBe(0);
    expect(asked[0]?.retentionDays).toBe(7);
    expect((await run(["submit", "uploads/t/a.jpg", "--retention-days", "0"])).stderr).toContain(
      "Expected integer between 1 and 3650 for --retention-days but received 0",
    );
  });

  test("status prints the job, --json prints protobuf JSON, and a server error exits 1 with its code", async () => {
    const run = harness({
      getJob(request) {
        if (request.jobId === "missing") throw new ConnectError('job "missing" not found', Code.NotFound);
        return { job: { id: request.jobId, state: JobState.COMPLETED, counts: { total: 2, done: 2 } } };
      },
    });
    const plain = await run(["status", "job-1"]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^job +job-1\nstate +completed\nitems +2\/2 ended: 2 done/);
    const json = await run(["status", "job-1", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: "job-1", state: "JOB_STATE_COMPLETED" });
    expect(await run(["status", "missing"])).toEqual({
      code: 1,
      stdout: "",
      stderr: 'imgc status: not_found: job "missing" not found\n',
    });
  });

  test("results --csv has a header and one row per item", async () => {
    const run = harness({
      getResults: (request) =>
        request.pageToken === ""
          ? {
              results: [{ itemId: "000000", sourceKey: "uploads/t/u/a,b.jpg", state: ItemState.DONE, inputBytes: 10n }],
              nextPageToken: "p2",
            }
          : {
              results: [
                {
                  itemId: "000001",
                  state: ItemState.FAILED,
                  errorCode: ErrorCode.CORRUPT_INPUT,
                  errorMessage: 'bad "header"',
                },
              ],
            },
    });
    const { code, stdout } = await run(["results", "job-1", "--csv"]);
    expect(code).toBe(0);
    // The job report's CSV (@imgc/proto), the same as the gateway's report.csv: CRLF lines and a TOTAL row.
    const lines = stdout.trimEnd().split("\r\n");
    expect(lines[0]).toMatch(
      /^item_id,source_key,name,state,input_bytes,output_bytes,bytes_saved,saving_percent,format/,
    );
    expect(lines[1]).toMatch(/^000000,"uploads\/t\/u\/a,b.jpg",,DONE,10,/);
    expect(lines[2]).toMatch(/^000001,,,FAILED,.*,CORRUPT_INPUT,"bad ""header""",/);
    expect(lines[3]).toMatch(/^TOTAL,2 items,,"1 done, 0 kept, 1 failed, 0 pending",/);
    expect(lines).toHaveLength(4);
  });

  test("results --csv defuses a source name a spreadsheet would run as a formula", async () => {
    // The CLI's CSV had no formula guard before it printed the shared report.
    const run = harness({
      getResults: () => ({
        results: [{ itemId: "000000", sourceKey: "=HYPERLINK(1)", state: ItemState.FAILED, errorMessage: "@SUM(A1)" }],
      }),
    });
    const { stdout } = await run(["results", "job-1", "--csv"]);
    expect(stdout.split("\r\n")[1]).toMatch(/^000000,'=HYPERLINK\(1\),,FAILED,.*,'@SUM\(A1\),/);
  });

  test("results --zip downloads the job's zip from IMGC_HTTP_URL with the API key, through a temporary file", async () => {
    const zip = Buffer.from("PK\u0003\u0004 pretend zip");
    const fetched: Fetched[] = [];
    const run = harness(
      {},
      new Map([["http://gw.test:9090/v1/jobs/job-1/results.zip", zip]]),
      { IMGC_HTTP_URL: "http://gw.test:9090/", IMGC_API_KEY: "k-1" },
      fetched,
    );
    const dir = await mkdtemp(join(tmpdir(), "imgc-cli-zip-"));
    const { code, stdout, stderr } = await run(["results", "job-1", "--zip", join(dir, "out.zip")]);
    expect(code, stderr).toBe(0);
    expect(stdout).toBe(`wrote ${join(dir, "out.zip")} (${zip.length} bytes)\n`);
    expect(await readFile(join(dir, "out.zip"))).toEqual(zip);
    expect(await readdir(dir)).toEqual(["out.zip"]);
    expect(fetched).toEqual([
      { url: "http://gw.test:9090/v1/jobs/job-1/results.zip", headers: { authorization: "Bearer k-1" } },
    ]);
  });

  test("results --zip of an unknown job exits 1 with the gateway's code and message, and writes nothing", async () => {
    const notFound = new Response(JSON.stringify({ code: "not_found", message: 'job "nope" not found' }), {
      status: 404,
      headers: { "content-type": "application/json" },
    });
    const run = harness({}, new Map([["http://127.0.0.1:8080/v1/jobs/nope/results.zip", notFound]]));
    const dir = await mkdtemp(join(tmpdir(), "imgc-cli-zip-"));
    expect(await run(["results", "nope", "--zip", join(dir, "out.zip")])).toEqual({
      code: 1,
      stdout: "",
      stderr: 'imgc results: download failed: not_found: job "nope" not found\n',
    });
    expect(await readdir(dir)).toEqual([]);
  });

  test("workers lists the coordinator's workers, what each does, and the jobs that wait for a kind", async () => {
    const { code, stdout } = await harness({
      listJobs: (request) => ({
        jobs:
          request.state === JobState.QUEUED
            ? [
                {
                  id: "job-waits",
                  state: JobState.QUEUED,
                  notice: "Waiting for a worker that can detect objects: none is live",
                },
                { id: "job-fine", state: JobState.QUEUED },
              ]
            : [],
      }),
    })(["workers"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^worker +host +does +busy +items +items\/s +state/);
    expect(stdout).toMatch(/worker-2 +b +compress +1\/4 +7 +2\.5 +active/);
    expect(stdout).toContain("job job-waits: Waiting for a worker that can detect objects: none is live");
    expect(stdout).not.toContain("job-fine");
  });

  test("results shows the labels detection found, and --csv a labels column", async () => {
    const run = harness({
      getResults: () => ({
        results: [
          {
            itemId: "000000",
            sourceKey: "uploads/default/j/coffee.png",
            state: ItemState.DONE,
            inputBytes: 1000n,
            detection: {
              objects: [
                { label: "cup", score: 0.9 },
                { label: "dining table", score: 0.6 },
              ],
            },
          },
        ],
      }),
    });
    const table = await run(["results", "job-1"]);
    expect(table.stdout).toMatch(/labels\n/);
    expect(table.stdout).toMatch(/000000 coffee\.png +done +.*cup, dining table\n/);
    const csv = await run(["results", "job-1", "--csv"]);
    expect(csv.stdout.split("\r\n")[0]).toMatch(/,labels$/);
    expect(csv.stdout.split("\r\n")[1]).toMatch(/,cup;dining table$/);
  });

  test("submit sends upload keys and prefixes with the options, and prints the job id", async () => {
    let seen: unknown;
    const run = harness({
      submitJob(request) {
        seen = request;
        return { job: { id: "job-9", state: JobState.QUEUED }, created: true };
      },
    });
    const { code, stdout } = await run([
      "submit",
      "uploads/t/u/a.jpg",
      "--prefix",
      "incoming/",
      "--format",
      "avif",
      "--priority",
      "low",
    ]);
    expect([code, stdout]).toEqual([0, "job-9\n"]);
    expect(seen).toMatchObject({
      sources: [
        { kind: { case: "uploadKey", value: "uploads/t/u/a.jpg" } },
        { kind: { case: "s3Prefix", value: { prefix: "incoming/", bucket: "" } } },
      ],
      options: { format: ImageFormat.AVIF },
    });
  });
});

describe("compress", () => {
  async function inputs() {
    const dir = await mkdtemp(join(tmpdir(), "imgc-cli-in-"));
    const files = {
      "rocket.jpg": Buffer.alloc(3 * 1024 * 1024 + 5, 1), // more than one 1 MiB upload message
      "street.webp": Buffer.alloc(2000, 2),
      "broken.jpg": Buffer.alloc(100, 3),
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    return { dir, files };
  }

  /** A fake gateway: stores uploads, runs the job instantly (broken.jpg fails), serves outputs. */
  function fakeCluster() {
    const uploads = new Map<string, { name: string; sha256: string; size: number; messages: number }>();
    const served = new Map<string, Buffer>();
    let submitted: string[] = [];
    const impl: Partial<ServiceImpl<typeof JobService>> = {
      async uploadImage(requests) {
        let name = "";
        let messages = 0;
        const hash = createHash("sha256");
        let size = 0;
        for await (const message of requests) {
          messages++;
          if (message.part.case === "header") name = message.part.value.name;
          if (message.part.case === "chunk") {
            hash.update(message.part.value);
            size += message.part.value.length;
          }
        }
        const key = `uploads/default/u${uploads.size}/${name}`;
        uploads.set(key, { name, sha256: hash.digest("hex"), size, messages });
        return { key, size: BigInt(size) };
      },
      submitJob(request) {
        submitted = request.sources.map((s) => (s.kind.case === "uploadKey" ? s.kind.value : ""));
        return { job: { id: "job-c", state: JobState.QUEUED }, created: true };
      },
      async *watchJob() {
        yield { event: { sequence: 1n, kind: { case: "job", value: { id: "job-c", state: JobState.RUNNING } } } };
      },
      getJob: () => ({ job: { id: "job-c", state: JobState.COMPLETED_WITH_ERRORS, counts: { total: 3 } } }),
      getResults: () => ({
        results: submitted.map((key, index) => {
          const upload = uploads.get(key);
          const itemId = String(index).padStart(6, "0");
          if (upload?.name === "broken.jpg") {
            return {
              itemId,
              sourceKey: key,
              state: ItemState.FAILED,
              errorCode: ErrorCode.CORRUPT_INPUT,
              errorMessage: "damaged",
              workerId: "worker-1",
              inputBytes: 100n,
            };
          }
          const url = `http://s3.test/outputs/${itemId}`;
          served.set(url, Buffer.from(`output of ${upload?.name}`));
          return {
            itemId,
            sourceKey: key,
            state: ItemState.DONE,
            format: ImageFormat.WEBP,
            outputKey: `outputs/default/job-c/${itemId}.webp`,
            inputBytes: BigInt(upload?.size ?? 0),
            outputBytes: 100n,
            workerId: `worker-${index + 1}`,
            downloadUrl: url,
          };
        }),
      }),
    };
    return { impl, uploads, served };
  }

  test("uploads each file streamed, writes <base name>.<ext> to --out, prints the worker, exits 1 on a failed item", async () => {
    const { dir, files } = await inputs();
    const out = join(await mkdtemp(join(tmpdir(), "imgc-cli-out-")), "nested");
    const cluster = fakeCluster();
    const run = harness(cluster.impl, cluster.served);
    const { code, stdout, stderr } = await run(["compress", dir, "--format", "webp", "--out", out]);

    expect(code, stderr).toBe(1);
    const rocket = [...cluster.uploads.values()].find((u) => u.name === "rocket.jpg");
    expect(rocket?.size).toBe(files["rocket.jpg"].length);
    expect(rocket?.sha256).toBe(createHash("sha256").update(files["rocket.jpg"]).digest("hex"));
    expect(rocket?.messages).toBe(1 + 4); // the header, then 1 MiB pieces

    expect((await readdir(out)).sort()).toEqual(["rocket.webp", "street.webp"]);
    expect(await readFile(join(out, "rocket.webp"), "utf8")).toBe("output of rocket.jpg");
    expect(stdout).toMatch(/rocket\.jpg +done +3\.15 MB → 100 bytes +−100% +webp +worker-\d/);
    expect(stdout).toMatch(/broken\.jpg +failed +100 bytes +worker-\d +CORRUPT_INPUT: damaged/);
    expect(stdout).toMatch(/3 files: 2 compressed, 0 kept as they were, 1 failed/);
  });

  test("every compression flag reaches SubmitJob; progress goes to stderr as plain lines with counts and bytes", async () => {
    const { dir } = await inputs();
    const out = await mkdtemp(join(tmpdir(), "imgc-cli-out-"));
    const cluster = fakeCluster();
    let options: unknown;
    const submitJob = cluster.impl.submitJob as NonNullable<typeof cluster.impl.submitJob>;
    cluster.impl.submitJob = (request, context) => {
      options = request.options;
      return submitJob(request, context);
    };
    const run = harness(cluster.impl, cluster.served);
    const { stdout, stderr } = await run([
      "compress",
      dir,
      "--auto-formats",
      "avif,webp",
      "--min-ssim",
      "0.98",
      "--max-width",
      "1200",
      "--fit",
      "contain",
      "--metadata",
      "keep-all",
      "--effort",
      "7",
      "--chroma",
      "444",
      "--progressive",
      "--flatten-animation",
      "--allow-larger",
      "--out",
      out,
    ]);
    expect(options).toMatchObject({
      format: ImageFormat.AUTO,
      autoFormats: [ImageFormat.AVIF, ImageFormat.WEBP],
      target: { goal: { case: "minSsim", value: 0.98 } },
      resize: { maxWidth: 1200, maxHeight: 0, fit: Fit.CONTAIN, allowEnlarge: false },
      metadata: MetadataPolicy.KEEP_ALL,
      effort: 7,
      chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_444,
      progressive: true,
      palette: false,
      flattenAnimation: true,
      allowLarger: true,
    });
    // Not a terminal: no bar, no escape sequences, and the final state of each phase is always printed.
    expect(stderr).not.toContain("\x1b");
    expect(stderr).toMatch(/^uploading 3\/3 files \(100%\) · 3\.15 MB\/3\.15 MB/m);
    expect(stderr).toMatch(/^job job-c completed_with_errors/m);
    expect(stderr).toMatch(/^downloaded 2 outputs to /m);
    expect(stdout).toMatch(/3 files: 2 compressed/);
  });

  test("exits 0 when every file came out; --json gives one document", async () => {
    const { dir } = await inputs();
    const out = await mkdtemp(join(tmpdir(), "imgc-cli-out-"));
    const cluster = fakeCluster();
    const run = harness(cluster.impl, cluster.served);
    const { code, stdout } = await run([
      "compress",
      join(dir, "rocket.jpg"),
      join(dir, "street.webp"),
      "-o",
      out,
      "--json",
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { files: { file: string; ok: boolean; worker: string; output: string }[] };
    expect(report.files.map((f) => [f.ok, f.output])).toEqual([
      [true, join(out, "rocket.webp")],
      [true, join(out, "street.webp")],
    ]);
    expect(report.files[0]?.worker).toMatch(/^worker-/);
  });

  test("an s3://bucket/prefix source is submitted as a prefix, not uploaded, and its objects come out by name", async () => {
    let sources: unknown;
    const served = new Map<string, Buffer>();
    const objects = ["incoming/2026/a.jpg", "incoming/2026/deep/b.png"];
    const run = harness(
      {
        uploadImage: () => {
          throw new ConnectError("nothing should be uploaded", Code.Internal);
        },
        submitJob(request) {
          sources = request.sources;
          return { job: { id: "job-s", state: JobState.QUEUED }, created: true };
        },
        async *watchJob() {
          yield { event: { sequence: 1n, kind: { case: "job", value: { id: "job-s", state: JobState.COMPLETED } } } };
        },
        getJob: () => ({ job: { id: "job-s", state: JobState.COMPLETED, counts: { total: 2 } } }),
        getResults: () => ({
          results: objects.map((key, index) => {
            const url = `http://s3.test/out/${index}`;
            served.set(url, Buffer.from(`output of ${key}`));
            return {
              itemId: String(index).padStart(6, "0"),
              sourceKey: key,
              state: ItemState.DONE,
              format: ImageFormat.AVIF,
              outputKey: `outputs/default/job-s/${String(index).padStart(6, "0")}.avif`,
              inputBytes: 1000n,
              outputBytes: 400n,
              workerId: "worker-1",
              downloadUrl: url,
            };
          }),
        }),
      },
      served,
    );
    const out = await mkdtemp(join(tmpdir(), "imgc-cli-out-"));
    const { code, stdout, stderr } = await run(["compress", "s3://photos-bucket/incoming/2026/", "--out", out]);
    expect(code, stderr).toBe(0);
    expect(sources).toMatchObject([
      { kind: { case: "s3Prefix", value: { bucket: "photos-bucket", prefix: "incoming/2026/" } } },
    ]);
    expect((await readdir(out)).sort()).toEqual(["a.avif", "b.avif"]);
    expect(await readFile(join(out, "b.avif"), "utf8")).toBe("output of incoming/2026/deep/b.png");
    expect(stdout).toMatch(/a\.jpg +done +1 KB → 400 bytes/);
    expect(stdout).toMatch(/2 files: 2 compressed, 0 kept as they were, 0 failed/);
  });

  test("compress --detect-only asks for detection, downloads nothing, and lists the objects found", async () => {
    let request: { tasks?: unknown; detection?: unknown } = {};
    const run = harness({
      submitJob(req) {
        request = req;
        return { job: { id: "job-d", state: JobState.QUEUED }, created: true };
      },
      async *watchJob() {
        yield { event: { sequence: 1n, kind: { case: "job", value: { id: "job-d", state: JobState.COMPLETED } } } };
      },
      getJob: () => ({ job: { id: "job-d", state: JobState.COMPLETED, counts: { total: 1 } } }),
      getResults: () => ({
        results: [
          {
            itemId: "000000",
            sourceKey: "cams/street.jpg",
            state: ItemState.DONE,
            inputBytes: 1000n,
            detection: {
              workerId: "detector-1",
              objects: [
                { label: "car", score: 0.9 },
                { label: "person", score: 0.7 },
              ],
            },
          },
        ],
      }),
    });
    const out = await mkdtemp(join(tmpdir(), "imgc-cli-out-"));
    const { code, stdout, stderr } = await run([
      "compress",
      "s3://imgc/cams/",
      "--detect-only",
      "--detect-labels",
      "car,person",
      "--out",
      out,
    ]);
    expect(code, stderr).toBe(0);
    expect(request.tasks).toEqual([TaskKind.DETECT]);
    expect(request.detection).toMatchObject({ labels: ["car", "person"] });
    expect(await readdir(out)).toEqual([]);
    expect(stdout).toMatch(/street\.jpg +done +1 KB +detector-1 +car, person/);
    expect(stdout).toMatch(/1 file: 0 compressed, 0 kept as they were, 1 with objects detected only, 0 failed/);
  });

  test("a bad s3:// source is a usage error; a job that failed as a whole (an empty prefix) exits 1", async () => {
    expect(await harness({})(["compress", "s3:///no-bucket"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /Expected s3:\/\/<bucket>\/<prefix> \(a valid bucket name\) but received s3:\/\/\/no-bucket/,
      ),
    });
    const failed = { id: "job-e", state: JobState.FAILED, error: "the prefix incoming/none/ holds no objects" };
    const run = harness({
      submitJob: () => ({ job: failed, created: true }),
      async *watchJob() {
        yield { event: { sequence: 1n, kind: { case: "job", value: failed } } };
      },
      getJob: () => ({ job: failed }),
      getResults: () => ({ results: [] }),
    });
    const out = await mkdtemp(join(tmpdir(), "imgc-cli-out-"));
    const { code, stdout } = await run(["compress", "s3://imgc/incoming/none/", "--out", out]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/job job-e failed: the prefix incoming\/none\/ holds no objects/);
  });

  test("a file the gateway refuses is reported and left out of the job", async () => {
    const { dir } = await inputs();
    const out = await mkdtemp(join(tmpdir(), "imgc-cli-out-"));
    const cluster = fakeCluster();
    // Only the small file gets through; the rejected one is a failure of this run.
    cluster.impl.uploadImage = async (requests) => {
      let name = "";
      for await (const message of requests) {
        if (message.part.case === "header") {
          name = message.part.value.name;
          if (message.part.value.size > 1_000_000n) {
            throw new ConnectError(`"${name}" is larger than the upload limit`, Code.ResourceExhausted);
          }
        }
      }
      const key = `uploads/default/small/${name}`;
      cluster.uploads.set(key, { name, sha256: "", size: 2000, messages: 2 });
      return { key, size: 2000n };
    };
    const run = harness(cluster.impl, cluster.served);
    const { code, stdout } = await run(["compress", join(dir, "rocket.jpg"), join(dir, "street.webp"), "--out", out]);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /rocket\.jpg +failed .*upload: resource_exhausted: "rocket.jpg" is larger than the upload limit/,
    );
    expect(stdout).toMatch(/street\.webp +done/);
    expect(await readdir(out)).toEqual(["street.webp"]);
  });
});

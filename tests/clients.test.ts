/**
 * Clients nobody on this project wrote, and the one we ship: `buf curl` over gRPC and Connect against the
 * gateway's two ports, and the `imgc` CLI.
 */
import { execFile } from "node:child_process";
import { access, mkdtemp, readdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { describe, expect, test } from "vitest";
import { childEnv, repoRoot } from "../scripts/lib/local-stack.js";
import { corpusFiles, uploadFixtures, useCluster, waitForJob } from "./harness/index.js";

const run = promisify(execFile);
const cluster = useCluster({ workers: 2 });
const buf = path.join(repoRoot, "node_modules", ".bin", "buf");

interface BufResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function bufCurl(args: string[]): Promise<BufResult> {
  try {
    const { stdout, stderr } = await run(buf, ["curl", "--timeout", "30s", ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failure = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? -1, stdout: failure.stdout ?? "", stderr: failure.stderr ?? "" };
  }
}

async function bufCall(args: string[]): Promise<Record<string, unknown>> {
  const result = await bufCurl(args);
  if (result.code !== 0) throw new Error(`buf curl ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** The gateway's gRPC port serves reflection: buf curl needs no schema there. */
async function expectReflection(grpcBase: string): Promise<string[]> {
  const listed = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-services", grpcBase]);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout.split("\n")).toContain("imgc.v1.JobService");
  return [];
}

describe("buf curl against the gateway", () => {
  test.each([
    ["grpc", "gRPC port"],
    ["connect", "HTTP port"],
  ] as const)("SubmitJob and GetJob over %s on the %s", async (protocol, _port) => {
    const c = cluster();
    const { uploads } = await uploadFixtures(
      c.storage,
      corpusFiles("photos").filter((f) => /rocket/.test(f)),
    );
    const [upload] = uploads;
    if (!upload) throw new Error("no upload");
    const base =
      protocol === "grpc"
        ? [
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            ...(await expectReflection(c.addresses.gatewayGrpc)),
            `${c.addresses.gatewayGrpc}/imgc.v1.JobService`,
          ]
        : // Reflection needs HTTP/2; the HTTP port speaks HTTP/1.1, so the schema comes from proto/.
          ["--protocol", "connect", "--schema", "proto", `${c.addresses.gatewayHttp}/imgc.v1.JobService`];
    const service = base.pop() as string;

    const submitted = await bufCall([
      ...base,
      "-d",
      JSON.stringify({ sources: [{ uploadKey: upload.key }], options: { format: "IMAGE_FORMAT_WEBP" } }),
      `${service}/SubmitJob`,
    ]);
    const job = submitted.job as { id?: string; state?: string } | undefined;
    expect(job?.id).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(submitted.created).toBe(true);
    const jobId = job?.id as string;

    await waitForJob(c.jobs, jobId, { timeoutMs: 60_000 });
    const got = await bufCall([...base, "-d", JSON.stringify({ jobId }), `${service}/GetJob`]);
    expect(got.job).toMatchObject({ id: jobId, state: "JOB_STATE_COMPLETED" });

    const missing = await bufCurl([
      ...base,
      "-d",
      JSON.stringify({ jobId: "no-such-job-aaaaaaaa" }),
      `${service}/GetJob`,
    ]);
    // buf curl exits with the RPC's code shifted left by three: NOT_FOUND (5) is 40.
    expect(missing.code).toBe(5 << 3);
  });
});

describe("discovery and HTTP GET on the gateway", () => {
  test("buf curl --list-methods over reflection lists JobService and both reflection versions", async () => {
    const c = cluster();
    const listed = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-methods",
      c.addresses.gatewayGrpc,
    ]);
    expect(listed.code, listed.stderr).toBe(0);
    const methods = listed.stdout.split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "imgc.v1.JobService/GetJob",
        "imgc.v1.JobService/SubmitJob",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      ]),
    );
  });

  test("a Connect GET reaches the read-only RPCs (NO_SIDE_EFFECTS) and not the others", async () => {
    const c = cluster();
    const get = (method: string, message: unknown) =>
      fetch(
        `${c.addresses.gatewayHttp}/imgc.v1.JobService/${method}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify(message))}`,
      );
    const listed = await get("ListJobs", { pageSize: 1 });
    expect(listed.status, await listed.clone().text()).toBe(200);
    expect(await listed.json()).toBeTypeOf("object");
    const missing = await get("GetJob", { jobId: "no-such-job-aaaaaaaa" });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "not_found" });
    // SubmitJob changes state: GET is refused before the service sees it.
    const submit = await get("SubmitJob", { sources: [] });
    expect(submit.status).toBe(405);
  });
});

describe("the imgc CLI", () => {
  test("imgc compress writes each output to --out and names the worker that made it", async () => {
    const c = cluster();
    const photos = corpusFiles("photos").filter((f) => /flowers|rocket|street/.test(f));
    expect(photos).toHaveLength(3);
    const out = await mkdtemp(path.join(os.tmpdir(), "imgc-cli-"));
    // The CLI talks gRPC to the gateway (IMGC_URL), and to the coordinator only for `imgc workers`.
    const env = childEnv({
      IMGC_URL: c.addresses.gatewayGrpc,
      IMGC_COORDINATOR_URL: c.addresses.coordinator,
      IMGC_AUTH_TOKEN: c.credentials.operatorToken,
    });
    const result = await run(
      process.execPath,
      ["--import", "tsx", "cli/src/main.ts", "compress", ...photos, "--out", out],
      { cwd: repoRoot, env, timeout: 120_000 },
    ).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`imgc compress exited ${err.code}:\n${err.stdout}\n${err.stderr}`);
    });

    const written = await readdir(out);
    expect(written).toHaveLength(3);
    for (const name of written) {
      const bytes = await readFile(path.join(out, name));
      const metadata = await sharp(bytes).metadata();
      expect(metadata.width, name).toBeGreaterThan(0);
    }
    // Each output carries its source's name.
    for (const photo of photos) {
      const stem = path.basename(photo, path.extname(photo));
      expect(
        written.some((name) => name.startsWith(stem)),
        `an output for ${stem}`,
      ).toBe(true);
    }
    const lines = result.stdout.split("\n").filter((line) => /worker-[12]/.test(line));
    expect(lines.length, `stdout names a worker:\n${result.stdout}`).toBeGreaterThanOrEqual(1);
  });

  test("npm pack makes a package that npm i -g installs and runs with no repository, tsx or registry", async () => {
    const c = cluster();
    const work = await mkdtemp(path.join(os.tmpdir(), "imgc-packed-"));
    const packed = await run("npm", ["pack", "-w", "cli", "--pack-destination", work, "--silent"], {
      cwd: repoRoot,
      timeout: 120_000,
    });
    const tarball = path.join(work, packed.stdout.trim().split("\n").pop() ?? "");
    const prefix = path.join(work, "prefix");
    // --offline: the package must need nothing from a registry.
    await run("npm", ["install", "--global", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", tarball], {
      cwd: work,
      timeout: 120_000,
    });
    const installed = path.join(prefix, "lib", "node_modules", "@imgc", "cli");
    expect((await readdir(installed)).sort()).toEqual(["README.md", "bin", "dist", "package.json"]);
    const imgc = path.join(prefix, "bin", "imgc");
    // Outside the repository, with nothing of it on the module path.
    const env = { PATH: process.env.PATH ?? "", HOME: work, IMGC_URL: c.addresses.gatewayGrpc };
    const help = await run(imgc, ["--help"], { cwd: work, env });
    expect(help.stdout).toMatch(/^imgc: compress images on an imgc cluster/);
    expect(help.stdout).toContain("compress");

    const photo = corpusFiles("photos").find((f) => /rocket/.test(f));
    if (!photo) throw new Error("no photo");
    const out = path.join(work, "out");
    const result = await run(
      imgc,
      [
        "compress",
        photo,
        "--format",
        "webp",
        "--max-width",
        "320",
        "--metadata",
        "keep-copyright",
        "--effort",
        "2",
        "--out",
        out,
        "--json",
      ],
      { cwd: work, env, timeout: 120_000 },
    ).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`packed imgc compress exited ${err.code}:\n${err.stdout}\n${err.stderr}`);
    });
    const report = JSON.parse(result.stdout) as { files: { ok: boolean; output: string; format: string }[] };
    expect(report.files).toHaveLength(1);
    expect(report.files[0]).toMatchObject({ ok: true, format: "webp" });
    const written = await readFile(report.files[0]?.output ?? "");
    expect(await sharp(written).metadata()).toMatchObject({ format: "webp", width: 320 });
    await expect(access(path.join(installed, "src"))).rejects.toThrow();
  });
});

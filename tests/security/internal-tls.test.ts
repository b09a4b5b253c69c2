/**
 * TLS on the coordinator's gRPC port (IMGC_TLS_CERT/KEY on the coordinator, IMGC_TLS_CA on its callers): the
 * whole cluster runs over it, and a plaintext caller or one trusting another CA gets no answer. The CA and the
 * certificate are made for this run with the openssl command line (the harness's own clusters stay on
 * tokens over cleartext: Node cannot make certificates without a dependency).
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcJsClient, grpcChannelCredentials, internalGrpcOptions } from "@imgc/common";
import { ClusterService, JobState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { childEnv, repoRoot } from "../../scripts/lib/local-stack.js";
import { corpusFiles, uploadFixtures, useCluster, waitForJob } from "../harness/index.js";

const run = promisify(execFile);

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** A CA and a certificate it signed for 127.0.0.1 and localhost, in a fresh folder. */
function makeCertificates(name: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `imgc-tls-${name}-`));
  const file = (f: string) => path.join(dir, f);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", `/CN=${name}-ca`);
  openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=coordinator");
  execFileSync("sh", ["-c", 'printf "subjectAltName=IP:127.0.0.1,DNS:localhost" > san.ext'], { cwd: dir });
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "san.ext",
  );
  return { ca: file("ca.pem"), cert: file("server.pem"), key: file("server.key") };
}

describe.skipIf(!hasOpenssl)("TLS on the coordinator's gRPC port", () => {
  const certs = hasOpenssl ? makeCertificates("imgc") : { ca: "", cert: "", key: "" };
  const cluster = useCluster({
    workers: 1,
    env: { IMGC_TLS_CA: certs.ca, IMGC_TLS_CERT: certs.cert, IMGC_TLS_KEY: certs.key },
  });

  const operatorClient = (credentials: Parameters<typeof createGrpcJsClient>[3]) =>
    createGrpcJsClient(
      ClusterService,
      cluster().addresses.coordinator,
      internalGrpcOptions(cluster().credentials.operatorToken),
      credentials,
    );

  test("the workers and the gateway reach the coordinator over TLS: a job compresses end to end", async () => {
    const c = cluster();
    const { uploads } = await uploadFixtures(c.storage, corpusFiles("photos").slice(0, 2));
    const { job } = await c.jobs.submitJob({
      sources: uploads.map((u) => ({ kind: { case: "uploadKey" as const, value: u.key } })),
    });
    expect((await waitForJob(c.jobs, job?.id ?? "")).state).toBe(JobState.COMPLETED);
  });

  test("the CLI reaches the coordinator over TLS with IMGC_TLS_CA and an operator's token", async () => {
    const c = cluster();
    const { stdout } = await run(process.execPath, ["--import", "tsx", "cli/src/main.ts", "workers"], {
      cwd: repoRoot,
      env: childEnv({
        IMGC_COORDINATOR_URL: c.addresses.coordinator,
        IMGC_AUTH_TOKEN: c.credentials.operatorToken,
        IMGC_TLS_CA: certs.ca,
      }),
      timeout: 120_000,
    });
    expect(stdout).toContain("worker-1");
  });

  test("a caller trusting the CA is answered; a plaintext one, or one trusting another CA, is not", async () => {
    const trusted = operatorClient(grpcChannelCredentials({ ca: readFileSync(certs.ca) }));
    const plaintext = operatorClient(undefined);
    const other = makeCertificates("other");
    const foreign = operatorClient(grpcChannelCredentials({ ca: readFileSync(other.ca) }));
    try {
      expect((await trusted.listWorkers({}, { timeoutMs: 20_000 })).workers.map((w) => w.id)).toContain("worker-1");
      for (const client of [plaintext, foreign]) {
        const err = await client.listWorkers({}, { timeoutMs: 20_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectError);
        expect((err as ConnectError).code).toBe(Code.Unavailable);
      }
    } finally {
      for (const client of [trusted, plaintext, foreign]) client.close();
    }
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig, natsFields } from "./config.js";
import { generateSigningKeys, mintToken } from "./internal-auth.js";
import {
  callerFields,
  loadMetricsToken,
  loadToken,
  loadVerifier,
  metricsFields,
  verifierFields,
} from "./internal-config.js";
import { natsAuthOptions } from "./nats-connect.js";

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (ConfigError.is(err)) return err.problems;
    throw err;
  }
  return [];
}

const keys = generateSigningKeys();

describe("secure by default", () => {
  test("a coordinator without a public key refuses to start and names the setting", () => {
    const problems = problemsOf(() => loadVerifier(loadConfig(verifierFields, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^IMGC_AUTH_PUBLIC_KEY \(or IMGC_AUTH_PUBLIC_KEY_FILE\) is not set.*IMGC_INSECURE_INTERNAL=1/,
    );
    expect(loadVerifier(loadConfig(verifierFields, { IMGC_INSECURE_INTERNAL: "1" }))).toBeUndefined();
  });

  test("the public key may come from a file, and a bad one is refused without quoting it", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "imgc-auth-"));
    const file = path.join(dir, "key.pem");
    writeFileSync(file, keys.publicKey);
    const verifier = loadVerifier(loadConfig(verifierFields, { IMGC_AUTH_PUBLIC_KEY_FILE: file }));
    expect(verifier?.verify(mintToken(keys.privateKey, { role: "worker", sub: "w" })).sub).toBe("w");
    const problems = problemsOf(() => loadVerifier(loadConfig(verifierFields, { IMGC_AUTH_PUBLIC_KEY: "secret-ish" })));
    expect(problems).toEqual(["Expected PEM Ed25519 public key(s) for IMGC_AUTH_PUBLIC_KEY"]);
    expect(
      problemsOf(() => loadVerifier(loadConfig(verifierFields, { IMGC_AUTH_PUBLIC_KEY_FILE: `${dir}/none` })))[0],
    ).toMatch(/^Expected a readable file for IMGC_AUTH_PUBLIC_KEY_FILE/);
  });

  test("a caller without a token refuses to start and names the setting", () => {
    expect(problemsOf(() => loadToken(loadConfig(callerFields, {}), "worker"))[0]).toMatch(
      /^IMGC_AUTH_TOKEN \(or IMGC_AUTH_TOKEN_FILE\) is not set, so the worker cannot prove itself/,
    );
    expect(loadToken(loadConfig(callerFields, { IMGC_INSECURE_INTERNAL: "true" }), "worker")).toBeUndefined();
    expect(loadToken(loadConfig(callerFields, { IMGC_AUTH_TOKEN: "imgc1.a.b" }), "worker")).toBe("imgc1.a.b");
  });

  test("a process without a metrics token refuses to start and names the setting; a short one is refused unquoted", () => {
    const load = (env: Record<string, string>) => loadMetricsToken(loadConfig(metricsFields, env), "worker");
    expect(problemsOf(() => load({}))[0]).toMatch(
      /^IMGC_METRICS_TOKEN \(or IMGC_METRICS_TOKEN_FILE\) is not set, so the worker's \/metrics would answer anyone.*IMGC_INSECURE_INTERNAL=1/,
    );
    expect(load({ IMGC_INSECURE_INTERNAL: "1" })).toBeUndefined();
    expect(problemsOf(() => load({ IMGC_METRICS_TOKEN: "short-secret" }))).toEqual([
      "Expected at least 16 characters and no spaces for IMGC_METRICS_TOKEN but received 12",
    ]);
    const dir = mkdtempSync(path.join(os.tmpdir(), "imgc-metrics-"));
    writeFileSync(path.join(dir, "token"), "scrape-token-0123456789\n");
    expect(load({ IMGC_METRICS_TOKEN_FILE: path.join(dir, "token") })).toBe("scrape-token-0123456789");
  });

  test("a NATS connection without credentials refuses to start; each way of giving them is taken", () => {
    const nats = (env: Record<string, string>) => natsAuthOptions(loadConfig(natsFields, env));
    expect(problemsOf(() => nats({}))[0]).toMatch(/^IMGC_NATS_USER and IMGC_NATS_PASSWORD .* are not set/);
    expect(nats({ IMGC_INSECURE_INTERNAL: "1" })).toEqual({});
    expect(nats({ IMGC_NATS_USER: "u", IMGC_NATS_PASSWORD: "p" })).toEqual({ user: "u", pass: "p" });
    expect(nats({ IMGC_NATS_TOKEN: "t" })).toEqual({ token: "t" });
    const dir = mkdtempSync(path.join(os.tmpdir(), "imgc-nats-"));
    writeFileSync(path.join(dir, "password"), "s3cret\n");
    expect(nats({ IMGC_NATS_USER: "u", IMGC_NATS_PASSWORD_FILE: path.join(dir, "password") })).toEqual({
      user: "u",
      pass: "s3cret",
    });
    expect(problemsOf(() => nats({ IMGC_NATS_USER: "u" }))).toEqual([
      "IMGC_NATS_PASSWORD (or IMGC_NATS_PASSWORD_FILE) is not set, but IMGC_NATS_USER is",
    ]);
    expect(problemsOf(() => nats({ IMGC_NATS_USER: "u", IMGC_NATS_PASSWORD: "p", IMGC_NATS_TOKEN: "t" }))).toEqual([
      "Expected only one of IMGC_NATS_USER, IMGC_NATS_TOKEN and IMGC_NATS_CREDS",
    ]);
    expect(problemsOf(() => nats({ IMGC_NATS_CREDS: "/nonexistent/x.creds" }))[0]).toMatch(/IMGC_NATS_CREDS/);
    expect(nats({ IMGC_NATS_TOKEN: "t", IMGC_NATS_TLS_CA: "/ca.pem" }).tls).toEqual({ caFile: "/ca.pem" });
  });
});

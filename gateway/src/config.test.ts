import { ConfigError } from "@imgc/common";
import { describe, expect, test } from "vitest";
import { loadGatewayConfig, parseApiKeys, parseCorsOrigins } from "./config.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadGatewayConfig(env);
  } catch (err) {
    if (ConfigError.isConfigError(err)) return err.problems;
    throw err;
  }
  return [];
}

describe("gateway configuration", () => {
  test("defaults: ports 8080/8081, 64 MiB uploads, web/dist, dev mode, the vite dev origin", () => {
    const config = loadGatewayConfig({});
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      grpcPort: 8081,
      coordinatorUrl: "127.0.0.1:50051",
      maxUploadBytes: 64 * 1024 * 1024,
      webDir: "web/dist",
      corsOrigins: ["http://localhost:5173"],
    });
    expect(config.apiKeys.size).toBe(0);
  });

  test("IMGC_API_KEYS maps keys to tenants; a key may itself contain colons", () => {
    const { keys, problems: found } = parseApiKeys(" k1:acme , a:b:c:beta,");
    expect(found).toEqual([]);
    expect([...keys]).toEqual([
      ["k1", "acme"],
      ["a:b:c", "beta"],
    ]);
  });

  test("bad values are all reported at once, in the sharp style, and never quote a key", () => {
    const found = problems({
      IMGC_GATEWAY_PORT: "http",
      IMGC_MAX_UPLOAD_BYTES: "0",
      IMGC_API_KEYS: "supersecret,k2:bad tenant,k3:ok,k3:again",
      IMGC_CORS_ORIGINS: "localhost:5173,https://ok.example/path",
    });
    expect(found).toEqual([
      'Expected integer between 0 and 65535 for IMGC_GATEWAY_PORT but received "http"',
      'Expected integer between 1 and 5368709120 for IMGC_MAX_UPLOAD_BYTES but received "0"',
      "Expected key:tenant (tenant of 1 to 64 characters [A-Za-z0-9_-]) for entry 1 of IMGC_API_KEYS but received no key:tenant pair",
      'Expected key:tenant (tenant of 1 to 64 characters [A-Za-z0-9_-]) for entry 2 of IMGC_API_KEYS but received tenant "bad tenant"',
      "Expected distinct keys in IMGC_API_KEYS but entry 4 repeats an earlier key",
      'Expected an origin like https://example.com for IMGC_CORS_ORIGINS but received "localhost:5173"',
      'Expected an origin like https://example.com for IMGC_CORS_ORIGINS but received "https://ok.example/path"',
    ]);
    expect(found.join("\n")).not.toMatch(/supersecret/);
  });

  test("IMGC_CORS_ORIGINS takes origins and *", () => {
    expect(parseCorsOrigins("https://a.example, http://b.example:8080/,*")).toEqual({
      origins: ["https://a.example", "http://b.example:8080", "*"],
      problems: [],
    });
  });
});

import { ConfigError } from "@imgc/common";
import { describe, expect, test } from "vitest";
import { loadGatewayConfig, parseApiKeys, parseCorsOrigins } from "./config.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadGatewayConfig(env);
  } catch (err) {
    if (ConfigError.is(err)) return err.problems;
    throw err;
  }
  return [];
}

describe("gateway configuration", () => {
  test("defaults: ports 8080/8081, 64 MiB uploads, web/dist, the vite dev origin (dev mode asked for)", () => {
    const config = loadGatewayConfig({ IMGC_DEV_MODE: "1" });
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

  test("secure by default: no keys and no IMGC_DEV_MODE is refused, naming both settings", () => {
    expect(problems({})).toEqual([
      'Expected IMGC_API_KEYS (key:tenant,...) but received none; set it, or IMGC_DEV_MODE=1 to serve everyone as tenant "default" (development only)',
    ]);
    expect(problems({ IMGC_DEV_MODE: "0" })).toHaveLength(1);
    expect(problems({ IMGC_API_KEYS: "0123456789abcdef:acme" })).toEqual([]);
  });

  test("keys shorter than 16 characters are refused, and operator keys must not be tenants' keys", () => {
    expect(problems({ IMGC_API_KEYS: "short:acme" })).toEqual([
      "Expected a key of at least 16 characters for entry 1 of IMGC_API_KEYS but received 5",
    ]);
    expect(problems({ IMGC_API_KEYS: "0123456789abcdef:acme", IMGC_OPERATOR_KEYS: "0123456789abcdef,tiny" })).toEqual([
      "Expected operator keys distinct from IMGC_API_KEYS but entry 1 is also a tenant's",
      "Expected a key of at least 16 characters for entry 2 of IMGC_OPERATOR_KEYS but received 4",
    ]);
    const config = loadGatewayConfig({
      IMGC_API_KEYS: "0123456789abcdef:acme",
      IMGC_OPERATOR_KEYS: "fedcba9876543210-op",
    });
    expect(config.operatorKeys).toEqual(["fedcba9876543210-op"]);
  });

  test("IMGC_API_KEYS maps keys to tenants; a key may itself contain colons", () => {
    const { keys, problems: found } = parseApiKeys(" k1-0123456789abcdef:acme , a:b:c-0123456789abcdef:beta,");
    expect(found).toEqual([]);
    expect([...keys]).toEqual([
      ["k1-0123456789abcdef", "acme"],
      ["a:b:c-0123456789abcdef", "beta"],
    ]);
  });

  test("tenants follow the coordinator's rule: a dotted one is served, one it would refuse does not start", () => {
    // The coordinator refuses a tenant starting with "-" on every call; the gateway must not accept it first.
    expect(parseApiKeys("k1-0123456789abcdef:acme.eu").keys.get("k1-0123456789abcdef")).toBe("acme.eu");
    expect(parseApiKeys("k1-0123456789abcdef:-acme").problems).toEqual([
      'Expected key:tenant (tenant of 1 to 64 characters of letters, digits, ".", "_" and "-", starting with a letter or digit) for entry 1 of IMGC_API_KEYS but received tenant "-acme"',
    ]);
  });

  test("bad values are all reported at once, in the sharp style, and never quote a key", () => {
    const found = problems({
      IMGC_GATEWAY_PORT: "http",
      IMGC_MAX_UPLOAD_BYTES: "0",
      IMGC_API_KEYS: "supersecret,k2:bad tenant,k3-0123456789abcdef:ok,k3-0123456789abcdef:again",
      IMGC_CORS_ORIGINS: "localhost:5173,https://ok.example/path",
    });
    expect(found).toEqual([
      'Expected integer between 0 and 65535 for IMGC_GATEWAY_PORT but received "http"',
      'Expected integer between 1 and 5368709120 for IMGC_MAX_UPLOAD_BYTES but received "0"',
      'Expected key:tenant (tenant of 1 to 64 characters of letters, digits, ".", "_" and "-", starting with a letter or digit) for entry 1 of IMGC_API_KEYS but received no key:tenant pair',
      'Expected key:tenant (tenant of 1 to 64 characters of letters, digits, ".", "_" and "-", starting with a letter or digit) for entry 2 of IMGC_API_KEYS but received tenant "bad tenant"',
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

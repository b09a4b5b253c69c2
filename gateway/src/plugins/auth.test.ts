import { Code, ConnectError } from "@connectrpc/connect";
import { DEFAULT_TENANT as DEV_TENANT } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createRateLimiter } from "../limits/rate-limit.js";
import { createAuthenticator } from "./auth.js";

function failure(run: () => unknown): ConnectError {
  try {
    run();
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected a failure");
}

const KEY_A = "key-a-0123456789abcdef";
const KEY_B = "key-b-0123456789abcdef";
const OPERATOR = "operator-0123456789abcdef";

describe("createAuthenticator", () => {
  const warnings: unknown[] = [];
  const auth = createAuthenticator({
    apiKeys: new Map([
      [KEY_A, "acme"],
      [KEY_B, "beta"],
    ]),
    operatorKeys: [OPERATOR],
    // Never throttles: these tests are about which keys pass.
    admitFailure: () => {},
    log: { warn: (fields: unknown) => void warnings.push(fields) },
  });

  test("a known bearer key yields its tenant and a caller id that is not the key, whatever the scheme's case", () => {
    expect(auth.tenant(`Bearer ${KEY_A}`).tenant).toBe("acme");
    expect(auth.tenant(`bearer ${KEY_B}`).tenant).toBe("beta");
    expect(auth.tenant(`Bearer ${KEY_A}`).id).not.toContain(KEY_A);
    expect(auth.tenant(`Bearer ${KEY_A}`).id).not.toBe(auth.tenant(`Bearer ${KEY_B}`).id);
  });

  test("no header, another scheme, or an unknown key is Unauthenticated; an unknown key is logged, never quoted", () => {
    for (const header of [undefined, "", "Basic a2V5LWE=", "Bearer", "Bearer key-c", `Bearer ${KEY_A} extra`]) {
      expect(failure(() => auth.tenant(header)).code, String(header)).toBe(Code.Unauthenticated);
    }
    expect(warnings.length).toBeGreaterThan(0);
    expect(JSON.stringify(warnings)).not.toContain("key-c");
  });

  test("operator routes take operator keys only: a tenant's key is PermissionDenied, and an operator key acts for no tenant", () => {
    expect(() => auth.operator(`Bearer ${OPERATOR}`)).not.toThrow();
    expect(failure(() => auth.operator(`Bearer ${KEY_A}`)).code).toBe(Code.PermissionDenied);
    expect(failure(() => auth.operator(undefined)).code).toBe(Code.Unauthenticated);
    expect(failure(() => auth.tenant(`Bearer ${OPERATOR}`)).code).toBe(Code.PermissionDenied);
  });

  test("wrong keys are throttled through a bucket of their own; a real key still passes", () => {
    let now = 0;
    const throttled = createAuthenticator({
      apiKeys: new Map([[KEY_A, "acme"]]),
      admitFailure: createRateLimiter({ perSecond: 1, burst: 3 }, () => now),
    });
    const codes = Array.from(
      { length: 5 },
      () => failure(() => throttled.tenant("Bearer guess-0123456789abcdef")).code,
    );
    expect(codes).toEqual([
      Code.Unauthenticated,
      Code.Unauthenticated,
      Code.Unauthenticated,
      Code.ResourceExhausted,
      Code.ResourceExhausted,
    ]);
    expect(throttled.tenant(`Bearer ${KEY_A}`).tenant).toBe("acme");
    now += 1_000;
    expect(failure(() => throttled.tenant("Bearer guess-0123456789abcdef")).code).toBe(Code.Unauthenticated);
  });

  test("with no keys configured (dev mode) every caller is the default tenant and an operator", () => {
    const dev = createAuthenticator({ apiKeys: new Map() });
    expect(dev.tenant(undefined).tenant).toBe(DEV_TENANT);
    expect(dev.tenant("Bearer anything").tenant).toBe("default");
    expect(() => dev.operator(undefined)).not.toThrow();
  });
});

import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { createAuthenticator, DEV_TENANT } from "./auth.js";

function failure(run: () => unknown): ConnectError {
  try {
    run();
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected a failure");
}

describe("createAuthenticator", () => {
  const authenticate = createAuthenticator(
    new Map([
      ["key-a", "acme"],
      ["key-b", "beta"],
    ]),
  );

  test("a known bearer key yields its tenant, whatever the scheme's case", () => {
    expect(authenticate("Bearer key-a")).toBe("acme");
    expect(authenticate("bearer key-b")).toBe("beta");
  });

  test("no header, another scheme, or an unknown key is Unauthenticated", () => {
    for (const header of [undefined, "", "Basic a2V5LWE=", "Bearer", "Bearer key-c", "Bearer key-a extra"]) {
      expect(failure(() => authenticate(header)).code, String(header)).toBe(Code.Unauthenticated);
    }
  });

  test("with no keys configured (dev mode) every caller is the default tenant", () => {
    const dev = createAuthenticator(new Map());
    expect(dev(undefined)).toBe(DEV_TENANT);
    expect(dev("Bearer anything")).toBe("default");
  });
});

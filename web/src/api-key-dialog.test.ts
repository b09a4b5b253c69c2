import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { keyChecker } from "./api-key-dialog.js";

describe("keyChecker", () => {
  test("a key is good only when the gateway accepts a call with it; other failures tell nothing", async () => {
    expect(await keyChecker(async () => ({}))()).toBe(true);
    const refused = keyChecker(async () => {
      throw new ConnectError("invalid API key", Code.Unauthenticated);
    });
    expect(await refused()).toBe(false);
    const down = keyChecker(async () => {
      throw new ConnectError("no route", Code.Unavailable);
    });
    expect(await down()).toBeUndefined();
  });
});

import { describe, expect, test } from "vitest";
import { keys, safeName } from "./storage.js";

describe("safeName", () => {
  test("keeps the extension of a name that is only dots and an extension", () => {
    expect(safeName("..png")).toBe("image.png");
    expect(safeName(".jpg")).toBe("image.jpg");
    expect(keys.upload("acme", "id.3", "..png")).toBe("uploads/acme/id.3/image.png");
  });

  test("drops leading dots and path steps, and never names a path step", () => {
    expect(safeName(".hidden.jpg")).toBe("hidden.jpg");
    expect(safeName("../../etc/passwd")).toBe("passwd");
    expect(safeName("..")).toBe("image");
    expect(safeName("...")).toBe("image");
    expect(safeName("")).toBe("image");
    expect(safeName("a b?.jpg")).toBe("a_b_.jpg");
  });
});

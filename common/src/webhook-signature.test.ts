import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhook } from "./webhook-signature.js";

const body = '{"event":"job.finished","job":{"id":"j1"}}';
const now = 1_764_000_000_000;
const timestamp = now / 1000;

describe("webhook signatures", () => {
  it("signs HMAC-SHA256 over timestamp.body, hex, v1-prefixed", () => {
    // Computed independently: printf %s 1764000000.x | openssl dgst -sha256 -hmac s3cret
    expect(signWebhook("s3cret", 1_764_000_000, "x")).toBe(
      "v1=0ed5667377c95e31b78f5b60e3c9f3024e5d2962cf0cdb412cc0415062798acf",
    );
    expect(signWebhook("s3cret", 1_764_000_000, "x")).not.toBe(signWebhook("s3cret", 1_764_000_001, "x"));
  });

  it("verifies a signed request and rejects a tampered body, a wrong secret or a stale timestamp", () => {
    const headers = { "imgc-timestamp": String(timestamp), "imgc-signature": signWebhook("s3cret", timestamp, body) };
    expect(verifyWebhook("s3cret", headers, body, now)).toBe(true);
    expect(verifyWebhook("s3cret", new Headers(headers), Buffer.from(body), now)).toBe(true);
    expect(verifyWebhook("s3cret", headers, body.replace("j1", "j2"), now)).toBe(false);
    expect(verifyWebhook("other", headers, body, now)).toBe(false);
    expect(verifyWebhook("s3cret", headers, body, now + 301_000)).toBe(false);
    expect(verifyWebhook("s3cret", { ...headers, "imgc-timestamp": String(timestamp + 1) }, body, now)).toBe(false);
    expect(verifyWebhook("s3cret", { "imgc-timestamp": String(timestamp) }, body, now)).toBe(false);
  });

  it("accepts any one of several signatures (secret rotation)", () => {
    const signatures = `${signWebhook("old", timestamp, body)},${signWebhook("new", timestamp, body)}`;
    const headers = { "imgc-timestamp": String(timestamp), "imgc-signature": signatures };
    expect(verifyWebhook("new", headers, body, now)).toBe(true);
    expect(verifyWebhook("old", headers, body, now)).toBe(true);
    expect(verifyWebhook("neither", headers, body, now)).toBe(false);
  });
});

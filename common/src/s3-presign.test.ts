import { describe, expect, test } from "vitest";
import { createPresigner, PRESIGN_MAX_SECONDS } from "./s3-presign.js";
import { clientFor } from "./storage.js";

const credentials = { accessKey: "imgc-access", secretKey: "imgc/secret+key", region: "us-east-1", bucket: "imgc" };

/** minio-js's client for the same endpoint, as storage.ts makes it. */
const minioFor = (endpoint: string) =>
  clientFor(endpoint, {
    s3Endpoint: endpoint,
    s3PublicEndpoint: "",
    s3AccessKey: credentials.accessKey,
    s3SecretKey: credentials.secretKey,
    s3Region: credentials.region,
    s3Bucket: credentials.bucket,
  });

const keys = [
  "uploads/default/abc/photo.jpg",
  "uploads/t/x y/one+two%20three&four=five.jpg",
  "outputs/t/job/café ø 東京.webp",
  "a/!'()*~-_.;,:@$[]{}|^`<>#?\\.png",
];

describe("createPresigner", () => {
  for (const endpoint of [
    "http://127.0.0.1:9000",
    "https://s3.example.com",
    "http://localhost:80",
    "http://[::1]:9000",
  ]) {
    test(`signs exactly as minio-js does, for ${endpoint}`, async () => {
      const presign = createPresigner({ ...credentials, endpoint });
      const minio = minioFor(endpoint);
      // Two days, so that a signing key kept from one is not used on the other.
      for (const now of [new Date("2026-12-04T08:09:10.123Z"), new Date("2026-12-05T00:00:00.000Z")]) {
        for (const key of keys) {
          expect(presign({ method: "PUT", key, expirySeconds: 300, now })).toBe(
            await minio.presignedUrl("PUT", credentials.bucket, key, 300, {}, now),
          );
          const params = { "response-content-disposition": 'attachment; filename="a b (1).webp"' };
          expect(presign({ method: "GET", key, expirySeconds: 900, params, now })).toBe(
            await minio.presignedUrl("GET", credentials.bucket, key, 900, params, now),
          );
        }
      }
    });
  }

  test("refuses an expiry Signature V4 cannot carry, in the one message shape", () => {
    const presign = createPresigner({ ...credentials, endpoint: "http://127.0.0.1:9000" });
    for (const expirySeconds of [0, 1.5, PRESIGN_MAX_SECONDS + 1]) {
      expect(() => presign({ method: "GET", key: "k", expirySeconds })).toThrow(
        `Expected integer between 1 and ${PRESIGN_MAX_SECONDS} for expirySeconds but received ${expirySeconds}`,
      );
    }
  });
});

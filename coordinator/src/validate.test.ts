import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { type SourceSchema, SubmitJobRequestSchema } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { sourceScopeFor, validateSubmit } from "./validate.js";

const BUCKET = "imgc";
type Kind = NonNullable<MessageInitShape<typeof SourceSchema>["kind"]>;

function problems(tenant: string, sources: Kind[], unscoped = false): string {
  const request = create(SubmitJobRequestSchema, { sources: sources.map((kind) => ({ kind })) });
  try {
    validateSubmit(request, tenant, BUCKET, { unscoped });
  } catch (err) {
    return ConnectError.from(err).rawMessage;
  }
  return "";
}

const prefix = (prefix: string, bucket = ""): Kind => ({ case: "s3Prefix", value: { bucket, prefix } });
const upload = (key: string): Kind => ({ case: "uploadKey", value: key });

describe("source scope", () => {
  it("keeps every tenant, default included, to its own uploads/ and outputs/", () => {
    for (const tenant of ["default", "acme"]) {
      expect(problems(tenant, [upload(`uploads/${tenant}/x/a.jpg`), prefix(`outputs/${tenant}/j/`)])).toBe("");
      expect(problems(tenant, [upload("uploads/globex/x/a.jpg")])).toContain(`must be under uploads/${tenant}/`);
      expect(problems(tenant, [prefix("")])).toMatch(/covers uploads\//);
      expect(problems(tenant, [prefix("private/")])).toMatch(/must be under uploads\/.+ or outputs\//);
      expect(problems(tenant, [upload("secrets.txt")])).toMatch(/must be under uploads\/.+ or outputs\//);
      expect(problems(tenant, [prefix("photos/", "other-bucket")])).toMatch(/only the cluster's bucket is allowed/);
    }
  });

  it("lets only an unscoped internal service read the rest of the bucket and other buckets, never a tenant's folder", () => {
    expect(problems("default", [prefix("photos/"), prefix("photos/", "other-bucket")], true)).toBe("");
    expect(problems("default", [upload("uploads/globex/x/a.jpg")], true)).toMatch(/must be under uploads\/default\//);
    const scopeOf = sourceScopeFor(["ingest"]);
    expect(scopeOf("ingest").unscoped).toBe(true);
    expect(scopeOf("gateway").unscoped).toBe(false);
    expect(scopeOf(undefined).unscoped).toBe(false);
  });
});

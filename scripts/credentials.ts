/**
 * `npm run credentials`: the internal plane's credentials for a deployment (compose, Kubernetes), as files.
 *
 *   npm run credentials [-- --out .secrets] [-- --force]
 *     a signing key pair, pool tokens for the workers (ids worker-…) and the detection workers (ids detector-…),
 *     the gateway's and an operator's tokens,
 *     and NATS users with permissions (nats.conf) with a password file per user.
 *   npm run credentials -- token --key .secrets/auth-signing-key.pem --role service --sub billing
 *       [--tenants acme,beta] [--ttl-days 365] [--pool]
 *     one more token, printed (a service acting for its tenants, a worker with a fixed id, an operator).
 *
 * The signing key mints tokens and is needed by nothing that runs: keep it off the cluster (docs/security.md).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { generateSigningKeys, mintToken, ROLES, type Role } from "@imgc/common";
import { generateNatsUsers, natsAuthorizationConfig } from "./lib/nats-auth.js";

/** The workers' pool: compose names its replicas' host `worker`, a Deployment `worker` names its pods worker-…. */
export const WORKER_POOL = "worker";
/** The detection workers' pool: compose's host `detector`, the Deployment `detector`'s pods detector-…. */
export const DETECTOR_POOL = "detector";

const usage = `usage: npm run credentials [-- --out DIR] [-- --force]
       npm run credentials -- token --key PEM --role ${ROLES.join("|")} --sub NAME [--tenants a,b] [--ttl-days N] [--pool]`;

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        out: { type: "string", default: ".secrets" },
        force: { type: "boolean", default: false },
        key: { type: "string" },
        role: { type: "string" },
        sub: { type: "string" },
        tenants: { type: "string" },
        "ttl-days": { type: "string", default: "365" },
        pool: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return fail((err as Error).message);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const ttlDays = Number(values["ttl-days"]);
if (!/^\d+$/.test(values["ttl-days"]) || ttlDays < 1 || ttlDays > 3650) {
  fail(`Expected integer between 1 and 3650 for --ttl-days but received ${JSON.stringify(values["ttl-days"])}`);
}
const ttlS = ttlDays * 24 * 3600;

if (positionals[0] === "token") {
  if (!values.key) fail("Expected --key, the signing key's PEM file");
  if (!values.role || !(ROLES as readonly string[]).includes(values.role)) {
    fail(`Expected one of ${ROLES.join(", ")} for --role but received ${JSON.stringify(values.role ?? "")}`);
  }
  if (!values.sub) fail("Expected --sub, the worker id or the service's name");
  const tenants = values.tenants
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  console.log(
    mintToken(readFileSync(values.key, "utf8"), {
      role: values.role as Role,
      sub: values.sub,
      ttlS,
      ...(tenants ? { tenants } : {}),
      ...(values.pool ? { pool: true } : {}),
    }),
  );
  process.exit(0);
}
if (positionals.length > 0) fail(`Unknown command ${JSON.stringify(positionals[0])}`);

const out = path.resolve(values.out);
const signingKey = path.join(out, "auth-signing-key.pem");
if (existsSync(signingKey) && !values.force) {
  fail(`${signingKey} exists: keeping it (and the rest). --force makes new credentials for every process.`);
}
mkdirSync(out, { recursive: true, mode: 0o700 });
const keys = generateSigningKeys();
const nats = generateNatsUsers();
const mint = (role: Role, sub: string, pool = false) => mintToken(keys.privateKey, { role, sub, ttlS, pool });
const files: Record<string, string> = {
  "auth-signing-key.pem": keys.privateKey,
  "auth-public-key.pem": keys.publicKey,
  "worker.token": mint("worker", WORKER_POOL, true),
  "detector.token": mint("worker", DETECTOR_POOL, true),
  "gateway.token": mint("gateway", "gateway"),
  "operator.token": mint("operator", "operator"),
  "nats.conf": natsAuthorizationConfig(nats),
  "nats-coordinator.password": nats.coordinator.password,
  "nats-worker.password": nats.worker.password,
  "nats-gateway.password": nats.gateway.password,
};
for (const [name, content] of Object.entries(files)) {
  // Readable by the containers' user (compose mounts secrets with the file's mode).
  writeFileSync(path.join(out, name), content.endsWith("\n") ? content : `${content}\n`, { mode: 0o644 });
}
console.log(`credentials written to ${path.relative(process.cwd(), out) || out}/ (${Object.keys(files).join(", ")})`);
console.log("NATS users: imgc-coordinator, imgc-worker, imgc-gateway. Keep auth-signing-key.pem off the cluster.");

/**
 * The SSRF guard: every URL the coordinator fetches on a caller's behalf (manifests, their images, webhooks)
 * goes through here. A host is resolved once, every address it resolves to is checked, and the connection is
 * made to exactly that checked address (a custom `lookup`), so a DNS answer that changes between check and
 * connect (rebinding) cannot reach an address that was never checked. Redirects are followed by hand, each
 * target checked again; the size is enforced while the body streams, and one deadline covers the whole fetch.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { pipeline, type Readable, Transform } from "node:stream";
import { brief } from "@imgc/common";
import ipaddr from "ipaddr.js";
import { createFetchSlots } from "./fetch-slots.js";

export interface FetchPolicy {
  /** IMGC_FETCH_ALLOW: hosts, host:port, IPs, CIDRs or URL prefixes that may be fetched even when private. */
  allow: readonly string[];
  /** IMGC_FETCH_ALLOWED_HOSTS: when not empty, only URLs matching one of these hosts or prefixes are fetched. */
  allowedHosts: readonly string[];
  /**
   * IMGC_FETCH_PORTS: the ports URLs may name (80 and 443 by default). A port outside them is fetched only
   * from a host:port or URL prefix that IMGC_FETCH_ALLOW or IMGC_FETCH_ALLOWED_HOSTS names with that port.
   */
  ports?: readonly number[];
  /** The most fetches (images, manifests, webhooks) in flight at once across the whole coordinator; 32 by default. */
  maxConcurrent?: number;
  /** The most bytes one body may have. */
  maxBytes: number;
  /** The most time one fetch may take, redirects and body included. */
  timeoutMs: number;
}

export type FetchFailure = "refused" | "too_large" | "timeout" | "http" | "network" | "cancelled";

/** A URL as messages quote it: at most 160 characters, control characters escaped. */
export function briefUrl(url: string): string {
  return brief(url, 160);
}

/**
 * Why a URL was not fetched. `message` is what a caller may see: a refusal says why (about the URL itself,
 * never about what a name resolved to), the other failures say only what kind they are. `reason` and
 * `status` carry the detail (status codes, socket errors such as EHOSTUNREACH) for the coordinator's log:
 * echoing them would turn a blind SSRF into a port scanner.
 */
export class FetchError extends Error {
  override name = "FetchError";
  constructor(
    readonly url: string,
    readonly failure: FetchFailure,
    readonly reason: string,
    readonly status = 0,
  ) {
    super(publicMessage(url, failure, reason));
  }
}

function publicMessage(url: string, failure: FetchFailure, reason: string): string {
  const quoted = briefUrl(url);
  switch (failure) {
    case "refused":
    case "too_large":
      return `${failure === "refused" ? "refused" : "could not fetch"} ${quoted}: ${reason}`;
    case "timeout":
      return `could not fetch ${quoted}: it took too long`;
    case "cancelled":
      return `could not fetch ${quoted}: the request was cancelled`;
    default:
      return `could not fetch ${quoted}`;
  }
}

export interface FetchResponse {
  /** The status, 2xx (redirects were followed). */
  status: number;
  /** The URL the body came from, after redirects. */
  url: string;
  contentType: string;
  body: Readable;
}

export interface RequestOptions {
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** Statuses other than 2xx resolve instead of failing (the webhook wants to see them). */
  anyStatus?: boolean;
  /** The caller's own signal (a SubmitJob whose client went away): aborts waiting, connecting and reading. */
  signal?: AbortSignal;
}

type Lookup = (host: string) => Promise<LookupAddress[]>;

const MAX_REDIRECTS = 3;

/**
 * Words for the IANA special-purpose ranges ipaddr.js names (its `range()`); any other name but "unicast" is
 * refused too, in its own name. Judging by the registry rather than a hand-kept list is what catches the
 * ranges that reach private space by translation: NAT64 (64:ff9b::/96, "rfc6052"), 6to4 (2002::/16), Teredo
 * (2001::/32), and the deprecated site-local fec0::/10, besides 192.0.0.0/24, 198.18.0.0/15 and the TEST-NETs.
 */
const RANGE_WORDS: Record<string, string> = {
  unspecified: "an unspecified",
  loopback: "a loopback",
  linkLocal: "a link-local",
  private: "a private",
  uniqueLocal: "a private",
  carrierGradeNat: "a carrier-grade NAT",
  multicast: "a multicast",
  broadcast: "a reserved",
  reserved: "a reserved",
  rfc6052: "a NAT64",
  rfc6145: "a NAT64",
  "6to4": "a 6to4",
  teredo: "a Teredo",
  deprecatedSiteLocal: "a site-local",
};

/** The IPv4 address an IPv6 address embeds (::ffff:a.b.c.d mapped, ::a.b.c.d compatible), if any. */
export function embeddedIpv4(address: string): string | null {
  if (isIP(address) !== 6) return null;
  const groups = ipaddr.IPv6.parse(address).parts;
  const zeros = groups.slice(0, 5).every((g) => g === 0);
  const mapped = zeros && groups[5] === 0xffff;
  const compatible = zeros && groups[5] === 0 && (groups[6] ?? 0) !== 0;
  if (!mapped && !compatible) return null;
  const hi = groups[6] ?? 0;
  const lo = groups[7] ?? 0;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** "a loopback" and the like when the address is in a special-purpose range; null when it is global unicast. */
export function forbiddenKind(address: string): string | null {
  if (!isIP(address)) return "not an IP";
  const v4 = isIP(address) === 4 ? address : embeddedIpv4(address);
  const range = ipaddr.parse(v4 ?? address).range();
  if (range === "unicast") return null;
  return RANGE_WORDS[range] ?? `a special-purpose (${range})`;
}

/** Ports fetched when IMGC_FETCH_PORTS does not say otherwise: the web's own. */
export const DEFAULT_PORTS: readonly number[] = [80, 443];

interface Rules {
  hosts: Set<string>;
  hostPorts: Set<string>;
  suffixes: string[];
  /** URL prefixes: the same scheme, host and port exactly, and a path under the prefix's, segment-wise. */
  prefixes: URL[];
  networks: BlockList;
}

function parseRules(entries: readonly string[]): Rules {
  const rules: Rules = {
    hosts: new Set(),
    hostPorts: new Set(),
    suffixes: [],
    prefixes: [],
    networks: new BlockList(),
  };
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const cidr = /^([^/]+)\/(\d+)$/.exec(entry);
    if (/^https?:\/\//.test(entry)) {
      try {
        rules.prefixes.push(new URL(entry));
      } catch {}
    } else if (cidr && isIP(cidr[1] ?? "")) {
      const ip = cidr[1] as string;
      rules.networks.addSubnet(ip, Number(cidr[2]), isIP(ip) === 4 ? "ipv4" : "ipv6");
    } else if (isIP(entry)) rules.networks.addAddress(entry, isIP(entry) === 4 ? "ipv4" : "ipv6");
    else if (entry.startsWith("*.")) rules.suffixes.push(entry.slice(1));
    else if (/:\d+$/.test(entry) || /^\[.*\]:\d+$/.test(entry)) rules.hostPorts.add(entry);
    else rules.hosts.add(entry.replace(/^\[|\]$/g, ""));
  }
  return rules;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
}

function portOf(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

/** `url` lies under the prefix URL: same origin exactly (never a string prefix of the host), path segment-wise. */
function underPrefix(prefix: URL, url: URL): boolean {
  if (prefix.protocol !== url.protocol || hostOf(prefix) !== hostOf(url) || portOf(prefix) !== portOf(url)) {
    return false;
  }
  const base = prefix.pathname;
  const path = url.pathname;
  return path === base || path.startsWith(base.endsWith("/") ? base : `${base}/`);
}

/** The URL's host:port or a URL prefix names it, port included. */
function namedWithPort(rules: Rules, url: URL): boolean {
  return (
    rules.hostPorts.has(`${url.hostname.toLowerCase()}:${portOf(url)}`) ||
    rules.prefixes.some((prefix) => underPrefix(prefix, url))
  );
}

/** The URL's host (exactly, or by a *.suffix), host:port, or a URL prefix of it is listed. */
function namedIn(rules: Rules, url: URL): boolean {
  const host = hostOf(url);
  return rules.hosts.has(host) || rules.suffixes.some((suffix) => host.endsWith(suffix)) || namedWithPort(rules, url);
}

function addressIn(rules: Rules, address: string): boolean {
  const family = isIP(address) === 4 ? "ipv4" : "ipv6";
  const v4 = embeddedIpv4(address);
  return rules.networks.check(address, family) || (v4 !== null && rules.networks.check(v4, "ipv4"));
}

const systemLookup: Lookup = (host) =>
  new Promise((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

export function createGuardedFetch(policy: FetchPolicy, lookup: Lookup = systemLookup) {
  const allow = parseRules(policy.allow);
  const allowed = parseRules(policy.allowedHosts);
  const listMode = policy.allowedHosts.some((entry) => entry.trim() !== "");
  const ports = new Set(policy.ports && policy.ports.length > 0 ? policy.ports : DEFAULT_PORTS);
  const slots = createFetchSlots(policy.maxConcurrent ?? 32);

  /** The checked address to connect to; throws FetchError("refused") naming the reason. */
  async function check(href: string): Promise<{ url: URL; address: LookupAddress }> {
    let url: URL;
    try {
      url = new URL(href);
    } catch {
      throw new FetchError(href, "refused", "not a URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new FetchError(href, "refused", `${url.protocol} URLs are not fetched, only http and https`);
    }
    if (url.username || url.password) throw new FetchError(href, "refused", "URLs with credentials are not fetched");
    if (listMode && !namedIn(allowed, url)) {
      throw new FetchError(href, "refused", `${url.host} is not in IMGC_FETCH_ALLOWED_HOSTS`);
    }
    const host = hostOf(url);
    let addresses: LookupAddress[];
    if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await lookup(host);
      } catch (err) {
        throw new FetchError(href, "network", `cannot resolve ${host} (${(err as NodeJS.ErrnoException).code ?? err})`);
      }
      if (addresses.length === 0) throw new FetchError(href, "network", `${host} resolves to no address`);
    }
    const named = namedIn(allow, url);
    // Any forbidden address refuses the host: connecting to "the public one" would let the resolver choose.
    for (const { address } of addresses) {
      const kind = forbiddenKind(address);
      if (kind && !named && !addressIn(allow, address)) {
        // A name's answer is not repeated: it would tell a caller what internal names resolve to.
        if (address !== host) {
          throw new FetchError(href, "refused", `${host} resolves to an address that is not fetched (${kind})`);
        }
        const which = address;
        throw new FetchError(href, "refused", `${which} is ${kind} address; allow it with IMGC_FETCH_ALLOW`);
      }
    }
    // After the address: a private address is the reason worth telling, whatever the port.
    if (!ports.has(Number(portOf(url))) && !namedWithPort(allow, url) && !namedWithPort(allowed, url)) {
      throw new FetchError(href, "refused", `port ${portOf(url)} is not fetched; allow it with IMGC_FETCH_PORTS`);
    }
    return { url, address: addresses[0] as LookupAddress };
  }

  function once(
    url: URL,
    address: LookupAddress,
    options: RequestOptions,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    // The connection goes to the address that was checked, whatever the resolver would answer now.
    const pinned: LookupFunction = (_host, lookupOptions, callback) => {
      if (lookupOptions.all) callback(null, [address]);
      else callback(null, address.address, address.family);
    };
    const client = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const request = client.request(url, {
        method: options.method ?? "GET",
        headers: { "user-agent": "imgc-coordinator", ...options.headers },
        lookup: pinned,
      });
      const onAbort = () =>
        request.destroy(options.signal?.aborted ? cancelled(url.href) : timedOut(url.href, policy.timeoutMs));
      signal.addEventListener("abort", onAbort, { once: true });
      request.on("response", (response) => {
        signal.removeEventListener("abort", onAbort);
        resolve(response);
      });
      request.on("error", (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      });
      if (signal.aborted) onAbort();
      else request.end(options.body);
    });
  }

  /**
   * Fetches `href` behind the guard; the body is limited to maxBytes and must be read before the deadline. It
   * holds one of the coordinator's fetch slots from the start until its body ends (or it fails).
   */
  async function request(href: string, options: RequestOptions = {}): Promise<FetchResponse> {
    let release: () => void;
    try {
      release = await slots.acquire(options.signal);
    } catch {
      throw cancelled(href);
    }
    try {
      const response = await requestHeld(href, options);
      response.body.once("close", release);
      return response;
    } catch (err) {
      release();
      throw err;
    }
  }

  async function requestHeld(href: string, options: RequestOptions): Promise<FetchResponse> {
    const deadline = AbortSignal.timeout(policy.timeoutMs);
    const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
    let current = href;
    for (let redirects = 0; ; redirects++) {
      const { url, address } = await check(current);
      let response: http.IncomingMessage;
      try {
        response = await once(url, address, options, signal);
      } catch (err) {
        if (err instanceof FetchError) throw err;
        throw new FetchError(href, "network", (err as NodeJS.ErrnoException).code ?? String(err));
      }
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location && (options.method ?? "GET") === "GET") {
        response.resume();
        if (redirects >= MAX_REDIRECTS) throw new FetchError(href, "http", `more than ${MAX_REDIRECTS} redirects`);
        current = new URL(location, url).href;
        continue;
      }
      if ((status < 200 || status >= 300) && !options.anyStatus) {
        response.resume();
        throw new FetchError(href, "http", `HTTP ${status}`, status);
      }
      const length = Number(response.headers["content-length"] ?? Number.NaN);
      if (length > policy.maxBytes) {
        response.destroy();
        throw new FetchError(href, "too_large", `${length} bytes, more than the ${policy.maxBytes} allowed`);
      }
      return {
        status,
        url: url.href,
        contentType: String(response.headers["content-type"] ?? "application/octet-stream"),
        body: limited(response, href, policy, signal, options.signal),
      };
    }
  }

  return { check, request };
}

/** The caller went away: nobody is left to read the answer. */
function cancelled(href: string): FetchError {
  return new FetchError(href, "cancelled", "the request was cancelled");
}

function timedOut(href: string, timeoutMs: number): FetchError {
  return new FetchError(href, "timeout", `not fetched within ${timeoutMs} ms`);
}

/** The body, failing with FetchError once it passes maxBytes or the deadline. */
function limited(
  response: http.IncomingMessage,
  href: string,
  policy: FetchPolicy,
  signal: AbortSignal,
  callerSignal: AbortSignal | undefined,
): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > policy.maxBytes) {
        callback(new FetchError(href, "too_large", `more than the ${policy.maxBytes} bytes allowed`));
      } else callback(null, chunk);
    },
  });
  const onAbort = () => counter.destroy(callerSignal?.aborted ? cancelled(href) : timedOut(href, policy.timeoutMs));
  signal.addEventListener("abort", onAbort, { once: true });
  pipeline(response, counter, () => signal.removeEventListener("abort", onAbort));
  return counter;
}

/** Reads a guarded body whole (it is bounded by maxBytes already). */
export async function readBody(response: FetchResponse): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const part of response.body) parts.push(part as Buffer);
  } catch (err) {
    throw asFetchError(response.url, err);
  }
  return Buffer.concat(parts);
}

/** A body's stream error as a FetchError (the socket's own errors are not). */
export function asFetchError(href: string, err: unknown): FetchError {
  if (err instanceof FetchError) return err;
  return new FetchError(href, "network", (err as NodeJS.ErrnoException).code ?? String(err));
}

export type GuardedFetch = ReturnType<typeof createGuardedFetch>;

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

export interface FetchPolicy {
  /** IMGC_FETCH_ALLOW: hosts, host:port, IPs, CIDRs or URL prefixes that may be fetched even when private. */
  allow: readonly string[];
  /** IMGC_FETCH_ALLOWED_HOSTS: when not empty, only URLs matching one of these hosts or prefixes are fetched. */
  allowedHosts: readonly string[];
  /** The most bytes one body may have. */
  maxBytes: number;
  /** The most time one fetch may take, redirects and body included. */
  timeoutMs: number;
}

export type FetchFailure = "refused" | "too_large" | "timeout" | "http" | "network";

/** Why a URL was not fetched. `reason` says it in words a caller can act on. */
export class FetchError extends Error {
  override name = "FetchError";
  constructor(
    readonly url: string,
    readonly failure: FetchFailure,
    readonly reason: string,
    readonly status = 0,
  ) {
    super(`${failure === "refused" ? "refused" : "could not fetch"} ${url}: ${reason}`);
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
}

type Lookup = (host: string) => Promise<LookupAddress[]>;

const MAX_REDIRECTS = 3;

function blocks(family: "ipv4" | "ipv6", ranges: readonly [string, number][]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, family);
  return list;
}

/** Address ranges never fetched unless allowed, each with the words used when refusing. */
const FORBIDDEN: readonly [string, BlockList, BlockList][] = [
  ["an unspecified", blocks("ipv4", [["0.0.0.0", 8]]), blocks("ipv6", [["::", 128]])],
  ["a loopback", blocks("ipv4", [["127.0.0.0", 8]]), blocks("ipv6", [["::1", 128]])],
  ["a link-local", blocks("ipv4", [["169.254.0.0", 16]]), blocks("ipv6", [["fe80::", 10]])],
  [
    "a private",
    blocks("ipv4", [
      ["10.0.0.0", 8],
      ["172.16.0.0", 12],
      ["192.168.0.0", 16],
    ]),
    blocks("ipv6", [["fc00::", 7]]),
  ],
  ["a carrier-grade NAT", blocks("ipv4", [["100.64.0.0", 10]]), blocks("ipv6", [])],
  ["a multicast", blocks("ipv4", [["224.0.0.0", 4]]), blocks("ipv6", [["ff00::", 8]])],
  ["a reserved", blocks("ipv4", [["240.0.0.0", 4]]), blocks("ipv6", [])],
];

/** The IPv4 address an IPv6 address embeds (::ffff:a.b.c.d mapped, ::a.b.c.d compatible), if any. */
export function embeddedIpv4(address: string): string | null {
  if (isIP(address) !== 6) return null;
  const groups = expandIpv6(address);
  const zeros = groups.slice(0, 5).every((g) => g === 0);
  const mapped = zeros && groups[5] === 0xffff;
  const compatible = zeros && groups[5] === 0 && (groups[6] ?? 0) !== 0;
  if (!mapped && !compatible) return null;
  const hi = groups[6] ?? 0;
  const lo = groups[7] ?? 0;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function expandIpv6(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...fill, ...right].map((g) => Number.parseInt(g, 16));
}

/** "a loopback" and the like when the address is in a forbidden range; null when it is public. */
export function forbiddenKind(address: string): string | null {
  const v4 = isIP(address) === 4 ? address : embeddedIpv4(address);
  for (const [kind, ipv4, ipv6] of FORBIDDEN) {
    if (v4 ? ipv4.check(v4, "ipv4") : ipv6.check(address, "ipv6")) return kind;
  }
  return null;
}

interface Rules {
  hosts: Set<string>;
  hostPorts: Set<string>;
  suffixes: string[];
  prefixes: string[];
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
    if (/^https?:\/\//.test(entry)) rules.prefixes.push(entry);
    else if (cidr && isIP(cidr[1] ?? "")) {
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

/** The URL's host (or host:port, or a prefix of the URL) is listed. */
function namedIn(rules: Rules, url: URL): boolean {
  const host = hostOf(url);
  const hostPort = `${url.hostname.toLowerCase()}:${portOf(url)}`;
  const href = url.href.toLowerCase();
  return (
    rules.hosts.has(host) ||
    rules.hostPorts.has(hostPort) ||
    rules.suffixes.some((suffix) => host.endsWith(suffix)) ||
    rules.prefixes.some((prefix) => href.startsWith(prefix))
  );
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
        const which = address === host ? address : `${host} resolves to ${address}, which`;
        throw new FetchError(href, "refused", `${which} is ${kind} address; allow it with IMGC_FETCH_ALLOW`);
      }
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
      const onAbort = () => request.destroy(timedOut(url.href, policy.timeoutMs));
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

  /** Fetches `href` behind the guard; the body is limited to maxBytes and must be read before the deadline. */
  async function request(href: string, options: RequestOptions = {}): Promise<FetchResponse> {
    const signal = AbortSignal.timeout(policy.timeoutMs);
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
        body: limited(response, href, policy, signal),
      };
    }
  }

  return { check, request };
}

function timedOut(href: string, timeoutMs: number): FetchError {
  return new FetchError(href, "timeout", `not fetched within ${timeoutMs} ms`);
}

/** The body, failing with FetchError once it passes maxBytes or the deadline. */
function limited(response: http.IncomingMessage, href: string, policy: FetchPolicy, signal: AbortSignal): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > policy.maxBytes) {
        callback(new FetchError(href, "too_large", `more than the ${policy.maxBytes} bytes allowed`));
      } else callback(null, chunk);
    },
  });
  const onAbort = () => counter.destroy(timedOut(href, policy.timeoutMs));
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

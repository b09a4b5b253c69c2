import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createGuardedFetch,
  embeddedIpv4,
  FetchError,
  type FetchPolicy,
  forbiddenKind,
  readBody,
} from "./ssrf-guard.js";

const policy: FetchPolicy = { allow: [], allowedHosts: [], maxBytes: 1024, timeoutMs: 2_000 };

async function serve(handler: RequestListener): Promise<{ server: Server; base: string; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, port };
}

async function refusal(promise: Promise<unknown>): Promise<FetchError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FetchError);
  return err as FetchError;
}

describe("forbidden ranges", () => {
  it.each([
    ["127.0.0.1", "a loopback"],
    ["127.255.0.9", "a loopback"],
    ["::1", "a loopback"],
    ["169.254.169.254", "a link-local"],
    ["fe80::1", "a link-local"],
    ["10.1.2.3", "a private"],
    ["172.16.0.1", "a private"],
    ["172.31.255.255", "a private"],
    ["192.168.1.1", "a private"],
    ["fc00::1", "a private"],
    ["fd12:3456::1", "a private"],
    ["0.0.0.0", "an unspecified"],
    ["::", "an unspecified"],
    ["100.64.0.1", "a carrier-grade NAT"],
    ["224.0.0.1", "a multicast"],
    ["ff02::1", "a multicast"],
    ["255.255.255.255", "a reserved"],
    // What a hand-kept list missed, and the IANA registry names.
    ["64:ff9b::7f00:1", "a NAT64"],
    ["64:ff9b::a00:1", "a NAT64"],
    ["2002:7f00:1::1", "a 6to4"],
    ["2001:0:4136:e378::1", "a Teredo"],
    ["fec0::1", "a site-local"],
    ["192.0.0.8", "a reserved"],
    ["198.18.0.1", "a reserved"],
    ["198.19.255.255", "a reserved"],
    ["192.0.2.1", "a reserved"],
    ["198.51.100.7", "a reserved"],
    ["203.0.113.9", "a reserved"],
    ["2001:db8::1", "a reserved"],
    ["::ffff:127.0.0.1", "a loopback"],
    ["::ffff:7f00:1", "a loopback"],
    ["::ffff:a9fe:a9fe", "a link-local"],
    ["::ffff:10.0.0.1", "a private"],
    ["::ffff:198.18.0.1", "a reserved"],
  ])("%s is %s address", (address, kind) => {
    expect(forbiddenKind(address)).toBe(kind);
  });

  it.each(["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "1.1.1.1"])(
    "%s is public",
    (address) => {
      expect(forbiddenKind(address)).toBeNull();
    },
  );

  it("reads the IPv4 address inside mapped IPv6 forms", () => {
    expect(embeddedIpv4("::ffff:7f00:1")).toBe("127.0.0.1");
    expect(embeddedIpv4("0:0:0:0:0:ffff:c0a8:0101")).toBe("192.168.1.1");
    expect(embeddedIpv4("2001:db8::1")).toBeNull();
  });
});

describe("guarded fetch", () => {
  let target: Awaited<ReturnType<typeof serve>>;
  let hops = 0;
  beforeAll(async () => {
    target = await serve((req, res) => {
      hops++;
      if (req.url === "/small") res.end("hello");
      else if (req.url === "/big") res.end(Buffer.alloc(4096));
      else if (req.url === "/big-chunked") {
        // No Content-Length: the limit must hold while the body streams.
        res.write(Buffer.alloc(800));
        setTimeout(() => res.end(Buffer.alloc(800)), 20);
      } else if (req.url === "/slow") setTimeout(() => res.end("late"), 5_000).unref();
      else if (req.url === "/slow-body") {
        res.write("a");
        setTimeout(() => res.end("b"), 5_000).unref();
      } else if (req.url?.startsWith("/to/")) {
        res.writeHead(302, { location: decodeURIComponent(req.url.slice(4)) }).end();
      } else if (req.url === "/loop") res.writeHead(302, { location: "/loop" }).end();
      else res.writeHead(404).end();
    });
  });
  afterAll(() => {
    target.server.closeAllConnections();
    target.server.close();
  });

  const withPort = (extra: Partial<FetchPolicy> = {}): FetchPolicy => ({ ...policy, ports: [target.port], ...extra });

  it("refuses a loopback URL, naming the reason and the setting that allows it", async () => {
    const err = await refusal(createGuardedFetch(withPort()).request(`${target.base}/small`));
    expect(err.failure).toBe("refused");
    expect(err.message).toBe(
      `refused ${target.base}/small: 127.0.0.1 is a loopback address; allow it with IMGC_FETCH_ALLOW`,
    );
  });

  it("refuses a host when any of its addresses is private, even beside a public one", async () => {
    const lookup = async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "10.0.0.7", family: 4 },
    ];
    const err = await refusal(createGuardedFetch(policy, lookup).check("http://images.example/a.jpg"));
    // What the name resolved to is not told: that would map internal names for the caller.
    expect(err.message).toBe(
      "refused http://images.example/a.jpg: images.example resolves to an address that is not fetched (a private)",
    );
    expect(err.message).not.toContain("10.0.0.7");
  });

  it("refuses IPv4-mapped IPv6 literals of loopback", async () => {
    const err = await refusal(createGuardedFetch({ ...policy, ports: [9] }).check("http://[::ffff:127.0.0.1]:9/x.jpg"));
    expect(err.reason).toMatch(/is a loopback address/);
  });

  it("refuses schemes other than http(s) and URLs with credentials", async () => {
    const guard = createGuardedFetch(policy);
    expect((await refusal(guard.check("file:///etc/passwd"))).reason).toMatch(/file: URLs are not fetched/);
    expect((await refusal(guard.check("https://u:p@example.com/"))).reason).toMatch(/credentials/);
  });

  it("fetches what IMGC_FETCH_ALLOW names: host:port, an IP, a CIDR or a URL prefix", async () => {
    for (const allow of [`127.0.0.1:${target.port}`, "127.0.0.1", "127.0.0.0/8", `${target.base}/small`]) {
      const guard = createGuardedFetch(withPort({ allow: [allow] }));
      const response = await guard.request(`${target.base}/small`);
      expect((await readBody(response)).toString()).toBe("hello");
    }
    // host:port allows that port only.
    const guard = createGuardedFetch({ ...policy, allow: [`127.0.0.1:${target.port}`] });
    expect((await refusal(guard.request("http://127.0.0.1:9/x.jpg"))).failure).toBe("refused");
    // A URL prefix allows the URLs under it only, path segment by segment.
    const prefixed = createGuardedFetch({ ...policy, allow: [`${target.base}/sm`] });
    expect((await refusal(prefixed.request(`${target.base}/big`))).failure).toBe("refused");
    expect((await refusal(prefixed.request(`${target.base}/small`))).failure).toBe("refused");
  });

  it("matches allow-list hosts exactly: a listed host is no string prefix of another", async () => {
    const lookup = async () => [{ address: "93.184.216.34", family: 4 }];
    for (const entry of ["https://cdn.example.com", "https://cdn.example.com/", "cdn.example.com"]) {
      const guard = createGuardedFetch({ ...policy, allowedHosts: [entry] }, lookup);
      expect((await guard.check("https://cdn.example.com/a.jpg")).url.hostname).toBe("cdn.example.com");
      for (const evil of [
        "https://cdn.example.com.evil.net/a.jpg",
        "https://cdn.example.comevil.net/a.jpg",
        "https://evil.net/cdn.example.com/a.jpg",
      ]) {
        expect((await refusal(guard.check(evil))).failure, `${entry} let ${evil} in`).toBe("refused");
      }
    }
  });

  it("fetches only ports 80 and 443 unless IMGC_FETCH_PORTS or a host:port entry names another", async () => {
    const lookup = async () => [{ address: "93.184.216.34", family: 4 }];
    const guard = createGuardedFetch(policy, lookup);
    expect((await guard.check("http://img.example/a.jpg")).url.port).toBe("");
    expect((await guard.check("https://img.example:443/a.jpg")).url.hostname).toBe("img.example");
    const refused = await refusal(guard.check("http://img.example:6379/a.jpg"));
    expect(refused.message).toBe(
      "refused http://img.example:6379/a.jpg: port 6379 is not fetched; allow it with IMGC_FETCH_PORTS",
    );
    const configured = createGuardedFetch({ ...policy, ports: [8443] }, lookup);
    expect((await configured.check("https://img.example:8443/a.jpg")).url.port).toBe("8443");
    expect((await refusal(configured.check("https://img.example/a.jpg"))).failure).toBe("refused");
    const named = createGuardedFetch({ ...policy, allowedHosts: ["img.example:8080"] }, lookup);
    expect((await named.check("http://img.example:8080/a.jpg")).url.port).toBe("8080");
  });

  it("connects to the address it checked, not to what the name resolves to later", async () => {
    let calls = 0;
    // A rebinding resolver: the first answer (checked, allowed) points at the server; any later one elsewhere.
    const lookup = async () => [{ address: calls++ === 0 ? "127.0.0.1" : "10.9.9.9", family: 4 }];
    const guard = createGuardedFetch(withPort({ allow: ["127.0.0.1"] }), lookup);
    const response = await guard.request(`http://rebind.test:${target.port}/small`);
    expect((await readBody(response)).toString()).toBe("hello");
    expect(calls).toBe(1);
  });

  it("in allow-list mode fetches only the listed hosts", async () => {
    const lookup = async () => [{ address: "93.184.216.34", family: 4 }];
    const guard = createGuardedFetch({ ...policy, allowedHosts: ["cdn.example", "*.img.example"] }, lookup);
    expect((await guard.check("https://cdn.example/a.jpg")).url.hostname).toBe("cdn.example");
    expect((await guard.check("https://eu.img.example/a.jpg")).url.hostname).toBe("eu.img.example");
    expect((await refusal(guard.check("https://other.example/a.jpg"))).reason).toBe(
      "other.example is not in IMGC_FETCH_ALLOWED_HOSTS",
    );
    // Listed is not enough for a private address: IMGC_FETCH_ALLOW still decides that.
    const listed = createGuardedFetch({ ...policy, allowedHosts: [`127.0.0.1:${target.port}`] });
    expect((await refusal(listed.request(`${target.base}/small`))).reason).toMatch(/loopback/);
  });

  it("follows redirects checking each target, at most 3", async () => {
    const guard = createGuardedFetch({ ...policy, allow: [`127.0.0.1:${target.port}`] });
    const response = await guard.request(`${target.base}/to/${encodeURIComponent("/small")}`);
    expect((await readBody(response)).toString()).toBe("hello");
    expect(response.url).toBe(`${target.base}/small`);
    // A redirect to an address the guard refuses is refused, though the first hop was allowed.
    const away = await refusal(guard.request(`${target.base}/to/${encodeURIComponent("http://169.254.169.254/")}`));
    expect(away.reason).toMatch(/169\.254\.169\.254 is a link-local address/);
    hops = 0;
    const loop = await refusal(guard.request(`${target.base}/loop`));
    expect(loop.reason).toBe("more than 3 redirects");
    expect(hops).toBe(4);
  });

  it("enforces the size from Content-Length and while streaming", async () => {
    const guard = createGuardedFetch(withPort({ allow: ["127.0.0.1"] }));
    const declared = await refusal(guard.request(`${target.base}/big`));
    expect(declared.failure).toBe("too_large");
    const response = await guard.request(`${target.base}/big-chunked`);
    const streamed = await refusal(readBody(response));
    expect(streamed.failure).toBe("too_large");
  });

  it("times out waiting for headers and while reading the body", async () => {
    const guard = createGuardedFetch(withPort({ allow: ["127.0.0.1"], timeoutMs: 200 }));
    const started = Date.now();
    expect((await refusal(guard.request(`${target.base}/slow`))).failure).toBe("timeout");
    const response = await guard.request(`${target.base}/slow-body`);
    expect((await refusal(readBody(response))).failure).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("reports HTTP errors with their status", async () => {
    const guard = createGuardedFetch(withPort({ allow: ["127.0.0.1"] }));
    const err = await refusal(guard.request(`${target.base}/missing`));
    expect([err.failure, err.status, err.reason]).toEqual(["http", 404, "HTTP 404"]);
    // The caller is told it failed, not how: status codes and socket errors would map the network.
    expect(err.message).toBe(`could not fetch ${target.base}/missing`);
  });

  it("keeps at most maxConcurrent fetches in flight, and a cancelled caller leaves the queue", async () => {
    const guard = createGuardedFetch(withPort({ allow: ["127.0.0.1"], maxConcurrent: 1 }));
    const first = await guard.request(`${target.base}/slow-body`);
    const controller = new AbortController();
    const queued = guard.request(`${target.base}/small`, { signal: controller.signal });
    controller.abort();
    expect((await refusal(queued)).failure).toBe("cancelled");
    first.body.destroy();
    // The slot came back when the first body closed: the next fetch runs.
    const response = await guard.request(`${target.base}/small`);
    expect((await readBody(response)).toString()).toBe("hello");
  });
});

import { ErrorCode } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { ItemError } from "../item-error.js";
import { sanitizeSvg } from "./svg.js";

const clean = (svg: string): string => sanitizeSvg(Buffer.from(svg)).toString("utf8");

describe("sanitizeSvg", () => {
  it("neutralises every external href and src, whatever the quoting or namespace", () => {
    const out = clean(`<svg>
      <image href="http://evil.example/a.png"/>
      <image xlink:href='https://evil.example/b.png'/>
      <image ns1:href = "file:///etc/passwd"/>
      <img src="//evil.example/c.png"/>
      <image href="http://evil.example/it's.png"/>
    </svg>`);
    expect(out).not.toMatch(/evil|passwd/);
    expect(out.match(/href\s*=\s*"#"|src="#"/g)).toHaveLength(5);
  });

  it("keeps fragments and data URLs", () => {
    const svg = `<svg><use href="#dot"/><image xlink:href="data:image/png;base64,AAAA"/><rect style="fill:url(#g)"/></svg>`;
    expect(clean(svg)).toBe(svg);
    expect(sanitizeSvg(Buffer.from(svg))).toEqual(Buffer.from(svg));
  });

  it("neutralises CSS url() and drops @import", () => {
    const out = clean(`<svg><style>@import url("http://evil.example/x.css"); @import 'http://evil.example/y.css';
      rect { fill: url( 'http://evil.example/p.png' ) }</style><rect style="fill: url(http://evil.example/q.png)"/></svg>`);
    expect(out).not.toMatch(/evil|@import/);
    expect(out.match(/url\(#\)/g)).toHaveLength(2);
  });

  it("refuses entity declarations", () => {
    let error: unknown;
    try {
      clean(`<!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;">]><svg>&b;</svg>`);
    } catch (e) {
      error = e;
    }
    expect(ItemError.is(error) && error.code).toBe(ErrorCode.UNSUPPORTED_FORMAT);
  });
});

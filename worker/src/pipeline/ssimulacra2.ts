/**
 * SSIMULACRA 2.1 (Jon Sneyers, Cloudinary, 2022–2023), after the published algorithm of libjxl's
 * tools/ssimulacra2.cc: sRGB → linear → XYB (rescaled to about 0…1), six scales halved in linear light, and per
 * scale and channel an SSIM map (without SSIM's luminance denominator) and two edge maps (artifacts: edges the
 * original lacks; detail lost: edges the distorted image lacks), each summarised by its mean and its 4-norm; the
 * 108 norms weighted by the published weights and mapped onto the published 100 (identical) … ~0 (very poor)
 * scale. The blur is the reference's recursive Gaussian (σ 1.5, Young & van Vliet / Charalampidis' third-order
 * IIR), so scores match the reference tool, not only its spirit.
 */
import type { Pixels } from "./ssim.js";

const NUM_SCALES = 6;
const C2 = 0.0009;

// --- colour -------------------------------------------------------------------------------------------------

/** sRGB-encoded 8-bit value → linear light, by table. */
const TO_LINEAR: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const v = i / 255;
    t[i] = v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }
  return t;
})();

// The opsin absorbance matrix and bias of libjxl's opsin_params.h, float as there.
const f = Math.fround;
const M = [0.3, 1 - 0.078 - 0.3, 0.078, 0.23, 1 - 0.078 - 0.23, 0.078, 0.24342268924547819, 0.20476744424496821, 0];
M[8] = 1 - (M[6] as number) - (M[7] as number);
const [M00, M01, M02, M10, M11, M12, M20, M21, M22] = M.map(f) as [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];
const BIAS = f(0.0037930732552754493);
const NEG_CBRT_BIAS = -Math.cbrt(BIAS);

/** Three planes of one size: linear RGB or XYB. */
interface Planes {
  readonly width: number;
  readonly height: number;
  readonly p: readonly [Float32Array, Float32Array, Float32Array];
}

const planes = (width: number, height: number): Planes => {
  const n = width * height;
  return { width, height, p: [new Float32Array(n), new Float32Array(n), new Float32Array(n)] };
};

/**
 * Linear RGB planes of 8-bit sRGB pixels (grey is replicated). Alpha is composited onto white in the encoded
 * space, as the reference composites onto its background: what an encoder does to invisible pixels does not
 * count, and white is what the engine flattens onto and a page shows behind an image.
 */
export const linearOf = (pixels: Pixels, into?: Planes): Planes => {
  const { data, width, height, channels } = pixels;
  const out = into ?? planes(width, height);
  const [r, g, b] = out.p;
  const n = width * height;
  const alpha = channels === 2 || channels === 4;
  const grey = channels <= 2;
  for (let i = 0, at = 0; i < n; i++, at += channels) {
    const v0 = data[at] as number;
    const v1 = grey ? v0 : (data[at + 1] as number);
    const v2 = grey ? v0 : (data[at + 2] as number);
    if (alpha && data[at + channels - 1] !== 255) {
      const a = (data[at + channels - 1] as number) / 255;
      const blend = (v: number) => {
        const e = (a * v) / 255 + (1 - a);
        return e <= 0.04045 ? e / 12.92 : ((e + 0.055) / 1.055) ** 2.4;
      };
      r[i] = blend(v0);
      g[i] = blend(v1);
      b[i] = blend(v2);
    } else {
      r[i] = TO_LINEAR[v0] as number;
      g[i] = TO_LINEAR[v1] as number;
      b[i] = TO_LINEAR[v2] as number;
    }
  }
  return out;
};

/** Linear RGB → XYB, made positive as the reference's MakePositiveXYB does. */
const xybOf = (lin: Planes, out: Planes): void => {
  const [r, g, b] = lin.p;
  const [x, y, z] = out.p;
  const n = lin.width * lin.height;
  for (let i = 0; i < n; i++) {
    const ri = r[i] as number;
    const gi = g[i] as number;
    const bi = b[i] as number;
    const m0 = Math.cbrt(Math.max(0, M00 * ri + M01 * gi + M02 * bi + BIAS)) + NEG_CBRT_BIAS;
    const m1 = Math.cbrt(Math.max(0, M10 * ri + M11 * gi + M12 * bi + BIAS)) + NEG_CBRT_BIAS;
    const m2 = Math.cbrt(Math.max(0, M20 * ri + M21 * gi + M22 * bi + BIAS)) + NEG_CBRT_BIAS;
    const yy = 0.5 * (m0 + m1);
    x[i] = 0.5 * (m0 - m1) * 14 + 0.42;
    y[i] = yy + 0.01;
    z[i] = m2 - yy + 0.55;
  }
};

/** The 2×2 box average in linear light; an odd last row or column averages with itself (edge clamped). */
const downsample = (lin: Planes, into?: Planes): Planes => {
  const { width, height } = lin;
  const ow = Math.ceil(width / 2);
  const oh = Math.ceil(height / 2);
  const out = into ?? planes(ow, oh);
  for (let c = 0; c < 3; c++) {
    const src = lin.p[c] as Float32Array;
    const dst = out.p[c] as Float32Array;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = 2 * oy * width;
      const y1 = Math.min(2 * oy + 1, height - 1) * width;
      for (let ox = 0; ox < ow; ox++) {
        const x0 = 2 * ox;
        const x1 = Math.min(x0 + 1, width - 1);
        dst[oy * ow + ox] =
          ((src[y0 + x0] as number) + (src[y0 + x1] as number) + (src[y1 + x0] as number) + (src[y1 + x1] as number)) *
          0.25;
      }
    }
  }
  return out;
};

// --- the recursive Gaussian (libjxl gauss_blur.cc, CreateRecursiveGaussian) ------------------------------------

const gaussian = (sigma: number) => {
  const radius = Math.round(3.2795 * sigma + 0.2546);
  const piDiv2r = Math.PI / (2 * radius);
  const omega = [piDiv2r, 3 * piDiv2r, 5 * piDiv2r] as const;
  const p1 = 1 / Math.tan(0.5 * omega[0]);
  const p3 = -1 / Math.tan(0.5 * omega[1]);
  const p5 = 1 / Math.tan(0.5 * omega[2]);
  const r1 = (p1 * p1) / Math.sin(omega[0]);
  const r3 = (-p3 * p3) / Math.sin(omega[1]);
  const r5 = (p5 * p5) / Math.sin(omega[2]);
  const rho = omega.map((w) => Math.exp(-0.5 * sigma * sigma * w * w) / radius) as [number, number, number];
  const d13 = p1 * r3 - r1 * p3;
  const d35 = p3 * r5 - r3 * p5;
  const d51 = p5 * r1 - r5 * p1;
  const zeta15 = d35 / d13;
  const zeta35 = d51 / d13;
  // beta = A⁻¹ · gamma, A = [p1 p3 p5; r1 r3 r5; zeta15 zeta35 1].
  const a = [p1, p3, p5, r1, r3, r5, zeta15, zeta35, 1] as const;
  const det =
    a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
  const inv = [
    (a[4] * a[8] - a[5] * a[7]) / det,
    (a[2] * a[7] - a[1] * a[8]) / det,
    (a[1] * a[5] - a[2] * a[4]) / det,
    (a[5] * a[6] - a[3] * a[8]) / det,
    (a[0] * a[8] - a[2] * a[6]) / det,
    (a[2] * a[3] - a[0] * a[5]) / det,
    (a[3] * a[7] - a[4] * a[6]) / det,
    (a[1] * a[6] - a[0] * a[7]) / det,
    (a[0] * a[4] - a[1] * a[3]) / det,
  ] as const;
  const gamma = [1, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]] as const;
  const at = (i: number) => inv[i] as number;
  const beta = [0, 1, 2].map((i) => at(3 * i) * gamma[0] + at(3 * i + 1) * gamma[1] + at(3 * i + 2) * gamma[2]);
  const n2 = omega.map((w, i) => f(-(beta[i] as number) * Math.cos(w * (radius + 1))));
  const d1 = omega.map((w) => f(-2 * Math.cos(w)));
  return { radius, n2: n2 as [number, number, number], d1: d1 as [number, number, number] };
};

const {
  radius: N,
  n2: [N2_1, N2_3, N2_5],
  d1: [D1_1, D1_3, D1_5],
} = gaussian(1.5);

/**
 * Blurs one plane: the recursive filter along each row, then down each column (all columns at once, row by
 * row, so memory is read in order). Outside the image counts as zero, as in the reference.
 */
export const createBlur = (maxWidth: number, maxHeight: number) => {
  const temp = new Float32Array(maxWidth * maxHeight);
  const state = new Float64Array(6 * maxWidth);
  return (src: Float32Array, dst: Float32Array, width: number, height: number): void => {
    for (let row = 0; row < height; row++) {
      const o = row * width;
      let p1 = 0;
      let p3 = 0;
      let p5 = 0;
      let q1 = 0;
      let q3 = 0;
      let q5 = 0;
      for (let n = -N + 1; n < width; n++) {
        const left = n - N - 1;
        const right = n + N - 1;
        const sum = (left >= 0 ? (src[o + left] as number) : 0) + (right < width ? (src[o + right] as number) : 0);
        const o1 = N2_1 * sum - D1_1 * p1 - q1;
        const o3 = N2_3 * sum - D1_3 * p3 - q3;
        const o5 = N2_5 * sum - D1_5 * p5 - q5;
        q1 = p1;
        q3 = p3;
        q5 = p5;
        p1 = o1;
        p3 = o3;
        p5 = o5;
        if (n >= 0) temp[o + n] = o1 + o3 + o5;
      }
    }
    // Column state, six values per column: previous and second previous output of each of the three filters.
    state.fill(0, 0, 6 * width);
    for (let n = -N + 1; n < height; n++) {
      const top = n - N - 1;
      const bottom = n + N - 1;
      const to = top * width;
      const bo = bottom * width;
      const out = n * width;
      for (let x = 0, s = 0; x < width; x++, s += 6) {
        const sum = (top >= 0 ? (temp[to + x] as number) : 0) + (bottom < height ? (temp[bo + x] as number) : 0);
        const p1 = state[s] as number;
        const p3 = state[s + 1] as number;
        const p5 = state[s + 2] as number;
        const o1 = N2_1 * sum - D1_1 * p1 - (state[s + 3] as number);
        const o3 = N2_3 * sum - D1_3 * p3 - (state[s + 4] as number);
        const o5 = N2_5 * sum - D1_5 * p5 - (state[s + 5] as number);
        state[s] = o1;
        state[s + 1] = o3;
        state[s + 2] = o5;
        state[s + 3] = p1;
        state[s + 4] = p3;
        state[s + 5] = p5;
        if (n >= 0) dst[out + x] = o1 + o3 + o5;
      }
    }
  };
};

// --- the score ----------------------------------------------------------------------------------------------

// The published weights of SSIMULACRA 2.1, in the reference's order: channel X, Y, B; scale 1:1 … 1:32; norm 1
// then 4; for each, SSIM, artifact (ringing), detail lost (blur).
const WEIGHTS: readonly number[] = [
  0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379, 0.0, 1.1041726426657346,
  0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666,
  0.0, 0.0007989109436015163, 0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0,
  0.0007289346991508072, 0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
  0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0,
  17.445833984131262, 0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
  225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985, 176.39317598450694,
  0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0, 0.0, 34.77906344483772,
  44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0008680556573291698, 0.0, 0.0, 0.0, 0.0, 0.0,
  0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0004179171803251336,
  0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0,
  95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493, 171.2667255897307,
  0.9807858872435379, 0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
];

/** The six norms of one scale and channel: SSIM (mean, 4-norm), artifact (mean, 4-norm), detail lost (mean, 4-norm). */
type Norms = readonly [number, number, number, number, number, number];

/** The reference image's work, done once for any number of distorted images. */
interface ReferenceScale {
  readonly width: number;
  readonly height: number;
  readonly xyb: Planes;
  readonly mu: Planes;
  readonly sigma: Planes;
}

/** Scores distorted versions of one reference image. */
export interface Scorer {
  readonly width: number;
  readonly height: number;
  /** The SSIMULACRA 2 score of a distorted image of the same size: 100 when identical, lower is worse. */
  score(distorted: Pixels): number;
}

/** How many scales the reference computes: it checks the size before halving, so the last one may be < 8. */
const scalesOf = (width: number, height: number): number => {
  let n = 0;
  for (let w = width, h = height; n < NUM_SCALES; n++) {
    if (w < 8 || h < 8) break;
    if (n > 0) {
      w = Math.ceil(w / 2);
      h = Math.ceil(h / 2);
    }
  }
  return n;
};

export const createScorer = (reference: Pixels): Scorer => {
  const { width, height } = reference;
  if (width < 8 || height < 8) throw new Error(`SSIMULACRA 2 needs at least 8×8 pixels, got ${width}×${height}`);
  const blur = createBlur(width, height);
  // Scratch planes, reused at every scale and for every distorted image.
  const size = width * height;
  const tmp = new Float32Array(size);
  const mu2 = new Float32Array(size);
  const s22 = new Float32Array(size);
  const s12 = new Float32Array(size);
  const squareInto = (a: Float32Array, b: Float32Array, n: number): Float32Array => {
    for (let i = 0; i < n; i++) tmp[i] = (a[i] as number) * (b[i] as number);
    return tmp;
  };

  const scales: ReferenceScale[] = [];
  const count = scalesOf(width, height);
  for (let s = 0, lin = linearOf(reference); s < count; s++) {
    if (s > 0) lin = downsample(lin);
    const { width: w, height: h } = lin;
    const xyb = planes(w, h);
    xybOf(lin, xyb);
    const mu = planes(w, h);
    const sigma = planes(w, h);
    for (let c = 0; c < 3; c++) {
      const x = xyb.p[c] as Float32Array;
      blur(x, mu.p[c] as Float32Array, w, h);
      blur(squareInto(x, x, w * h), sigma.p[c] as Float32Array, w, h);
    }
    scales.push({ width: w, height: h, xyb, mu, sigma });
  }

  // The distorted image's planes at each scale, reused from one score to the next.
  const work = scales.map((r) => ({ lin: planes(r.width, r.height), xyb: planes(r.width, r.height) }));

  const score = (distorted: Pixels): number => {
    if (distorted.width !== width || distorted.height !== height) {
      throw new Error(
        `SSIMULACRA 2 needs equal sizes, got ${width}×${height} and ${distorted.width}×${distorted.height}`,
      );
    }
    const norms: Norms[][] = [[], [], []];
    for (const [s, ref] of scales.entries()) {
      const { lin, xyb } = work[s] as { lin: Planes; xyb: Planes };
      if (s === 0) linearOf(distorted, lin);
      else downsample((work[s - 1] as { lin: Planes }).lin, lin);
      const w = ref.width;
      const h = ref.height;
      const n = w * h;
      xybOf(lin, xyb);
      for (let c = 0; c < 3; c++) {
        const i1 = ref.xyb.p[c] as Float32Array;
        const i2 = xyb.p[c] as Float32Array;
        blur(i2, mu2, w, h);
        blur(squareInto(i2, i2, n), s22, w, h);
        blur(squareInto(i1, i2, n), s12, w, h);
        (norms[c] as Norms[]).push(mapNorms(i1, ref.mu.p[c] as Float32Array, ref.sigma.p[c] as Float32Array, i2, n));
      }
    }
    return finalScore(norms);
  };

  // The SSIM' and edge maps of one plane, reduced to their norms.
  const mapNorms = (i1: Float32Array, m1: Float32Array, q11: Float32Array, i2: Float32Array, n: number): Norms => {
    let ssim1 = 0;
    let ssim4 = 0;
    let art1 = 0;
    let art4 = 0;
    let lost1 = 0;
    let lost4 = 0;
    for (let i = 0; i < n; i++) {
      const u1 = m1[i] as number;
      const u2 = mu2[i] as number;
      // SSIM without its luminance denominator: XYB values are already perceptually uniform.
      const numM = 1 - (u1 - u2) * (u1 - u2);
      const numS = 2 * ((s12[i] as number) - u1 * u2) + C2;
      const denS = (q11[i] as number) - u1 * u1 + ((s22[i] as number) - u2 * u2) + C2;
      const d = 1 - (numM * numS) / denS;
      if (d > 0) {
        ssim1 += d;
        const d2 = d * d;
        ssim4 += d2 * d2;
      }
      const e = (1 + Math.abs((i2[i] as number) - u2)) / (1 + Math.abs((i1[i] as number) - u1)) - 1;
      if (e > 0) {
        art1 += e;
        const e2 = e * e;
        art4 += e2 * e2;
      } else if (e < 0) {
        lost1 -= e;
        const e2 = e * e;
        lost4 += e2 * e2;
      }
    }
    return [
      ssim1 / n,
      Math.sqrt(Math.sqrt(ssim4 / n)),
      art1 / n,
      Math.sqrt(Math.sqrt(art4 / n)),
      lost1 / n,
      Math.sqrt(Math.sqrt(lost4 / n)),
    ];
  };
  return { width, height, score };
};

/** The weighted sum of the norms, mapped onto the published scale. */
const finalScore = (norms: readonly (readonly Norms[])[]): number => {
  let sum = 0;
  let i = 0;
  for (const channel of norms) {
    for (const s of channel) {
      for (let n = 0; n < 2; n++) {
        sum += (WEIGHTS[i++] as number) * Math.abs(s[n] as number);
        sum += (WEIGHTS[i++] as number) * Math.abs(s[2 + n] as number);
        sum += (WEIGHTS[i++] as number) * Math.abs(s[4 + n] as number);
      }
    }
  }
  let v = sum * 0.9562382616834844;
  v = 2.326765642916932 * v - 0.020884521182843837 * v * v + 6.248496625763138e-5 * v * v * v;
  return v > 0 ? 100 - 10 * v ** 0.6276336467831387 : 100;
};

/** The SSIMULACRA 2 score of `distorted` against `reference` (equal sizes, at least 8×8). */
export const ssimulacra2 = (reference: Pixels, distorted: Pixels): number => createScorer(reference).score(distorted);

/** Small, varied, valid images made on the spot: many items without a big corpus. */
import sharp from "sharp";

export interface Fixture {
  name: string;
  body: Buffer;
}

/** A tiny deterministic PRNG (mulberry32), so a failing run can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` images between `minSide` and `maxSide` pixels a side: gradients with a few blocks of colour and a
 * little noise, as JPEG, PNG and WebP in turn; named img-0000.jpg, img-0001.png, …
 */
export async function generateImages(
  count: number,
  options: { minSide?: number; maxSide?: number; seed?: number } = {},
): Promise<Fixture[]> {
  const rand = random(options.seed ?? 42);
  const min = options.minSide ?? 64;
  const max = options.maxSide ?? 256;
  const side = () => min + Math.floor(rand() * (max - min + 1));
  const formats = ["jpg", "png", "webp"] as const;
  const images: Fixture[] = [];
  for (let i = 0; i < count; i++) {
    const width = side();
    const height = side();
    const pixels = Buffer.alloc(width * height * 3);
    const base = [rand() * 255, rand() * 255, rand() * 255];
    const blocks = Array.from({ length: 3 }, () => ({
      x: Math.floor(rand() * width),
      y: Math.floor(rand() * height),
      w: Math.floor((rand() * width) / 2),
      h: Math.floor((rand() * height) / 2),
      colour: [rand() * 255, rand() * 255, rand() * 255],
    }));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const block = blocks.find((b) => x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h);
        for (let c = 0; c < 3; c++) {
          const gradient = ((base[c] as number) + (x * 255) / width + (y * 128) / height) % 256;
          const value = block ? (block.colour[c] as number) : gradient;
          pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, value + (rand() - 0.5) * 24));
        }
      }
    }
    const format = formats[i % formats.length] as (typeof formats)[number];
    const image = sharp(pixels, { raw: { width, height, channels: 3 } });
    const body =
      format === "jpg"
        ? await image.jpeg({ quality: 92 }).toBuffer()
        : format === "png"
          ? await image.png().toBuffer()
          : await image.webp({ quality: 92 }).toBuffer();
    images.push({ name: `img-${String(i).padStart(4, "0")}.${format}`, body });
  }
  return images;
}

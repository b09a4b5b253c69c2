import { describe, expect, test } from "vitest";
import { ImageFormat } from "../gen/imgc/v1/options_pb.js";
import { createOutputNamer, downloadStem, outputFileName } from "./output-name.js";

describe("output names", () => {
  test("the source's base name with the output's extension", () => {
    expect(outputFileName("uploads/t/abc/Holiday Photo.JPG", { outputKey: "outputs/t/j/000000.webp" })).toBe(
      "Holiday Photo.webp",
    );
    expect(outputFileName("photo.png", { outputKey: "outputs/t/j/000001.avif" })).toBe("photo.avif");
    expect(outputFileName("uploads/t/abc/.hidden", { outputKey: "outputs/t/j/000002.png" })).toBe(".hidden.png");
  });

  test("the result's format names the extension; the key's serves for a format this version does not know", () => {
    expect(outputFileName("a/photo.jpg", { outputKey: "", format: ImageFormat.AVIF })).toBe("photo.avif");
    expect(outputFileName("a/photo.jpg", { outputKey: "o/1.jxl", format: 99 as ImageFormat })).toBe("photo.jxl");
  });

  test("characters a file system or a quoted Content-Disposition rejects become _", () => {
    expect(outputFileName('weird/say "hi".jpg', { outputKey: "outputs/t/j/000000.webp" })).toBe("say _hi_.webp");
    expect(outputFileName("weird/back\\slash.jpg", { outputKey: "outputs/t/j/000000.webp" })).toBe("back_slash.webp");
  });

  test("reserved names are taken from the start; an empty base name is image", () => {
    const name = createOutputNamer(["report.csv"]);
    expect([
      name("in/REPORT.png", { outputKey: "o/1.csv" }),
      name("prefix/", { outputKey: "o/2.png" }),
      name("x/Image.gif", { outputKey: "o/3.PNG" }),
    ]).toEqual(["REPORT (2).csv", "image.png", "Image (2).PNG"]);
  });

  // From the CLI's --out folder (cli/src/files.test.ts), which numbered "photo-2.webp" before it shared the
  // zip's rule: a folder and the zip of the same job now hold the same names.
  test("outputs take the source's base name and the output's extension, unique within a run", () => {
    const name = createOutputNamer();
    expect(name("/a/photo.jpg", { outputKey: "outputs/t/j/000000.webp" })).toBe("photo.webp");
    expect(name("/b/photo.png", { outputKey: "outputs/t/j/000001.webp" })).toBe("photo (2).webp");
    expect(name("/c/Photo.jpeg", { outputKey: "outputs/t/j/000002.webp" })).toBe("Photo (3).webp");
    expect(name("/d/photo.jpg", { outputKey: "outputs/t/j/000003.jpg" })).toBe("photo.jpg");
  });
  // From the gateway's report (gateway/src/services/report.test.ts), which had a namer of its own before.
  test("results.zip's names: reserved report.csv, de-duplicated case-insensitively, odd characters replaced", () => {
    const name = createOutputNamer(["report.csv"]);
    const named = (source: string, outputKey: string) => name(source, { outputKey });
    expect(named("uploads/t/a1/a.jpg", "outputs/t/j/000000.webp")).toBe("a.webp");
    expect(named("uploads/t/a2/A.png", "outputs/t/j/000001.webp")).toBe("A (2).webp");
    expect(named("uploads/t/a3/a.jpeg", "outputs/t/j/000002.webp")).toBe("a (3).webp");
    expect(named("uploads/t/a4/a.jpg", "outputs/t/j/000003.jpg")).toBe("a.jpg");
    expect(named("incoming/report.png", "outputs/t/j/000004.csv")).toBe("report (2).csv");
    expect(named("weird/na:me\u0001.gif", "outputs/t/j/000005.png")).toBe("na_me_.png");
    expect(named("prefix/", "outputs/t/j/000006.png")).toBe("image.png");
  });

  test("a job's download stem: its label in safe characters, or the id when the label leaves nothing", () => {
    const id = "aaaaaaaaaaaaaaaaaaaa";
    expect(downloadStem("rocket.jpg and 11 more", id)).toBe("rocket.jpg and 11 more");
    expect(downloadStem('Café "été"/2024: best?', id)).toBe("Cafe _ete_2024_ best_");
    expect(downloadStem("  ..hidden\t\n name. ", id)).toBe("hidden_ name");
    expect(downloadStem("x".repeat(300), id)).toHaveLength(100);
    for (const empty of ["", "   ", "..", "日本の写真", "\r\n"]) expect(downloadStem(empty, id)).toBe(id);
  });
});

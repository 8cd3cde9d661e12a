/**
 * PNG encoding of report figures (`node --import tsx bench/png-encode.ts --figures <run>/report/figures`): each SVG
 * of the folder drawn once at 2× by resvg, then its pixels encoded by resvg's own `asPng` and by ours
 * (lib/report/png.ts), interleaved; prints the median milliseconds a figure and the bytes of all figures.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Resvg } from '@resvg/resvg-js';
import { fontFiles } from '../lib/report';
import { encodePng } from '../lib/report/png';

const { values: args } = parseArgs({
  options: { figures: { type: 'string' }, passes: { type: 'string', default: '5' } },
});
if (!args.figures) throw new Error("--figures: a folder of figure SVGs (a run's report/figures)");
const svgs = readdirSync(args.figures)
  .filter((f) => f.endsWith('.svg'))
  .map((f) => readFileSync(join(args.figures!, f), 'utf8'));
if (svgs.length === 0) throw new Error(`--figures: no .svg in ${args.figures}`);
const images = svgs.map((svg) =>
  new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: 'Inter' },
  }).render(),
);
const pixels = images.map((image) => image.pixels); // a copy on each read: taken once

const times = { resvg: [] as number[], ours: [] as number[] };
const bytes = { resvg: 0, ours: 0 };
for (let pass = 0; pass < Number(args.passes); pass++)
  images.forEach((image, i) => {
    let started = performance.now();
    const theirs = image.asPng();
    times.resvg.push(performance.now() - started);
    started = performance.now();
    const ours = encodePng(image.width, image.height, pixels[i]!);
    times.ours.push(performance.now() - started);
    if (pass === 0) {
      bytes.resvg += theirs.length;
      bytes.ours += ours.length;
    }
  });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${svgs.length} figures × ${args.passes} passes, drawn at 2×`);
for (const who of ['resvg', 'ours'] as const)
  console.log(
    `${who.padEnd(6)} ${median(times[who]).toFixed(1)} ms a figure (median), ${Math.round(bytes[who] / 1024)} KB in all`,
  );

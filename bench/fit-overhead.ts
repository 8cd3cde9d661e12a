/**
 * What one small fit costs beyond its training (`npm run bench:fit-overhead`): the first fit of a process starts a
 * training thread, later fits reuse the kept thread. Prints the first fit's wall time and the median of the next ones.
 */
import { trainInThread } from '../lib/training/pool';

const FITS = 11;
const n = 400;
const codes = Int32Array.from({ length: n }, (_, i) => i % 7);
const values = Float64Array.from({ length: n }, (_, i) => (i * 37) % 101);
const job = {
  train: {
    rowCount: n,
    categorical: [{ name: 'app', codes, dictionary: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }],
    numeric: [{ name: 'x', values }],
  },
  labels: Uint8Array.from({ length: n }, (_, i) => (codes[i]! < 3 !== values[i]! > 60 ? 1 : 0)),
  params: { iterations: 10, depth: 3, learning_rate: 0.3, random_seed: 1 },
};

const wall: number[] = [];
let fit = 0;
for (let k = 0; k < FITS; k++) {
  const started = performance.now();
  const outcome = await trainInThread(job);
  wall.push(performance.now() - started);
  fit += outcome.fitSeconds * 1000;
}
const later = wall.slice(1).sort((a, b) => a - b);
const median = later[Math.floor(later.length / 2)]!;
console.log(`fits: ${FITS} of ${n} rows × 10 trees; mean time inside the trainer ${(fit / FITS).toFixed(1)} ms`);
console.log(`first fit (starts a thread): ${wall[0]!.toFixed(0)} ms`);
console.log(`later fits (kept thread), median of ${later.length}: ${median.toFixed(0)} ms`);
process.exit(0);

// AssemblyScript source of lib/gbdt's WebAssembly kernels (built by `npm run build:wasm` into ../kernels.wasm.ts).
// Each kernel does the same floating-point operations in the same order as its TypeScript twin in ../../tree.ts, so
// models are byte-identical with either. Arguments are byte offsets into this module's memory, which the host
// (../index.ts) lays out; nothing here allocates.

/**
 * Adds a row's (w·g, w) into the interleaved (Σ w·g, Σ w) pair of histogram `h` at cell `k`: one 128-bit load, add
 * and store for both sums (each lane an ordinary f64 addition, so the sums are the TypeScript loop's).
 */
@inline
function add2(h: usize, k: u32, gw: v128): void {
  const p = h + ((<usize>k) << 4);
  v128.store(p, f64x2.add(v128.load(p), gw));
}

/** Row t's leaf (u32), row index (u32) and statistics (two f64). */
@inline
function leafAt(leaf: usize, t: i32): u32 {
  return load<u32>(leaf + ((<usize>t) << 2));
}

/** Nibble of row r in a packed bin array (row r in the high nibble when r is odd). */
@inline
function nibble(bins: usize, r: u32): u32 {
  return (<u32>load<u8>(bins + <usize>(r >> 1)) >> ((r & 1) << 2)) & 15;
}

/** `accumulate4`: four byte-bin features, rows in order. */
export function acc4(
  count: i32,
  leaf: usize,
  row: usize,
  stat: usize,
  b0: usize,
  b1: usize,
  b2: usize,
  b3: usize,
  n0: u32,
  n1: u32,
  n2: u32,
  n3: u32,
  h0: usize,
  h1: usize,
  h2: usize,
  h3: usize,
): void {
  for (let t = 0; t < count; t++) {
    const l = leafAt(leaf, t);
    const r = <usize>leafAt(row, t);
    const gw = v128.load(stat + ((<usize>t) << 4));
    add2(h0, l * n0 + <u32>load<u8>(b0 + r), gw);
    add2(h1, l * n1 + <u32>load<u8>(b1 + r), gw);
    add2(h2, l * n2 + <u32>load<u8>(b2 + r), gw);
    add2(h3, l * n3 + <u32>load<u8>(b3 + r), gw);
  }
}

/** `accumulatePacked4`: four packed (nibble) features. */
export function accPacked4(
  count: i32,
  leaf: usize,
  row: usize,
  stat: usize,
  b0: usize,
  b1: usize,
  b2: usize,
  b3: usize,
  n0: u32,
  n1: u32,
  n2: u32,
  n3: u32,
  h0: usize,
  h1: usize,
  h2: usize,
  h3: usize,
): void {
  for (let t = 0; t < count; t++) {
    const l = leafAt(leaf, t);
    const r = leafAt(row, t);
    const gw = v128.load(stat + ((<usize>t) << 4));
    add2(h0, l * n0 + nibble(b0, r), gw);
    add2(h1, l * n1 + nibble(b1, r), gw);
    add2(h2, l * n2 + nibble(b2, r), gw);
    add2(h3, l * n3 + nibble(b3, r), gw);
  }
}

/** `accumulatePacked8`: eight packed (nibble) features. */
export function accPacked8(
  count: i32,
  leaf: usize,
  row: usize,
  stat: usize,
  b0: usize,
  b1: usize,
  b2: usize,
  b3: usize,
  b4: usize,
  b5: usize,
  b6: usize,
  b7: usize,
  n0: u32,
  n1: u32,
  n2: u32,
  n3: u32,
  n4: u32,
  n5: u32,
  n6: u32,
  n7: u32,
  h0: usize,
  h1: usize,
  h2: usize,
  h3: usize,
  h4: usize,
  h5: usize,
  h6: usize,
  h7: usize,
): void {
  for (let t = 0; t < count; t++) {
    const l = leafAt(leaf, t);
    const r = leafAt(row, t);
    const gw = v128.load(stat + ((<usize>t) << 4));
    add2(h0, l * n0 + nibble(b0, r), gw);
    add2(h1, l * n1 + nibble(b1, r), gw);
    add2(h2, l * n2 + nibble(b2, r), gw);
    add2(h3, l * n3 + nibble(b3, r), gw);
    add2(h4, l * n4 + nibble(b4, r), gw);
    add2(h5, l * n5 + nibble(b5, r), gw);
    add2(h6, l * n6 + nibble(b6, r), gw);
    add2(h7, l * n7 + nibble(b7, r), gw);
  }
}

/**
 * Per parent leaf p < half: rows in it (counts[2p]) and rows on its true side of the last split (counts[2p + 1]),
 * from the rows' leaves (bit `half` is the last split's).
 */
export function childCounts(m: i32, leaf: usize, half: u32, counts: usize): void {
  memory.fill(counts, 0, (<usize>half) << 3);
  const mask = half - 1;
  for (let j = 0; j < m; j++) {
    const l = leafAt(leaf, j);
    const c = counts + ((<usize>(l & mask)) << 3);
    store<u32>(c, load<u32>(c) + 1);
    store<u32>(c, load<u32>(c, 4) + ((l & half) != 0 ? 1 : 0), 4);
  }
}

/**
 * Copies the rows of each parent's smaller child (the true side where smallOn[parent] is 1) — leaf, row index and
 * statistics, in row order — into the gather arrays; returns how many.
 */
export function gatherSmaller(
  m: i32,
  leaf: usize,
  row: usize,
  stat: usize,
  half: u32,
  smallOn: usize,
  gLeaf: usize,
  gRow: usize,
  gStat: usize,
): i32 {
  const mask = half - 1;
  let count = 0;
  for (let j = 0; j < m; j++) {
    const l = leafAt(leaf, j);
    if (((l & half) != 0 ? 1 : 0) == <u32>load<u8>(smallOn + <usize>(l & mask))) {
      store<u32>(gLeaf + ((<usize>count) << 2), l);
      store<u32>(gRow + ((<usize>count) << 2), leafAt(row, j));
      const s = stat + ((<usize>j) << 4);
      const d = gStat + ((<usize>count) << 4);
      store<f64>(d, load<f64>(s));
      store<f64>(d, load<f64>(s, 8), 8);
      count++;
    }
  }
  return count;
}

/**
 * Sets `bit` in the leaf of every row on the true side of a split: bin > `bin` (ordered) or bin == `bin` (one-hot),
 * bins plain bytes or packed nibbles. Also counts, per leaf p < bit, its rows (counts[2p]) and those on the true
 * side (counts[2p + 1]): `childCounts` of the next level, in the same pass.
 */
export function splitLeaves(
  m: i32,
  leaf: usize,
  row: usize,
  bins: usize,
  packed: bool,
  onehot: bool,
  bin: u32,
  bit: u32,
  counts: usize,
): void {
  memory.fill(counts, 0, (<usize>bit) << 3);
  for (let j = 0; j < m; j++) {
    const r = leafAt(row, j);
    const v = packed ? nibble(bins, r) : <u32>load<u8>(bins + <usize>r);
    const on = <u32>(onehot ? v == bin : v > bin);
    const p = leaf + ((<usize>j) << 2);
    const l = load<u32>(p);
    store<u32>(p, l | (bit & (0 - on)));
    const c = counts + ((<usize>l) << 3);
    store<u32>(c, load<u32>(c) + 1);
    store<u32>(c, load<u32>(c, 4) + on, 4);
  }
}

/**
 * `orderedHistory` (../../ctr.ts): in permutation order, each row's (positives, rows) among the earlier rows with its
 * value; `labelled[i]` is 2 · value + label, `seen` has room for 2 · `values` counters.
 */
export function orderedHistory(n: i32, labelled: usize, perm: usize, seen: usize, values: i32, history: usize): void {
  memory.fill(seen, 0, (<usize>values) << 3);
  for (let t = 0; t < n; t++) {
    const i = <usize>leafAt(perm, t);
    const lv = load<i32>(labelled + (i << 2));
    const at = seen + ((<usize>(lv >> 1)) << 3);
    const p = load<i32>(at);
    const c = load<i32>(at, 4);
    store<i32>(history + (i << 3), p);
    store<i32>(history + (i << 3), c, 4);
    store<i32>(at, p + (lv & 1));
    store<i32>(at, c + 1, 4);
  }
}

/**
 * Borders below `v` among `nb` ascending borders (the same count as `BinFinder` in ../../quantize.ts): a first guess
 * from their near-uniform spacing (`lo`, `invStep` = 1 / step; 0: none), kept when the borders either side of it
 * confirm it (nearly always, for CTR borders), else the borders are counted one by one. Exact whatever the guess.
 */
@inline
function binOf(v: f64, borders: usize, nb: i32, lo: f64, invStep: f64): u32 {
  const x = Math.ceil((v - lo) * invStep);
  const g = x > 0 ? (x < <f64>nb ? <i32>x : nb) : 0;
  const below = g == 0 || load<f64>(borders + ((<usize>(g - 1)) << 3)) < v;
  const above = g == nb || !(load<f64>(borders + ((<usize>g) << 3)) < v);
  if (below && above) return <u32>g;
  let c: u32 = 0;
  for (let k = 0; k < nb; k++) c += <u32>(load<f64>(borders + ((<usize>k) << 3)) < v);
  return c;
}

/**
 * Bins of the ordered Borders CTR (positives + prior) / (rows + 1) of each of `n` rows from their `history`, as
 * bytes or packed two rows per byte.
 */
export function ctrBins(
  n: i32,
  history: usize,
  prior: f64,
  borders: usize,
  nb: i32,
  lo: f64,
  invStep: f64,
  packed: bool,
  out: usize,
): void {
  if (!packed) {
    for (let i = 0; i < n; i++) {
      const h = history + ((<usize>i) << 3);
      const v = (<f64>load<i32>(h) + prior) / (<f64>load<i32>(h, 4) + 1);
      store<u8>(out + <usize>i, <u8>binOf(v, borders, nb, lo, invStep));
    }
    return;
  }
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const h = history + ((<usize>i) << 3);
    const a = binOf((<f64>load<i32>(h) + prior) / (<f64>load<i32>(h, 4) + 1), borders, nb, lo, invStep);
    const b = binOf((<f64>load<i32>(h, 8) + prior) / (<f64>load<i32>(h, 12) + 1), borders, nb, lo, invStep);
    store<u8>(out + <usize>(i >> 1), <u8>(a | (b << 4)));
  }
  if (i < n) {
    const h = history + ((<usize>i) << 3);
    store<u8>(out + <usize>(i >> 1), <u8>binOf((<f64>load<i32>(h) + prior) / (<f64>load<i32>(h, 4) + 1), borders, nb, lo, invStep));
  }
}

/**
 * `leafDeltas`' grouping of rows by leaf (../../leaves.ts), a counting sort in row order: `start` i32[nLeaves + 1]
 * (leaf l's rows are sortedExp/sortedY[start[l] .. start[l + 1])), `neg` f64[nLeaves] (negatives per leaf), `fill`
 * i32[nLeaves] scratch.
 */
export function groupByLeaf(
  n: i32,
  leaf: usize,
  expNeg: usize,
  labels: usize,
  nLeaves: i32,
  start: usize,
  neg: usize,
  fill: usize,
  sortedExp: usize,
  sortedY: usize,
): void {
  memory.fill(start, 0, (<usize>(nLeaves + 1)) << 2);
  memory.fill(neg, 0, (<usize>nLeaves) << 3);
  for (let i = 0; i < n; i++) {
    const l = <usize>leafAt(leaf, i);
    const s = start + ((l + 1) << 2);
    store<i32>(s, load<i32>(s) + 1);
    const g = neg + (l << 3);
    store<f64>(g, load<f64>(g) + <f64>(1 - <i32>load<u8>(labels + <usize>i)));
  }
  for (let l = 0; l < nLeaves; l++) {
    const s = start + ((<usize>l) << 2);
    store<i32>(s, load<i32>(s) + load<i32>(s, 4), 4);
    store<i32>(fill + ((<usize>l) << 2), load<i32>(s));
  }
  for (let i = 0; i < n; i++) {
    const l = <usize>leafAt(leaf, i);
    const f = fill + (l << 2);
    const j = <usize>load<i32>(f);
    store<i32>(f, <i32>j + 1);
    store<f64>(sortedExp + (j << 3), load<f64>(expNeg + ((<usize>i) << 3)));
    store<u8>(sortedY + j, load<u8>(labels + <usize>i));
  }
}

/** `splitBlock`'s row loop for one kind of split (the flags are constants where it is inlined). */
@inline
function splitRows(i0: i32, i1: i32, out: usize, bins: usize, packed: bool, onehot: bool, bin: u32, bit: u32, first: bool): void {
  for (let i = i0; i < i1; i++) {
    const v = packed ? nibble(bins, <u32>i) : <u32>load<u8>(bins + <usize>i);
    const on = <u32>(onehot ? v == bin : v > bin);
    const p = out + ((<usize>i) << 2);
    store<u32>(p, (first ? 0 : load<u32>(p)) | (bit & (0 - on)));
  }
}

/**
 * `assignLeaves` (../../tree.ts) for a whole tree: every row start ≤ i < n's leaf into `out[i]` (a fit's two threads
 * take a range each), from `depth` splits described
 * at `splits` (16 bytes each: bins offset u32, flags u32 — 1 packed, 2 one-hot —, bin u32; split d sets bit d).
 * Rows go in blocks small enough that their leaves stay in cache while every split is applied.
 */
export function assignTree(start: i32, n: i32, depth: i32, splits: usize, out: usize): void {
  const BLOCK = 4096;
  for (let i0 = start; i0 < n; i0 += BLOCK) {
    const i1 = min(i0 + BLOCK, n);
    if (depth == 0) memory.fill(out + ((<usize>i0) << 2), 0, (<usize>(i1 - i0)) << 2);
    for (let d = 0; d < depth; d++) {
      const e = splits + ((<usize>d) << 4);
      const bins = <usize>load<u32>(e);
      const flags = load<u32>(e, 4);
      const bin = load<u32>(e, 8);
      const bit = (<u32>1) << d;
      const first = d == 0;
      if (flags == 0) {
        if (first) splitRows(i0, i1, out, bins, false, false, bin, bit, true);
        else splitRows(i0, i1, out, bins, false, false, bin, bit, false);
      } else if (flags == 1) {
        if (first) splitRows(i0, i1, out, bins, true, false, bin, bit, true);
        else splitRows(i0, i1, out, bins, true, false, bin, bit, false);
      } else if (flags == 2) {
        if (first) splitRows(i0, i1, out, bins, false, true, bin, bit, true);
        else splitRows(i0, i1, out, bins, false, true, bin, bit, false);
      } else {
        if (first) splitRows(i0, i1, out, bins, true, true, bin, bit, true);
        else splitRows(i0, i1, out, bins, true, true, bin, bit, false);
      }
    }
  }
}

/**
 * One leaf-estimation step's sums (`oneStep` in ../../leaves.ts): per leaf l, into the interleaved pair sums[2l],
 * sums[2l + 1] (zeroed here), Σ (y − p) and Σ p(1 − p) (`newton`) or the row count, p = 1 / (1 + expNeg), rows in
 * order; one f64x2 addition per row (two ordinary f64 additions).
 */
export function leafSums(n: i32, leaf: usize, expNeg: usize, labels: usize, newton: bool, nLeaves: i32, sums: usize): void {
  memory.fill(sums, 0, (<usize>nLeaves) << 4);
  for (let i = 0; i < n; i++) {
    const l = leafAt(leaf, i);
    const p = 1 / (1 + load<f64>(expNeg + ((<usize>i) << 3)));
    const y = <f64>load<u8>(labels + <usize>i);
    add2(sums, l, f64x2.replace_lane(f64x2.splat(y - p), 1, newton ? p * (1 - p) : 1));
  }
}

/** exp(−approx) of every row times its leaf's factor (exp(−value) of the tree's leaf). */
export function scaleByLeaf(n: i32, leaf: usize, expNeg: usize, factor: usize): void {
  for (let i = 0; i < n; i++) {
    const p = expNeg + ((<usize>i) << 3);
    store<f64>(p, load<f64>(p) * load<f64>(factor + ((<usize>leafAt(leaf, i)) << 3)));
  }
}

/**
 * One column of `combinationIds` (../../features.ts): dense ids, in order of first occurrence, of the pairs
 * (cur[i], src[i]) into next[i], and each id's first row into firstRow[id]; returns the number of ids. Pairs are
 * found by direct address (cur · card + src) in `size` slots when `direct`, else in an open-addressing table of `size`
 * slots (a power of two) with both key entries of each slot at `keys`.
 */
export function pairIds(
  n: i32,
  cur: usize,
  src: usize,
  card: i32,
  direct: bool,
  ids: usize,
  keys: usize,
  size: u32,
  next: usize,
  firstRow: usize,
): i32 {
  memory.fill(ids, 0xff, (<usize>size) << 2);
  let count = 0;
  if (direct) {
    for (let i = 0; i < n; i++) {
      const at = ids + ((<usize>(load<i32>(cur + ((<usize>i) << 2)) * card + load<i32>(src + ((<usize>i) << 2)))) << 2);
      let id = load<i32>(at);
      if (id < 0) {
        id = count++;
        store<i32>(at, id);
        store<i32>(firstRow + ((<usize>id) << 2), i);
      }
      store<i32>(next + ((<usize>i) << 2), id);
    }
    return count;
  }
  const mask = size - 1;
  for (let i = 0; i < n; i++) {
    const a = load<i32>(cur + ((<usize>i) << 2));
    const b = load<i32>(src + ((<usize>i) << 2));
    let h = <u32>(a * 0x9e3779b1) ^ <u32>b;
    h = (h ^ (h >>> 16)) * 0x85ebca6b;
    let slot = (h ^ (h >>> 13)) & mask;
    let id: i32;
    for (;;) {
      id = load<i32>(ids + ((<usize>slot) << 2));
      const k = keys + ((<usize>slot) << 3);
      if (id < 0 || (load<i32>(k) == a && load<i32>(k, 4) == b)) break;
      slot = (slot + 1) & mask;
    }
    if (id < 0) {
      id = count++;
      store<i32>(ids + ((<usize>slot) << 2), id);
      const k = keys + ((<usize>slot) << 3);
      store<i32>(k, a);
      store<i32>(k, b, 4);
      store<i32>(firstRow + ((<usize>id) << 2), i);
    }
    store<i32>(next + ((<usize>i) << 2), id);
  }
  return count;
}

/** The bins (4 bits each, prior q at bit 4q) of `priors` packed Borders CTRs for a row with `p` positives of `c`. */
@inline
function ctrCode(p: f64, c: f64, priors: i32, spec: usize): u32 {
  let code: u32 = 0;
  for (let q = 0; q < priors; q++) {
    const s = spec + (<usize>q) * 40;
    const v = (p + load<f64>(s)) / (c + 1);
    code |= binOf(v, <usize>load<u32>(s, 32), load<i32>(s, 36), load<f64>(s, 8), load<f64>(s, 16)) << ((<u32>q) << 2);
  }
  return code;
}

/**
 * `ctrBins` for up to four priors at once, all packed (at most 16 bins): one pass over the `history`, each prior's
 * bins into its own array. Rows with fewer than `small` earlier rows of their value (most rows of a combination) look
 * their bins up in a table of every (count, positives) below that, filled here with the same `binOf`; the others are
 * binned one by one. `spec` holds per prior 40 bytes: prior f64, lo f64, invStep f64, out u32 (+4), borders u32,
 * border count i32.
 */
export function ctrBinsPacked(n: i32, history: usize, priors: i32, spec: usize, small: i32, table: usize): void {
  for (let c = 0; c < small; c++)
    for (let p = 0; p <= c; p++)
      store<u16>(table + ((<usize>(c * small + p)) << 1), <u16>ctrCode(<f64>p, <f64>c, priors, spec));
  const o0 = <usize>load<u32>(spec, 24);
  const o1 = <usize>load<u32>(spec + 40, 24);
  const o2 = <usize>load<u32>(spec + 80, 24);
  const o3 = <usize>load<u32>(spec + 120, 24);
  let i = 0;
  for (; i < n; i += 2) {
    const h = history + ((<usize>i) << 3);
    const pa = load<i32>(h);
    const ca = load<i32>(h, 4);
    let a: u32;
    if (ca < small) a = <u32>load<u16>(table + ((<usize>(ca * small + pa)) << 1));
    else a = ctrCode(<f64>pa, <f64>ca, priors, spec);
    let b: u32 = 0;
    if (i + 1 < n) {
      const pb = load<i32>(h, 8);
      const cb = load<i32>(h, 12);
      if (cb < small) b = <u32>load<u16>(table + ((<usize>(cb * small + pb)) << 1));
      else b = ctrCode(<f64>pb, <f64>cb, priors, spec);
    }
    const j = <usize>(i >> 1);
    store<u8>(o0 + j, <u8>((a & 15) | ((b & 15) << 4)));
    if (priors > 1) store<u8>(o1 + j, <u8>(((a >> 4) & 15) | (b & 0xf0)));
    if (priors > 2) store<u8>(o2 + j, <u8>(((a >> 8) & 15) | ((b >> 4) & 0xf0)));
    if (priors > 3) store<u8>(o3 + j, <u8>(((a >> 12) & 15) | ((b >> 8) & 0xf0)));
  }
}

/** The least and greatest ordered Borders CTR value (positives + prior) / (rows + 1) over the `history` into out[0..1]. */
export function ctrRange(n: i32, history: usize, prior: f64, out: usize): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const h = history + ((<usize>i) << 3);
    const x = (<f64>load<i32>(h) + prior) / (<f64>load<i32>(h, 4) + 1);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  store<f64>(out, lo);
  store<f64>(out, hi, 8);
}

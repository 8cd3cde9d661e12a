/**
 * The WebAssembly histogram kernels (source: ./assembly/kernels.ts, built by scripts/build-wasm.mjs) and the memory
 * they work in. The TypeScript loops in ../tree.ts stay the reference: the kernels do the same floating-point
 * operations in the same order, so either gives byte-identical models (tests/gbdt-wasm.test.ts).
 *
 * Layout of the module's memory (byte offsets, each region 16-aligned), in an order where growing the last regions
 * keeps the earlier ones in place:
 *   leaf u32[rows] · row u32[rows] · stat f64[2 rows]     the tree's sampled rows (a full pass reads these)
 *   gLeaf u32[rows] · gRow u32[rows] · gStat f64[2 rows]  the gathered smaller-child rows
 *   counts u32[2 leaves] · smallOn u8[leaves]             per parent leaf: rows, rows on the true side; smaller side
 *   zero u8[binBytes] · bin cache u8[48 binBytes]         bin arrays copied in (kept while they fit)
 *   spill u8[2 × 8 binBytes]                              arrays read past the cache, per group in flight
 *   hist 2 × 9 × f64[histDoubles]                         per group in flight, its histograms (+ one for padding)
 *
 * Every instance imports its own shared memory; a fit with two threads also has a helper thread (`HelperThread`)
 * with an instance of the same module over the histogram instance's memory, which runs one group of features while
 * the fit's thread runs another. Each feature's cells get the same additions in the same row order either way, so
 * the histograms, and the models, are the same whatever the thread count.
 */
import { Worker } from 'node:worker_threads';
import { KERNELS_WASM_BASE64 } from './kernels.wasm';

// The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it).
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace WebAssembly {
    class Module {
      constructor(bytes: Uint8Array);
    }
    class Instance {
      constructor(module: Module, imports: object);
      readonly exports: Record<string, unknown>;
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum: number; shared: boolean });
      readonly buffer: ArrayBuffer;
      grow(pages: number): number;
    }
  }
}

interface KernelExports {
  memory: WebAssembly.Memory;
  acc4: (count: number, leaf: number, row: number, stat: number, ...rest: number[]) => void;
  accPacked4: (count: number, leaf: number, row: number, stat: number, ...rest: number[]) => void;
  accPacked8: (count: number, leaf: number, row: number, stat: number, ...rest: number[]) => void;
  childCounts: (m: number, leaf: number, half: number, counts: number) => void;
  gatherSmaller: (...args: number[]) => number;
  splitLeaves: (...args: number[]) => void;
  orderedHistory: (n: number, labelled: number, perm: number, seen: number, values: number, history: number) => void;
  ctrBins: (...args: number[]) => void;
  pairIds: (...args: number[]) => number;
  ctrBinsPacked: (n: number, history: number, priors: number, spec: number, small: number, table: number) => void;
  ctrRange: (n: number, history: number, prior: number, out: number) => void;
  groupByLeaf: (...args: number[]) => void;
  assignTree: (start: number, n: number, depth: number, splits: number, out: number) => void;
  leafSums: (...args: number[]) => void;
  scaleByLeaf: (n: number, leaf: number, expNeg: number, factor: number) => void;
}

let compiled: WebAssembly.Module | undefined;
const kernelsModule = (): WebAssembly.Module =>
  (compiled ??= new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64')));

/** Most pages a kernel memory may grow to (4 GiB, the wasm32 limit; the build declares the same maximum). */
const MAX_PAGES = 65536;

/**
 * A new instance of the kernels with its own memory. The module imports a shared memory (the helper thread's
 * instance works in the histogram instance's); a shared memory reserves address space up to its maximum but commits
 * only what it grows to.
 */
function instantiate(): KernelExports {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  return new WebAssembly.Instance(kernelsModule(), { env: { memory } }).exports as unknown as KernelExports;
}

/**
 * Threads one fit uses for its kernels: a count (1 or 2; more count as 2), or a function asked at the start of every
 * tree (the training pool lends a fit a core that fell idle).
 */
export type FitThreads = number | (() => number);

/** The kernels a helper thread runs, by number. */
const HELPER_KERNELS = ['acc4', 'accPacked4', 'accPacked8', 'assignTree', 'scaleByLeaf'] as const;
type HelperKernel = (typeof HELPER_KERNELS)[number];
const kernelNumber = (name: HelperKernel): number => HELPER_KERNELS.indexOf(name);
/**
 * Polls of a control word before a thread sleeps in Atomics.wait: passes are handed over every few hundred µs while a
 * tree's levels are built, and waking a sleeping thread costs more than polling that long.
 */
const SPIN = 20_000;
/**
 * Longest wait for one helper call (its longest kernel call is a histogram pass of a few hundred ms at ten million
 * rows): a helper that ended without answering (its thread killed) fails the fit instead of blocking it for good.
 */
const HELPER_DEADLINE_MS = 10 * 60_000;
// Control words of a helper thread (Int32, shared): calls posted, calls done, failed flag, which memory (its instance
// of the kernels), kernel (-1: end the thread, -2: attach the memory waiting on the port), argument count, arguments
// (byte offsets above 2 GiB wrap to negative int32s, which wasm reads back as the same u32).
const C_POSTED = 0;
const C_DONE = 1;
const C_FAILED = 2;
const C_MEMORY = 3;
const C_OP = 4;
const C_ARGC = 5;
const C_ARGS = 6;
const MAX_ARGS = 28;
/** The helper thread's program (CommonJS, evaluated): run each posted kernel call, then report it done. */
const HELPER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { module, port, control, spin, kernels: names } = workerData;
const c = new Int32Array(control);
const instances = [];
try {
  for (let seen = 0; ; ) {
    for (let i = 0; Atomics.load(c, ${C_POSTED}) === seen; i++) if (i >= spin) Atomics.wait(c, ${C_POSTED}, seen);
    seen = Atomics.load(c, ${C_POSTED});
    const op = c[${C_OP}];
    if (op === -1) break;
    if (op === -2) {
      const memory = receiveMessageOnPort(port).message;
      const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
      instances.push(names.map((name) => exports[name]));
    } else instances[c[${C_MEMORY}]][op](...c.subarray(${C_ARGS}, ${C_ARGS} + c[${C_ARGC}]));
    Atomics.store(c, ${C_DONE}, seen);
    Atomics.notify(c, ${C_DONE});
  }
} catch {
  Atomics.store(c, ${C_FAILED}, 1);
  Atomics.notify(c, ${C_DONE});
}
`;

/** Helper threads started and not yet exited, and calls they ran (tests: a fit uses one and leaves none behind). */
export const helperThreads = { alive: 0, calls: 0 };

/**
 * One fit's threads for its kernels: on a tree with two, a helper thread runs half of the tree's histogram passes, of
 * its leaf assignment and of its approximation updates, each in its own instance of the kernels over the same
 * (shared) memory as the fit's. Calls are handed over through shared control words (the fit's thread blocks while it
 * waits, as the fit runs synchronously). The thread starts on the first call, is unreferenced (never keeps a process
 * alive) and ends with `close`.
 */
export class KernelThreads {
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * (C_ARGS + MAX_ARGS)));
  private readonly channel = new MessageChannel();
  private worker: Worker | null = null;
  private posted = 0;
  private readonly memories: WebAssembly.Memory[] = [];
  private attached = 0;
  private two = false;

  constructor(
    private readonly threads: FitThreads = 1,
    private readonly deadlineMs = HELPER_DEADLINE_MS,
  ) {}

  /** Asks how many threads the next tree uses. */
  startTree(): void {
    this.two = (typeof this.threads === 'function' ? this.threads() : this.threads) > 1;
  }

  /** Whether the current tree has two threads. */
  get parallel(): boolean {
    return this.two;
  }

  /** Makes `memory` known to the helper thread; its calls name it by the number returned. */
  attach(memory: WebAssembly.Memory): number {
    this.memories.push(memory);
    return this.memories.length - 1;
  }

  /** Starts `kernel` with these arguments on the helper thread, in its instance over memory `at` (see `attach`). */
  post(at: number, kernel: HelperKernel, args: number[]): void {
    if (!this.two) throw new Error('a helper thread call on a one-thread tree');
    this.start();
    while (this.attached <= at) {
      this.channel.port1.postMessage(this.memories[this.attached++]);
      this.send(0, -2, []);
      this.wait();
    }
    this.send(at, kernelNumber(kernel), args);
  }

  private start(): void {
    if (this.worker) return;
    this.worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: {
        module: kernelsModule(),
        port: this.channel.port2,
        control: this.control.buffer,
        spin: SPIN,
        kernels: HELPER_KERNELS,
      },
      transferList: [this.channel.port2],
    });
    helperThreads.alive++;
    this.worker.once('exit', () => helperThreads.alive--);
    this.worker.unref();
  }

  private send(at: number, op: number, args: number[]): void {
    const c = this.control;
    c[C_MEMORY] = at;
    c[C_OP] = op;
    c[C_ARGC] = args.length;
    c.set(args, C_ARGS);
    Atomics.store(c, C_POSTED, ++this.posted);
    if (op >= 0) helperThreads.calls++;
    Atomics.notify(c, C_POSTED);
  }

  /** Waits until the posted call is done. */
  wait(): void {
    const c = this.control;
    let since = 0;
    for (let i = 0; Atomics.load(c, C_DONE) !== this.posted && !c[C_FAILED]; i++) {
      if (i < SPIN) continue;
      since ||= Date.now();
      if (Date.now() - since > this.deadlineMs) {
        void this.worker?.terminate();
        this.worker = null;
        throw new Error(`the kernels helper thread did not answer within ${this.deadlineMs / 1000} s: it has ended`);
      }
      Atomics.wait(c, C_DONE, this.posted - 1, Math.min(1000, this.deadlineMs));
    }
    if (c[C_FAILED]) throw new Error('the kernels helper thread failed');
  }

  /** Ends the helper thread, if any. */
  close(): void {
    if (this.worker) this.send(0, -1, []);
    this.worker = null;
    this.channel.port1.close();
    this.two = false;
  }
}

/** Grows a kernel instance's memory to at least `bytes`. */
function reserve(k: KernelExports, bytes: number): void {
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / PAGE));
}

/** Which implementation of the hot loops a fit uses; 'ts' is the reference. */
export type GbdtKernel = 'wasm' | 'ts';

/** The kernel a fit uses when its options do not say: ACCESS_PERM_GBDT_KERNEL=ts selects the reference loops. */
export const defaultKernel = (): GbdtKernel => (process.env.ACCESS_PERM_GBDT_KERNEL === 'ts' ? 'ts' : 'wasm');

const PAGE = 65536;
const align = (bytes: number): number => (bytes + 15) & ~15;
/** Kept free at the bottom of memory (the stub runtime's heap base; the kernels have no static data). */
const BASE = 1024;
/** Most features one kernel call accumulates (plus one padding histogram). */
const GROUP = 8;
/** Groups of features in flight at once: one on the fit's thread, one on its helper thread. */
const IN_FLIGHT = 2;
/** Fewest rows for which a leaf assignment or an approximation update is split between a fit's two threads. */
const PARALLEL_MIN_ROWS = 65536;
/**
 * Size of the bin cache in bin arrays of the largest size (one byte per row; packed arrays take half): a tree's
 * levels read the same features, which are then copied in once per tree rather than once per level.
 */
const BIN_CACHE_ARRAYS = 48;

/** One pass of a histogram kernel: up to eight features' bins (null pads) and where their sums go. */
export interface HistogramPass {
  packed: boolean;
  bins: (Uint8Array | null)[];
  nBins: number[];
  /** Receive the sums of every (leaf, bin) cell (null for padding). */
  hists: (Float64Array | null)[];
}

/** One fit's instance of the kernels and the row, bin and histogram regions in its memory. */
export class WasmHistograms {
  private readonly k: KernelExports;
  /** This memory's number for the fit's helper thread. */
  private readonly shared: number;
  private rowCap = 0;
  private binCap = 0;
  private histCap = 0;
  private leafCap = 0;
  private buffer: ArrayBuffer | null = null;
  /** Region offsets (bytes). */
  private oLeaf = 0;
  private oRow = 0;
  private oStat = 0;
  private oGLeaf = 0;
  private oGRow = 0;
  private oGStat = 0;
  private oCounts = 0;
  private oSmallOn = 0;
  private oZero = 0;
  private oBins = 0;
  /**
   * Bin arrays in the cache region (bins never change once built): offset, bytes and the tree that last read them;
   * bytes used.
   */
  private cached = new Map<Uint8Array, { at: number; bytes: number; tree: number }>();
  private cacheUsed = 0;
  private tree = 0;
  private oSpill = 0;
  /** The `half` for which the counts region holds the rows' child counts (from the last split), or -1. */
  private countsFor = -1;
  private oHist = 0;
  // Views, re-made whenever the memory grew (growing detaches the old ones).
  private vLeaf = new Uint32Array(0);
  private vRow = new Uint32Array(0);
  private vStat = new Float64Array(0);
  private vGLeaf = new Uint32Array(0);
  private vGRow = new Uint32Array(0);
  private vGStat = new Float64Array(0);
  private vBytes = new Uint8Array(0);
  private vF64 = new Float64Array(0);

  constructor(private readonly threads: KernelThreads | null = null) {
    this.k = instantiate();
    this.shared = threads?.attach(this.k.memory) ?? -1;
  }

  /**
   * Room for `rows` rows, bin arrays of `binBytes` bytes, histograms of `histDoubles` doubles and trees of `leaves`
   * leaves. Growing `rows`, `binBytes` or `leaves` moves every region (call it before filling them); growing only
   * `histDoubles` keeps the rows in place.
   */
  ensure(rows: number, binBytes: number, histDoubles: number, leaves: number): void {
    if (rows <= this.rowCap && binBytes <= this.binCap && histDoubles <= this.histCap && leaves <= this.leafCap) return;
    this.rowCap = Math.max(rows, this.rowCap);
    this.leafCap = Math.max(leaves, this.leafCap);
    this.binCap = Math.max(binBytes, this.binCap);
    this.histCap = Math.max(histDoubles, this.histCap * 2);
    let o = BASE;
    const take = (bytes: number): number => {
      const at = o;
      o += align(bytes);
      return at;
    };
    this.oLeaf = take(4 * this.rowCap);
    this.oRow = take(4 * this.rowCap);
    this.oStat = take(16 * this.rowCap);
    this.oGLeaf = take(4 * this.rowCap);
    this.oGRow = take(4 * this.rowCap);
    this.oGStat = take(16 * this.rowCap);
    this.oCounts = take(8 * this.leafCap);
    this.oSmallOn = take(this.leafCap);
    this.oZero = take(this.binCap);
    this.oBins = take(BIN_CACHE_ARRAYS * align(this.binCap));
    // Room for two groups in flight (pages a one-thread fit never touches are never committed).
    this.oSpill = take(IN_FLIGHT * GROUP * align(this.binCap));
    this.cached.clear();
    this.cacheUsed = 0;
    this.countsFor = -1;
    this.oHist = take(IN_FLIGHT * (GROUP + 1) * align(8 * this.histCap));
    reserve(this.k, o);
    this.buffer = null;
  }

  private views(): void {
    const buf = this.k.memory.buffer;
    if (this.buffer === buf) return;
    this.buffer = buf;
    const n = this.rowCap;
    this.vLeaf = new Uint32Array(buf, this.oLeaf, n);
    this.vRow = new Uint32Array(buf, this.oRow, n);
    this.vStat = new Float64Array(buf, this.oStat, 2 * n);
    this.vGLeaf = new Uint32Array(buf, this.oGLeaf, n);
    this.vGRow = new Uint32Array(buf, this.oGRow, n);
    this.vGStat = new Float64Array(buf, this.oGStat, 2 * n);
    this.vBytes = new Uint8Array(buf);
    this.vF64 = new Float64Array(buf);
  }

  /** The sampled rows' leaves, row indices and statistics (a full pass reads these). */
  get leaf(): Uint32Array {
    this.views();
    return this.vLeaf;
  }
  get row(): Uint32Array {
    this.views();
    return this.vRow;
  }
  get stat(): Float64Array {
    this.views();
    return this.vStat;
  }
  /** The gathered rows of each parent's smaller child. */
  get gLeaf(): Uint32Array {
    this.views();
    return this.vGLeaf;
  }
  get gRow(): Uint32Array {
    this.views();
    return this.vGRow;
  }
  get gStat(): Float64Array {
    this.views();
    return this.vGStat;
  }

  /**
   * Gathers the rows of each parent leaf's smaller child at a level with 2 · `half` leaves (the larger child's
   * histograms are then parent − sibling); returns per parent whether its smaller child is the true side, and the
   * number of rows gathered.
   */
  gatherSmaller(m: number, half: number): { smallOn: Uint8Array; count: number } {
    if (this.countsFor !== half) this.k.childCounts(m, this.oLeaf, half, this.oCounts);
    this.views();
    const counts = new Uint32Array(this.vBytes.buffer, this.oCounts, 2 * half);
    const smallOn = new Uint8Array(half);
    for (let p = 0; p < half; p++) smallOn[p] = counts[2 * p + 1]! * 2 <= counts[2 * p]! ? 1 : 0;
    this.vBytes.set(smallOn, this.oSmallOn);
    const k = this.k;
    const count = k.gatherSmaller(
      m,
      this.oLeaf,
      this.oRow,
      this.oStat,
      half,
      this.oSmallOn,
      this.oGLeaf,
      this.oGRow,
      this.oGStat,
    );
    return { smallOn, count };
  }

  /** Sets `bit` in the leaf of the sampled rows on the true side of a split on byte or packed `bins`. */
  split(m: number, bins: Uint8Array, packed: boolean, onehot: boolean, bin: number, bit: number): void {
    const at = this.place([bins])[0]!;
    this.k.splitLeaves(m, this.oLeaf, this.oRow, at, packed ? 1 : 0, onehot ? 1 : 0, bin, bit, this.oCounts);
    this.countsFor = bit;
  }

  /**
   * Marks the start of a tree's search (the bin cache keeps the arrays a tree reads over those earlier trees read), and
   * asks how many threads the tree uses.
   */
  startTree(): void {
    this.tree++;
    this.countsFor = -1;
    this.threads?.startTree();
  }

  /** Whether this tree's histogram passes may run two at once (`accumulate` with two passes). */
  get parallel(): boolean {
    return this.threads?.parallel ?? false;
  }

  /**
   * Offsets of these bin arrays in the cache, copying in those not there. When they do not fit, the arrays this tree
   * has not read leave the cache; when this tree reads more than the cache holds, the rest are copied into a spill
   * region on every read (a cyclic read of more than the cache would otherwise miss every time).
   */
  private place(arrays: Uint8Array[]): number[] {
    this.views();
    const cap = BIN_CACHE_ARRAYS * align(this.binCap);
    let missing = 0;
    for (const b of arrays) if (!this.cached.has(b)) missing += align(b.length);
    if (this.cacheUsed + missing > cap) this.evict();
    let spill = 0;
    return arrays.map((b) => {
      const hit = this.cached.get(b);
      if (hit) {
        hit.tree = this.tree;
        return hit.at;
      }
      const bytes = align(b.length);
      let at: number;
      if (this.cacheUsed + bytes <= cap) {
        at = this.oBins + this.cacheUsed;
        this.cached.set(b, { at, bytes, tree: this.tree });
        this.cacheUsed += bytes;
      } else {
        at = this.oSpill + spill;
        spill += bytes;
      }
      this.vBytes.set(b, at);
      return at;
    });
  }

  /** Drops the cached arrays this tree has not read and moves the others down (in offset order: none overwritten). */
  private evict(): void {
    const keep = [...this.cached].filter(([, e]) => e.tree === this.tree).sort((x, y) => x[1].at - y[1].at);
    this.cached.clear();
    let used = 0;
    for (const [b, e] of keep) {
      const at = this.oBins + used;
      if (at !== e.at) this.vBytes.copyWithin(at, e.at, e.at + e.bytes);
      e.at = at;
      this.cached.set(b, e);
      used += e.bytes;
    }
    this.cacheUsed = used;
  }

  /**
   * Accumulates `count` rows (the full ones, or with `gathered` the gathered ones) into the (leaf, bin) histograms of
   * one pass, or of two at once (the second on the helper thread; only while `parallel`), and sets each pass's
   * `hists` to the sums (their cells must be 0 where rows fall, as the TypeScript loops require). Bins must be
   * Uint8Array.
   */
  accumulate(count: number, gathered: boolean, passes: HistogramPass[], nLeaves: number): void {
    const helper = passes.length > 1 ? this.threads : null;
    if (passes.length > 1 && !helper) throw new Error('two histogram passes need two threads');
    // Both passes' bins are placed before either runs (placing may move cached arrays).
    const placed = this.place(passes.flatMap((p) => p.bins.filter((b) => b !== null)));
    const slot = align(8 * this.histCap);
    let next = 0;
    const calls = passes.map((p, g) => {
      const width = p.bins.length;
      const histAt = this.oHist + g * (GROUP + 1) * slot;
      const binPtr: number[] = [];
      const histPtr: number[] = [];
      for (let q = 0; q < width; q++) {
        if (p.bins[q]) {
          binPtr.push(placed[next++]!);
          histPtr.push(histAt + q * slot);
        } else {
          // Padding: all-zero bins into a histogram nobody reads.
          binPtr.push(this.oZero);
          histPtr.push(histAt + GROUP * slot);
        }
      }
      const op: HelperKernel = !p.packed ? 'acc4' : width === 8 ? 'accPacked8' : 'accPacked4';
      const args = [
        count,
        gathered ? this.oGLeaf : this.oLeaf,
        gathered ? this.oGRow : this.oRow,
        gathered ? this.oGStat : this.oStat,
        ...binPtr,
        ...p.nBins,
        ...histPtr,
      ];
      return { op, args, histPtr };
    });
    const f64 = this.vF64;
    const cells = (p: HistogramPass, q: number): number => nLeaves * p.nBins[q]! * 2;
    const zero = (g: number): void => {
      const p = passes[g]!;
      for (let q = 0; q < p.bins.length; q++) {
        const at = calls[g]!.histPtr[q]! >>> 3;
        if (p.bins[q]) f64.fill(0, at, at + cells(p, q));
      }
    };
    const copyOut = (g: number): void => {
      const p = passes[g]!;
      for (let q = 0; q < p.bins.length; q++) {
        const h = p.hists[q];
        if (!h || !p.bins[q]) continue;
        const from = calls[g]!.histPtr[q]! >>> 3;
        // The TypeScript loops add into zeroed cells; adding the kernel's sums to those zeros gives the same values.
        h.set(f64.subarray(from, from + cells(p, q)));
      }
    };
    if (helper) {
      zero(1);
      helper.post(this.shared, calls[1]!.op, calls[1]!.args);
    }
    zero(0);
    const k = this.k;
    const own = calls[0]!;
    k[own.op](...(own.args as [number, number, number, number]));
    copyOut(0);
    if (helper) {
      helper.wait();
      copyOut(1);
    }
  }
}

/** Most borders a CTR may have for the kernel (byte bins); more stay on the TypeScript loop. */
export const WASM_CTR_MAX_BORDERS = 255;
/** Most priors `WasmCtr.packedBins` bins in one pass. */
export const WASM_CTR_MAX_PRIORS = 4;
/**
 * Rows with fewer earlier rows of their value than this take their packed CTR bins from a table of every
 * (count, positives) below it (2 bytes each: 32 KiB).
 */
const CTR_TABLE_COUNTS = 128;

/**
 * The ordered-CTR and combination-id kernels of one fit and their memory:
 *   labelled i32[n] · perm u32[n] · history i32[2n] · bins u8[n] · borders f64[4][255] · packed bins u8[4][n / 2]
 *   · spec 40 B[4] · table u16[128²] · ids i32[2][n] · firstRow i32[n] · column i32[n] · seen i32[2 values]
 *   · pair slots i32[slots] · pair keys i32[2 slots]
 */
export class WasmCtr {
  private readonly k: KernelExports;
  private n = -1;
  private valueCap = 0;
  private slotCap = 0;
  private oLabelled = 0;
  private oPerm = 0;
  private oHistory = 0;
  private oBins = 0;
  private oBorders = 0;
  private oPacked = 0;
  private oSpec = 0;
  private oTable = 0;
  private oIds = [0, 0];
  private oFirstRow = 0;
  private oColumn = 0;
  private oSeen = 0;
  private oSlots = 0;
  private oKeys = 0;
  /** Which of the two id arrays holds the current combination's ids. */
  private curIds = 0;

  constructor() {
    this.k = instantiate();
  }

  /** Room for `n` rows with `values` distinct values; views taken before a call that grows are detached. */
  ensure(n: number, values: number): void {
    if (n === this.n && values <= this.valueCap) return;
    this.n = n;
    this.valueCap = Math.max(values, 2 * this.valueCap);
    this.layout();
  }

  private layout(): void {
    const n = this.n;
    this.oLabelled = BASE;
    this.oPerm = this.oLabelled + align(4 * n);
    this.oHistory = this.oPerm + align(4 * n);
    this.oBins = this.oHistory + align(8 * n);
    this.oBorders = this.oBins + align(n);
    this.oPacked = this.oBorders + WASM_CTR_MAX_PRIORS * align(8 * WASM_CTR_MAX_BORDERS);
    this.oSpec = this.oPacked + WASM_CTR_MAX_PRIORS * align((n + 1) >> 1);
    this.oTable = this.oSpec + align(40 * WASM_CTR_MAX_PRIORS);
    this.oIds = [this.oTable + align(2 * CTR_TABLE_COUNTS * CTR_TABLE_COUNTS), 0];
    this.oIds[1] = this.oIds[0]! + align(4 * n);
    this.oFirstRow = this.oIds[1] + align(4 * n);
    this.oColumn = this.oFirstRow + align(4 * n);
    this.oSeen = this.oColumn + align(4 * n);
    this.oSlots = this.oSeen + align(8 * this.valueCap);
    this.oKeys = this.oSlots + align(4 * this.slotCap);
    reserve(this.k, this.oKeys + 8 * this.slotCap);
  }

  /**
   * Starts a combination's ids (`combinationIds` in ../features.ts) from its first column's value ids. Reserves room
   * for up to n values, so that the combination's CTRs (`ensure`) do not move the ids.
   */
  startIds(valueOf: Int32Array): void {
    this.ensure(valueOf.length, valueOf.length);
    new Int32Array(this.k.memory.buffer, this.oIds[0]!, this.n).set(valueOf);
    this.curIds = 0;
  }

  /**
   * Adds a column (value ids below `card`) to the combination: the pairs (current id, value id) get dense ids in order
   * of first occurrence, by direct address in `slots` slots (`direct`) or hashed in `slots` (a power of two); returns
   * how many.
   */
  addColumn(valueOf: Int32Array, card: number, direct: boolean, slots: number): number {
    if (slots > this.slotCap) {
      this.slotCap = slots;
      this.layout();
    }
    new Int32Array(this.k.memory.buffer, this.oColumn, this.n).set(valueOf);
    const next = 1 - this.curIds;
    const count = this.k.pairIds(
      this.n,
      this.oIds[this.curIds]!,
      this.oColumn,
      card,
      direct ? 1 : 0,
      this.oSlots,
      this.oKeys,
      slots,
      this.oIds[next]!,
      this.oFirstRow,
    );
    this.curIds = next;
    return count;
  }

  /** The combination's ids per row and each id's first row (views, valid until the next combination). */
  ids(): { valueOf: Int32Array; firstRow: Int32Array } {
    const buf = this.k.memory.buffer;
    return {
      valueOf: new Int32Array(buf, this.oIds[this.curIds]!, this.n),
      firstRow: new Int32Array(buf, this.oFirstRow, this.n),
    };
  }

  /** The rows' 2 · value + label, to be filled by the caller before `history`. */
  labelled(): Int32Array {
    return new Int32Array(this.k.memory.buffer, this.oLabelled, this.n);
  }

  /** Each row's ordered history under `perm` (see `orderedHistory`); the view is valid until `ensure` grows. */
  history(perm: Uint32Array, values: number): Int32Array {
    new Uint32Array(this.k.memory.buffer, this.oPerm, this.n).set(perm);
    this.k.orderedHistory(this.n, this.oLabelled, this.oPerm, this.oSeen, values, this.oHistory);
    return new Int32Array(this.k.memory.buffer, this.oHistory, 2 * this.n);
  }

  /** The least and greatest value of the ordered Borders CTR with `prior` over the last `history`. */
  range(prior: number): [number, number] {
    this.k.ctrRange(this.n, this.oHistory, prior, this.oSpec);
    const r = new Float64Array(this.k.memory.buffer, this.oSpec, 2);
    return [r[0]!, r[1]!];
  }

  /**
   * Packed bins (at most 15 borders each) of the ordered Borders CTRs with these priors (at most
   * WASM_CTR_MAX_PRIORS) from the last `history`, in one pass, into `outs`.
   */
  packedBins(priors: number[], borders: number[][], outs: Uint8Array[]): void {
    const buf = this.k.memory.buffer;
    const spec = new DataView(buf, this.oSpec, 40 * WASM_CTR_MAX_PRIORS);
    priors.forEach((prior, q) => {
      const b = borders[q]!;
      const at = this.oBorders + q * align(8 * WASM_CTR_MAX_BORDERS);
      new Float64Array(buf, at, b.length).set(b);
      const { lo, invStep } = guessOf(b);
      spec.setFloat64(40 * q, prior, true);
      spec.setFloat64(40 * q + 8, lo, true);
      spec.setFloat64(40 * q + 16, invStep, true);
      spec.setUint32(40 * q + 24, this.oPacked + q * align((this.n + 1) >> 1), true);
      spec.setUint32(40 * q + 32, at, true);
      spec.setInt32(40 * q + 36, b.length, true);
    });
    this.k.ctrBinsPacked(this.n, this.oHistory, priors.length, this.oSpec, CTR_TABLE_COUNTS, this.oTable);
    outs.forEach((out, q) => out.set(new Uint8Array(buf, this.oPacked + q * align((this.n + 1) >> 1), out.length)));
  }

  /**
   * Bins of the ordered Borders CTR with `prior` from the last `history`, into `out` (bytes, or packed two rows per
   * byte). At most WASM_CTR_MAX_BORDERS borders.
   */
  bins(prior: number, borders: number[], packed: boolean, out: Uint8Array): void {
    const buf = this.k.memory.buffer;
    const { lo, invStep } = guessOf(borders);
    new Float64Array(buf, this.oBorders, borders.length).set(borders);
    this.k.ctrBins(
      this.n,
      this.oHistory,
      prior,
      this.oBorders,
      borders.length,
      lo,
      invStep,
      packed ? 1 : 0,
      this.oBins,
    );
    out.set(new Uint8Array(buf, this.oBins, out.length));
  }
}

/** One split of a tree as `WasmLeaves.assign` takes it. */
export interface LeafSplit {
  bins: Uint8Array;
  packed: boolean;
  onehot: boolean;
  bin: number;
}

/**
 * The kernels' first guess of a CTR value's bin assumes evenly spaced borders (CTR borders are): the first border
 * and 1 / spacing (0: no guess); their check makes any guess exact.
 */
function guessOf(borders: number[]): { lo: number; invStep: number } {
  const nb = borders.length;
  const lo = nb > 0 ? borders[0]! : 0;
  return { lo, invStep: nb >= 2 && borders[nb - 1]! > lo ? (nb - 1) / (borders[nb - 1]! - lo) : 0 };
}

/**
 * Every training row's leaf under a tree's splits (`assignLeaves`), each fold's exp(−approx) per row (resident here
 * for the whole fit: the leaf values' sums and the approximation updates read and write it in place), and the rows
 * grouped by leaf for the leaf values (`leafDeltas`), in the kernels' memory:
 *   leaf u32[n] · labels u8[n] · expNeg f64[folds · n] · sortedExp f64[n] · sortedY u8[n] · bins u8[maxDepth · n]
 *   · splits 16 B[maxDepth] · start i32[leaves + 1] · neg f64[leaves] · fill i32[leaves] · sums f64[2 leaves]
 *   · factor f64[leaves]
 */
export class WasmLeaves {
  private readonly k: KernelExports;
  /** This memory's number for the fit's helper thread. */
  private readonly shared: number;
  private readonly oLabels: number;
  private readonly oExpNeg: number;
  private readonly oSortedExp: number;
  private readonly oSortedY: number;
  private readonly oBins: number;
  private readonly oSplits: number;
  private readonly oStart: number;
  private readonly oNeg: number;
  private readonly oFill: number;
  private readonly oSums: number;
  private readonly oFactor: number;
  private readonly binBytes: number;
  /** The rows' leaves; a view into the kernels' memory, which never grows after construction. */
  readonly leaf: Uint32Array;
  /** Fold k's exp(−approx) per row (views into the kernels' memory). */
  readonly expNeg: Float64Array[];

  /**
   * For `n` training rows with these labels, `folds` approximations starting at exp(−approx) = `startExp` and trees of
   * up to `maxDepth` levels.
   */
  constructor(
    private readonly n: number,
    labels: Uint8Array,
    folds: number,
    startExp: number,
    maxDepth: number,
    private readonly threads: KernelThreads | null = null,
  ) {
    this.k = instantiate();
    this.shared = threads?.attach(this.k.memory) ?? -1;
    const maxLeaves = 2 ** maxDepth;
    this.binBytes = align(n);
    this.oLabels = BASE + align(4 * n);
    this.oExpNeg = this.oLabels + align(n);
    this.oSortedExp = this.oExpNeg + folds * align(8 * n);
    this.oSortedY = this.oSortedExp + align(8 * n);
    this.oBins = this.oSortedY + align(n);
    this.oSplits = this.oBins + maxDepth * this.binBytes;
    this.oStart = this.oSplits + align(16 * maxDepth);
    this.oNeg = this.oStart + align(4 * (maxLeaves + 1));
    this.oFill = this.oNeg + align(8 * maxLeaves);
    this.oSums = this.oFill + align(4 * maxLeaves);
    this.oFactor = this.oSums + align(16 * maxLeaves);
    reserve(this.k, this.oFactor + align(8 * maxLeaves));
    const buf = this.k.memory.buffer;
    this.leaf = new Uint32Array(buf, BASE, n);
    new Uint8Array(buf, this.oLabels, n).set(labels);
    this.expNeg = Array.from({ length: folds }, (_, f) =>
      new Float64Array(buf, this.oExpNeg + f * align(8 * n), n).fill(startExp),
    );
  }

  /** Sets every row's leaf under these splits (split d sets bit d); at most `maxDepth` of them. */
  assign(splits: LeafSplit[]): void {
    const buf = this.k.memory.buffer;
    const table = new Uint32Array(buf, this.oSplits, 4 * splits.length);
    splits.forEach((s, d) => {
      const at = this.oBins + d * this.binBytes;
      new Uint8Array(buf, at, s.bins.length).set(s.bins);
      table[4 * d] = at;
      table[4 * d + 1] = (s.packed ? 1 : 0) | (s.onehot ? 2 : 0);
      table[4 * d + 2] = s.bin;
    });
    const k = this.k;
    const half = this.half();
    if (half > 0) this.threads!.post(this.shared, 'assignTree', [half, this.n, splits.length, this.oSplits, BASE]);
    k.assignTree(0, half > 0 ? half : this.n, splits.length, this.oSplits, BASE);
    if (half > 0) this.threads!.wait();
  }

  /**
   * Per leaf, fold `fold`'s Σ (y − p) and Σ p(1 − p) (`newton`) or the row count at its current approximation,
   * interleaved (leaf l at 2l, 2l + 1); a view into the kernels' memory.
   */
  leafSums(fold: number, newton: boolean, nLeaves: number): Float64Array {
    this.k.leafSums(this.n, BASE, this.expNegAt(fold), this.oLabels, newton ? 1 : 0, nLeaves, this.oSums);
    return new Float64Array(this.k.memory.buffer, this.oSums, 2 * nLeaves);
  }

  /** Multiplies fold `fold`'s exp(−approx) of every row by `factor` of its leaf. */
  scale(fold: number, factor: Float64Array, nLeaves: number): void {
    new Float64Array(this.k.memory.buffer, this.oFactor, nLeaves).set(factor.subarray(0, nLeaves));
    const at = this.expNegAt(fold);
    const half = this.half();
    if (half > 0)
      this.threads!.post(this.shared, 'scaleByLeaf', [this.n - half, BASE + 4 * half, at + 8 * half, this.oFactor]);
    this.k.scaleByLeaf(half > 0 ? half : this.n, BASE, at, this.oFactor);
    if (half > 0) this.threads!.wait();
  }

  /**
   * Where the helper thread's rows start on a tree with two threads (a multiple of the kernels' 4,096-row blocks), or 0
   * when the fit's thread takes every row: rows are independent, so the two ranges give what one pass gives.
   */
  private half(): number {
    if (!this.threads?.parallel || this.n < PARALLEL_MIN_ROWS) return 0;
    return Math.floor(this.n / 2 / 4096) * 4096;
  }

  private expNegAt(fold: number): number {
    return this.oExpNeg + fold * align(8 * this.n);
  }

  /**
   * Groups the rows by their `leaf` (a counting sort in row order): leaf l's rows are sortedExp/sortedY[start[l] ..
   * start[l + 1]), with fold `fold`'s exp(−approx) and their label; neg[l] counts its negatives. Views into the
   * kernels' memory.
   */
  groupByLeaf(
    fold: number,
    nLeaves: number,
  ): { start: Int32Array; neg: Float64Array; sortedExp: Float64Array; sortedY: Uint8Array } {
    const buf = this.k.memory.buffer;
    this.k.groupByLeaf(
      this.n,
      BASE,
      this.expNegAt(fold),
      this.oLabels,
      nLeaves,
      this.oStart,
      this.oNeg,
      this.oFill,
      this.oSortedExp,
      this.oSortedY,
    );
    return {
      start: new Int32Array(buf, this.oStart, nLeaves + 1),
      neg: new Float64Array(buf, this.oNeg, nLeaves),
      sortedExp: new Float64Array(buf, this.oSortedExp, this.n),
      sortedY: new Uint8Array(buf, this.oSortedY, this.n),
    };
  }
}

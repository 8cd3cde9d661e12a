import { readFileSync } from 'node:fs';

/**
 * Advance widths read from a TrueType font's `cmap` (format 4) and `hmtx` tables, so that vega's headless layout
 * (no canvas) measures text as resvg will draw it instead of guessing 0.8 em per character.
 */
export class FontMetrics {
  private readonly view: DataView;
  private readonly unitsPerEm: number;
  private readonly numberOfHMetrics: number;
  private readonly hmtx: number;
  private readonly cmap4: number | null;
  private readonly cache = new Map<number, number>();

  constructor(path: string) {
    const bytes = readFileSync(path);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tables = new Map<string, number>();
    const numTables = this.view.getUint16(4);
    for (let i = 0; i < numTables; i++) {
      const rec = 12 + 16 * i;
      const tag = String.fromCharCode(...[0, 1, 2, 3].map((k) => this.view.getUint8(rec + k)));
      tables.set(tag, this.view.getUint32(rec + 8));
    }
    const need = (tag: string): number => {
      const offset = tables.get(tag);
      if (offset === undefined) throw new Error(`${path}: no '${tag}' table`);
      return offset;
    };
    this.unitsPerEm = this.view.getUint16(need('head') + 18);
    this.numberOfHMetrics = this.view.getUint16(need('hhea') + 34);
    this.hmtx = need('hmtx');
    const cmap = need('cmap');
    let sub: number | null = null;
    for (let i = 0; i < this.view.getUint16(cmap + 2); i++) {
      const rec = cmap + 4 + 8 * i;
      const platform = this.view.getUint16(rec);
      const encoding = this.view.getUint16(rec + 2);
      const offset = cmap + this.view.getUint32(rec + 4);
      if (this.view.getUint16(offset) === 4 && (platform === 3 || platform === 0) && (encoding === 1 || platform === 0))
        sub = offset;
    }
    this.cmap4 = sub;
  }

  private glyph(cp: number): number {
    const sub = this.cmap4;
    if (sub === null || cp > 0xffff) return 0;
    const v = this.view;
    const segX2 = v.getUint16(sub + 6);
    const ends = sub + 14;
    const starts = ends + segX2 + 2;
    const deltas = starts + segX2;
    const ranges = deltas + segX2;
    for (let s = 0; s < segX2; s += 2) {
      if (v.getUint16(ends + s) < cp) continue;
      const start = v.getUint16(starts + s);
      if (start > cp) return 0;
      const delta = v.getInt16(deltas + s);
      const range = v.getUint16(ranges + s);
      if (range === 0) return (cp + delta) & 0xffff;
      const g = v.getUint16(ranges + s + range + 2 * (cp - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  }

  /** Advance width of a code point in em. */
  advance(cp: number): number {
    let w = this.cache.get(cp);
    if (w === undefined) {
      const g = Math.min(this.glyph(cp), this.numberOfHMetrics - 1);
      w = this.view.getUint16(this.hmtx + 4 * g) / this.unitsPerEm;
      this.cache.set(cp, w);
    }
    return w;
  }

  /** Width of `text` at `fontSize` px (no kerning). */
  width(text: string, fontSize: number): number {
    let em = 0;
    for (const ch of text) em += this.advance(ch.codePointAt(0)!);
    return em * fontSize;
  }
}

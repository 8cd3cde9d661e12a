/**
 * A small document model rendered both to Markdown (figures linked as files) and to self-contained HTML
 * (figures inlined as SVG), so report.md and report.html always say the same thing.
 */
export type Cell = string | number | null;

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; header: string[]; rows: Cell[][]; align?: Array<'left' | 'right'>; caption?: string }
  | { kind: 'figure'; name: string; caption: string }
  | { kind: 'details'; summary: string; blocks: Block[] };

/** A figure as files next to the document (markdown) and as markup to inline (HTML). */
export interface FigureFiles {
  svgPath: string;
  pngPath: string;
  svg: string;
}

const mdEscape = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
const cellText = (c: Cell): string => (c === null ? '–' : String(c));

/** Markdown: `**bold**` and `` `code` `` in text pass through unchanged; figures link their PNG. */
export function toMarkdown(blocks: Block[], figures: Record<string, FigureFiles>): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        out.push(`${'#'.repeat(b.level)} ${b.text}`, '');
        break;
      case 'paragraph':
        out.push(b.text, '');
        break;
      case 'list':
        out.push(...b.items.map((i) => `- ${i}`), '');
        break;
      case 'table': {
        if (b.caption) out.push(b.caption, '');
        const align = b.header.map((_, i) => ((b.align?.[i] ?? 'left') === 'right' ? '---:' : '---'));
        out.push(`| ${b.header.map(mdEscape).join(' | ')} |`, `| ${align.join(' | ')} |`);
        for (const r of b.rows) out.push(`| ${r.map((c) => mdEscape(cellText(c))).join(' | ')} |`);
        out.push('');
        break;
      }
      case 'figure': {
        const f = figures[b.name];
        if (f) out.push(`![${b.caption}](${f.pngPath})`, '', `*${b.caption}* ([SVG](${f.svgPath}))`, '');
        break;
      }
      case 'details':
        out.push(`<details><summary>${b.summary}</summary>`, '', toMarkdown(b.blocks, figures), '</details>', '');
        break;
    }
  }
  return out.join('\n');
}

export function escapeHtml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** The inline Markdown we use in text (bold, code) as HTML. */
function inline(text: string): string {
  return escapeHtml(text)
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/`([^`]+)`/g, '<code>$1</code>');
}

/**
 * Drops the XML prolog and fixed pixel size so an SVG scales with its container, and prefixes its ids (vega's
 * gradients and clips restart at the same numbers in every figure) so several SVGs can share one page.
 */
function inlineSvg(svg: string, name: string): string {
  const prefix = `fig-${name}-`;
  return svg
    .replace(/<\?xml[^>]*>/, '')
    .replace(/<svg([^>]*?) width="[\d.]+" height="[\d.]+"/, '<svg$1')
    .replace(/ id="([^"]+)"/g, ` id="${prefix}$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}$1"`);
}

function blocksToHtml(blocks: Block[], figures: Record<string, FigureFiles>): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading': {
        const id = b.text
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '');
        out.push(`<h${b.level} id="${id}">${inline(b.text)}</h${b.level}>`);
        break;
      }
      case 'paragraph':
        out.push(`<p>${inline(b.text)}</p>`);
        break;
      case 'list':
        out.push(`<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`);
        break;
      case 'table': {
        const cls = (i: number): string => ((b.align?.[i] ?? 'left') === 'right' ? ' class="num"' : '');
        const head = b.header.map((h, i) => `<th${cls(i)}>${inline(h)}</th>`).join('');
        const rows = b.rows
          .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${inline(cellText(c))}</td>`).join('')}</tr>`)
          .join('\n');
        const caption = b.caption ? `<caption>${inline(b.caption)}</caption>` : '';
        out.push(`<table>${caption}<thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`);
        break;
      }
      case 'figure': {
        const f = figures[b.name];
        if (f) out.push(`<figure>${inlineSvg(f.svg, b.name)}<figcaption>${inline(b.caption)}</figcaption></figure>`);
        break;
      }
      case 'details':
        out.push(`<details><summary>${inline(b.summary)}</summary>${blocksToHtml(b.blocks, figures)}</details>`);
        break;
    }
  }
  return out.join('\n');
}

const CSS = `
body{font-family:Inter,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;max-width:1080px;margin:2rem auto;padding:0 1.5rem;line-height:1.5}
h1{font-size:1.9rem;border-bottom:2px solid #d0d7de;padding-bottom:.3rem}
h2{font-size:1.4rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
h3{font-size:1.1rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.8rem 0 1.2rem;font-size:.9rem}
caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:.3rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;font-size:.85em}
figure{margin:1rem 0 1.6rem}
figure svg{max-width:100%;height:auto;border:1px solid #eaeef2;border-radius:6px}
figcaption{color:#57606a;font-size:.9rem;margin-top:.3rem}
details{margin:.6rem 0}
summary{cursor:pointer;font-weight:600}
`;

/** A self-contained HTML page: inline CSS, figures as inline SVG, no external requests. */
export function toHtml(title: string, blocks: Block[], figures: Record<string, FigureFiles>): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${blocksToHtml(blocks, figures)}
</body>
</html>
`;
}

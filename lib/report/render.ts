import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { FontMetrics } from './fontMetrics';
import { sha256Hex } from '../hash';
import { encodePng } from './png';

const require = createRequire(import.meta.url);

/**
 * Inter (OFL) ships as TTF inside the `@expo-google-fonts/inter` npm package, so PNGs render the same on every
 * machine without system fonts; resvg is given these files only.
 */
export function fontFiles(): string[] {
  const root = dirname(require.resolve('@expo-google-fonts/inter/package.json'));
  return ['400Regular/Inter_400Regular.ttf', '600SemiBold/Inter_600SemiBold.ttf', '700Bold/Inter_700Bold.ttf'].map(
    (f) => join(root, f),
  );
}

let metrics: { regular: FontMetrics; bold: FontMetrics } | null = null;

/** Makes vega measure text with Inter's real advance widths (it has no canvas here). */
function useFontMetrics(): void {
  if (metrics) return;
  const [regular, , bold] = fontFiles();
  metrics = { regular: new FontMetrics(regular!), bold: new FontMetrics(bold!) };
  const m = metrics;
  // Exported by vega-scenegraph at run time, missing from vega's typings.
  const tm = (vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number } }).textMetrics;
  tm.width = (item: TextItem, text?: unknown): number => {
    const value = text ?? item.text;
    const s = Array.isArray(value)
      ? value.map(String).reduce((a, b) => (a.length >= b.length ? a : b), '')
      : String(value ?? '');
    const size = typeof item.fontSize === 'number' ? item.fontSize : 11;
    const weight = item.fontWeight;
    const bold =
      weight === 'bold' ||
      (typeof weight === 'number' && weight >= 600) ||
      (typeof weight === 'string' && Number(weight) >= 600);
    return (bold ? m.bold : m.regular).width(s, size);
  };
}

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: string | number;
}

export const FONT_STACK = 'Inter, Helvetica, Arial, sans-serif';

/** The look shared by every figure: readable sizes, light grid, white background. */
export const THEME = {
  font: FONT_STACK,
  background: 'white',
  padding: 12,
  title: { fontSize: 16, fontWeight: 600, anchor: 'start', offset: 10, subtitleFontSize: 12, subtitleColor: '#57606a' },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 600, gridColor: '#eaeef2', domainColor: '#8c959f' },
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 600 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  view: { stroke: '#d0d7de' },
} as const;

export interface RenderedFigure {
  svg: string;
  png: Uint8Array;
  /** The compiled vega spec (JSON) the console draws interactively: see {@link interactiveVegaSpec}. */
  vega: string;
}

const themed = (spec: TopLevelSpec, extra: object = {}): TopLevelSpec =>
  ({ ...spec, config: { ...THEME, ...(spec.config ?? {}), ...extra } }) as TopLevelSpec;

/**
 * The figure compiled once for both uses: the look of the static figure, and every mark shows its encoded values on
 * hover (tooltips leave the SVG unchanged, so the static figure is drawn from the same compiled spec).
 */
function compiled(spec: TopLevelSpec): vega.Spec {
  const mark = { ...((spec.config as { mark?: object } | undefined)?.mark ?? {}), tooltip: { content: 'encoding' } };
  return compile(themed(spec, { mark })).spec;
}

/** The compiled figure as SVG (vega's headless SVG renderer, no canvas). */
async function svgOf(compiledSpec: vega.Spec): Promise<string> {
  useFontMetrics();
  const view = new vega.View(vega.parse(compiledSpec), { renderer: 'none' });
  try {
    // Gradient/clip ids come from a process-wide counter: reset it so the same figure gives the same bytes.
    (vega as unknown as { resetSVGDefIds: () => void }).resetSVGDefIds();
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Figures drawn lately, by their spec: a report built again with the same figures (an override that leaves the
 * evaluation as it was, a report exported once more) takes them as drawn instead of drawing them again, the same
 * bytes. A few dozen cover every figure of a report and a monitoring window; the oldest goes first.
 */
const recentFigures = new Map<string, Promise<RenderedFigure>>();
const RECENT_FIGURES = 48;

/**
 * Vega-Lite spec → SVG → PNG at `scale`× (drawn by resvg with the bundled fonts), and the compiled spec for the
 * console. The result is shared with later calls for the same spec: treat it as read-only.
 */
export function renderVegaLite(spec: TopLevelSpec, scale = 2): Promise<RenderedFigure> {
  const key = `${scale}:${sha256Hex(JSON.stringify(spec))}`;
  let figure = recentFigures.get(key);
  if (figure) recentFigures.delete(key);
  else {
    figure = drawFigure(spec, scale);
    figure.catch(() => recentFigures.delete(key));
    if (recentFigures.size >= RECENT_FIGURES) recentFigures.delete(recentFigures.keys().next().value!);
  }
  recentFigures.set(key, figure);
  return figure;
}

async function drawFigure(spec: TopLevelSpec, scale: number): Promise<RenderedFigure> {
  const compiledSpec = compiled(spec);
  const json = `${JSON.stringify(compiledSpec)}\n`;
  const svg = await svgOf(compiledSpec);
  const image = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: 'Inter' },
  }).render();
  return { svg, png: encodePng(image.width, image.height, image.pixels), vega: json };
}

/** The figure as SVG only (no PNG drawn). */
export async function figureSvg(spec: TopLevelSpec): Promise<string> {
  return svgOf(compiled(spec));
}

/**
 * The figure as a compiled vega spec (JSON) for the console's interactive charts: the look of the static figure,
 * and every mark shows its encoded values on hover. Compiled here, so the browser needs vega only.
 */
export function interactiveVegaSpec(spec: TopLevelSpec): string {
  return `${JSON.stringify(compiled(spec))}\n`;
}

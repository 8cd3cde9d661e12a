// The console's chart renderer, bundled by the API server (api/console.ts) into /console/charts.js. Vega's
// expression interpreter stands in for its default code generator, which needs `unsafe-eval` (not allowed by the
// console's Content-Security-Policy); the specs arrive compiled from vega-lite by the server.
import { parse, View } from 'vega';
import { expressionInterpreter } from 'vega-interpreter';

/** Renders a compiled vega spec as SVG into `container`; hovering a mark shows its values (the native tooltip). */
export async function renderChart(container, spec) {
  const view = new View(parse(spec, undefined, { ast: true }), {
    expr: expressionInterpreter,
    renderer: 'svg',
    container,
    hover: true,
  });
  await view.runAsync();
  return view;
}

// Reading a pointer on a chart drawn by the Rust charts crate: its layout says where the
// plot and the legend landed (in the picture's own pixels), its series what was drawn.
// Pure functions, so the rules are tested without a window.

import type { ChartLayout } from './bindings/ChartLayout';
import type { ChartView } from './bindings/ChartView';
import type { DrawnChart } from './bindings/DrawnChart';
import type { DrawnPoint } from './bindings/DrawnPoint';
import type { DrawnSeries } from './bindings/DrawnSeries';
import type { PlotFrame } from './bindings/PlotFrame';

export type { ChartView, DrawnChart };

/** A picture pixel's place in data units, or null outside the plot. */
export function toData(frame: PlotFrame, px: number, py: number): { x: number; y: number } | null {
  if (px < frame.left || px > frame.right || py < frame.top || py > frame.bottom) return null;
  const x = frame.x[0] + ((px - frame.left) / (frame.right - frame.left)) * (frame.x[1] - frame.x[0]);
  const y = frame.y[1] - ((py - frame.top) / (frame.bottom - frame.top)) * (frame.y[1] - frame.y[0]);
  return { x, y };
}

/** A data point's pixel. */
export function toPixel(frame: PlotFrame, x: number, y: number): { px: number; py: number } {
  const px = frame.left + ((x - frame.x[0]) / (frame.x[1] - frame.x[0])) * (frame.right - frame.left);
  const py = frame.top + ((frame.y[1] - y) / (frame.y[1] - frame.y[0])) * (frame.bottom - frame.top);
  return { px, py };
}

export type Nearest = { series: DrawnSeries; point: DrawnPoint; px: number; py: number; distance: number };

/** The drawn point nearest the pointer (within `reach` pixels), among the series shown. */
export function nearest(chart: DrawnChart, px: number, py: number, reach = 24): Nearest | null {
  const frame = chart.layout.plot;
  if (!frame || !toData(frame, px, py)) return null;
  let best: Nearest | null = null;
  for (const series of chart.series) {
    if (series.hidden) continue;
    for (const point of series.points) {
      const at = toPixel(frame, point.x, point.y);
      if (at.px < frame.left - 1 || at.px > frame.right + 1 || at.py < frame.top - 1 || at.py > frame.bottom + 1) continue;
      const distance = Math.hypot(at.px - px, at.py - py);
      if (distance <= reach && (!best || distance < best.distance)) best = { series, point, ...at, distance };
    }
  }
  return best;
}

/** The legend entry under the pointer. */
export function legendAt(layout: ChartLayout, px: number, py: number): string | null {
  const item = layout.legend.find((l) => px >= l.left && px <= l.right && py >= l.top && py <= l.bottom);
  return item ? item.label : null;
}

/** The view a dragged box asks for (corners in picture pixels), or null for a box too small
 * to mean a zoom (a click). Bars keep their categories: only their values zoom. */
export function boxView(
  frame: PlotFrame,
  from: { px: number; py: number },
  to: { px: number; py: number },
  bars: boolean,
  hidden: string[],
): ChartView | null {
  if (Math.abs(to.px - from.px) < 6 || Math.abs(to.py - from.py) < 6) return null;
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const a = toData(frame, clamp(from.px, frame.left, frame.right), clamp(from.py, frame.top, frame.bottom));
  const b = toData(frame, clamp(to.px, frame.left, frame.right), clamp(to.py, frame.top, frame.bottom));
  if (!a || !b) return null;
  return {
    x: bars ? null : [Math.min(a.x, b.x), Math.max(a.x, b.x)],
    y: [Math.min(a.y, b.y), Math.max(a.y, b.y)],
    hidden,
  };
}

/** The hidden labels with `label` toggled. */
export function toggle(hidden: string[], label: string): string[] {
  return hidden.includes(label) ? hidden.filter((h) => h !== label) : [...hidden, label];
}

/** What the tooltip says about a point. */
export function describe(chart: DrawnChart, near: Nearest): string[] {
  const { series, point } = near;
  const x = chart.categories.length > 0 ? (chart.categories[Math.round(point.x)] ?? String(point.x)) : short(point.x);
  const value = `${chart.y_label} ${short(point.y)}${point.ci !== null ? ` ± ${short(point.ci)}` : ''}`;
  const runs = series.runs.length === 1 ? 'one run: click to open it' : `mean of ${point.n} run${point.n === 1 ? '' : 's'}`;
  return [series.label, `${chart.x_label || 'x'} ${x}`, value, runs];
}

function short(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  if (Math.abs(v) >= 0.01 && Math.abs(v) < 1e4) return String(Number(v.toFixed(4)));
  return v.toExponential(2);
}

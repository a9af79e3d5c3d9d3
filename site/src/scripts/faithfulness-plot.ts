/**
 * Draws one deletion or insertion curve of a result (`analysis.faithfulness`, issue 16, item 1) on a canvas: the
 * class logit against the fraction of samples deleted or inserted in relevance order (solid), the mean of the seeded
 * random orders (dashed) and their range (grey band). Canvas only, so the page keeps its CSP (no inline styles).
 */
import { prepareChartCanvas } from './ecg-plot.ts';

export interface CurveToDraw {
  fractions: number[];
  logit: number[];
  randomLogit: number[];
  randomMin?: number[];
  randomMax?: number[];
}

export function drawFaithfulnessCurve(canvas: HTMLCanvasElement, curve: CurveToDraw, kind: 'deletion' | 'insertion'): void {
  const cssW = 320;
  const cssH = 190;
  const ctx = prepareChartCanvas(canvas, cssW, cssH, 1.5);
  const lows = curve.randomMin ?? curve.randomLogit;
  const highs = curve.randomMax ?? curve.randomLogit;
  const all = [...curve.logit, ...curve.randomLogit, ...lows, ...highs].filter(Number.isFinite);
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const left = 40;
  const right = 8;
  const top = 8;
  const bottom = 30;
  const fMax = Math.max(...curve.fractions) || 1;
  const x = (f: number) => left + (f / fMax) * (cssW - left - right);
  const y = (v: number) => cssH - bottom - ((v - lo) / (hi - lo)) * (cssH - top - bottom);

  // Axes with the logit range and the fractions.
  ctx.strokeStyle = '#bbb';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, cssH - bottom);
  ctx.lineTo(cssW - right, cssH - bottom);
  ctx.stroke();
  ctx.fillStyle = '#555';
  ctx.font = '10px system-ui, sans-serif';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of [lo, (lo + hi) / 2, hi]) ctx.fillText(v.toFixed(1), left - 4, y(v));
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const f of [0, 0.1, 0.2, 0.3, 0.4, 0.5].filter((f) => f <= fMax + 1e-9)) ctx.fillText(`${Math.round(f * 100)}%`, x(f), cssH - bottom + 3);
  ctx.fillText(`samples ${kind === 'deletion' ? 'deleted' : 'inserted'}, by relevance`, (left + cssW - right) / 2, cssH - 13);

  // Random band, random mean, the curve.
  ctx.fillStyle = 'rgba(120, 144, 156, 0.25)';
  ctx.beginPath();
  curve.fractions.forEach((f, i) => (i === 0 ? ctx.moveTo(x(f), y(highs[i])) : ctx.lineTo(x(f), y(highs[i]))));
  for (let i = curve.fractions.length - 1; i >= 0; i--) ctx.lineTo(x(curve.fractions[i]), y(lows[i]));
  ctx.closePath();
  ctx.fill();
  const line = (values: number[], colour: string, dash: number[]) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(dash);
    ctx.beginPath();
    curve.fractions.forEach((f, i) => (i === 0 ? ctx.moveTo(x(f), y(values[i])) : ctx.lineTo(x(f), y(values[i]))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = colour;
    curve.fractions.forEach((f, i) => ctx.fillRect(x(f) - 2, y(values[i]) - 2, 4, 4));
  };
  line(curve.randomLogit, '#607d8b', [4, 3]);
  line(curve.logit, kind === 'deletion' ? '#c62828' : '#1565c0', []);
}

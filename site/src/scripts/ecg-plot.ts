/**
 * Draws a 12-lead ECG on standard ECG paper (25 mm/s, 10 mm/mV; 1 mm and 5 mm grid) on a <canvas>, each sample
 * coloured by its relevance (colours.ts), either as 12 rows over the whole window or as the clinical 3×4 layout
 * (2.5 s per column) with a lead II rhythm strip. Relevance is normalised to [−1, 1] per ECG (by the largest |R|
 * of all leads) or per lead (Bender et al. 2023, "Plots of single ECGs"). Nothing here recomputes the analysis.
 */
import { LEVELS, binOf, colourOfBin } from './colours.ts';

export type Layout = 'rows' | '3x4';
export type Normalisation = 'ecg' | 'lead';

export interface EcgPlotData {
  samplingRateHz: number;
  samples: number;
  leads: readonly string[];
  /** Model-input signal, row-major [samples, 12], mV. */
  signalMv: Float32Array;
  /** Relevance, row-major [samples, 12]. */
  relevance: Float32Array;
  /** Samples that come from the recording; the rest is zero padding (shaded, its trace grey: its relevance is masked). */
  recordedSamples: number;
}

export interface EcgPlotOptions {
  layout: Layout;
  normalisation: Normalisation;
  /** CSS pixels per millimetre of paper. */
  pxPerMm?: number;
}

const MM_PER_S = 25;
/** Trace colour of the zero padding: a light grey, distinct from the neutral relevance colour. */
export const PADDING_TRACE = '#b8b8b8';
const MM_PER_MV = 10;
const LABEL_MM = 12;

/** Per-lead scale factors that map relevance to [−1, 1], from the recorded samples only (padding is masked). */
export function normalisers(data: EcgPlotData, normalisation: Normalisation): number[] {
  const n = data.leads.length;
  const maxAbs = new Array<number>(n).fill(0);
  for (let s = 0; s < Math.min(data.samples, data.recordedSamples); s++) {
    for (let k = 0; k < n; k++) {
      const a = Math.abs(data.relevance[s * n + k]);
      if (a > maxAbs[k]) maxAbs[k] = a;
    }
  }
  if (normalisation === 'ecg') {
    const all = Math.max(...maxAbs);
    return maxAbs.map(() => (all > 0 ? 1 / all : 0));
  }
  return maxAbs.map((m) => (m > 0 ? 1 / m : 0));
}

/** Zero padding beyond one second after the recording is not drawn (it carries no signal to look at). */
export function visibleSamples(data: EcgPlotData): number {
  return Math.min(data.samples, Math.max(data.recordedSamples, 1) + Math.round(data.samplingRateHz));
}

interface Panel {
  lead: number;
  fromSample: number;
  toSample: number;
  /** Top-left of the panel in mm, and its size. */
  xMm: number;
  yMm: number;
  widthMm: number;
  heightMm: number;
}

function panelsOf(data: EcgPlotData, layout: Layout): { panels: Panel[]; widthMm: number; heightMm: number } {
  const fs = data.samplingRateHz;
  if (layout === 'rows') {
    const rowMm = 20;
    const shown = visibleSamples(data);
    const widthMm = (shown / fs) * MM_PER_S;
    const panels = data.leads.map((_, k) => ({ lead: k, fromSample: 0, toSample: shown, xMm: LABEL_MM, yMm: k * rowMm, widthMm, heightMm: rowMm }));
    return { panels, widthMm: LABEL_MM + widthMm + 2, heightMm: data.leads.length * rowMm + 2 };
  }
  // 3×4: columns I–III, aVR–aVF, V1–V3, V4–V6 of 2.5 s each, then a 10 s rhythm strip of lead II.
  const rowMm = 25;
  const colS = 2.5;
  const colMm = colS * MM_PER_S;
  const panels: Panel[] = [];
  for (let col = 0; col < 4; col++) {
    for (let row = 0; row < 3; row++) {
      const from = Math.round(col * colS * fs);
      const to = Math.min(data.samples, Math.round((col + 1) * colS * fs));
      panels.push({ lead: col * 3 + row, fromSample: from, toSample: to, xMm: LABEL_MM + col * colMm, yMm: row * rowMm, widthMm: colMm, heightMm: rowMm });
    }
  }
  const stripTo = Math.min(data.samples, Math.round(4 * colS * fs));
  panels.push({ lead: 1, fromSample: 0, toSample: stripTo, xMm: LABEL_MM, yMm: 3 * rowMm, widthMm: 4 * colMm, heightMm: rowMm });
  return { panels, widthMm: LABEL_MM + 4 * colMm + 2, heightMm: 4 * rowMm + 2 };
}

function drawGrid(ctx: CanvasRenderingContext2D, widthMm: number, heightMm: number, px: number): void {
  ctx.fillStyle = '#fffdfd';
  ctx.fillRect(0, 0, widthMm * px, heightMm * px);
  for (const [step, colour, lw] of [
    [1, '#f7d4d4', 0.5],
    [5, '#eba3a3', 1],
  ] as const) {
    ctx.beginPath();
    for (let x = 0; x <= widthMm + 1e-9; x += step) {
      ctx.moveTo(Math.round(x * px) + 0.5, 0);
      ctx.lineTo(Math.round(x * px) + 0.5, heightMm * px);
    }
    for (let y = 0; y <= heightMm + 1e-9; y += step) {
      ctx.moveTo(0, Math.round(y * px) + 0.5);
      ctx.lineTo(widthMm * px, Math.round(y * px) + 0.5);
    }
    ctx.strokeStyle = colour;
    ctx.lineWidth = lw;
    ctx.stroke();
  }
}

/**
 * Draws the ECG; returns the canvas size in CSS pixels. Without `pxPerMm` the paper is scaled to fit `fitWidthPx`
 * (between 3 and 6 px per mm; wider records scroll sideways).
 */
export function drawEcg(canvas: HTMLCanvasElement, data: EcgPlotData, options: EcgPlotOptions & { fitWidthPx?: number }): { width: number; height: number } {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const { panels, widthMm, heightMm } = panelsOf(data, options.layout);
  const px = options.pxPerMm ?? Math.max(3, Math.min(6, (options.fitWidthPx ?? 4 * widthMm) / widthMm));
  const width = Math.ceil(widthMm * px);
  const height = Math.ceil(heightMm * px);
  canvas.width = Math.ceil(width * dpr);
  canvas.height = Math.ceil(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  drawGrid(ctx, widthMm, heightMm, px);

  const n = data.leads.length;
  const scale = normalisers(data, options.normalisation);
  const fs = data.samplingRateHz;
  const xOf = (p: Panel, s: number) => (p.xMm + ((s - p.fromSample) / fs) * MM_PER_S) * px;
  ctx.lineJoin = 'round';
  ctx.lineCap = 'round';

  for (const p of panels) {
    const baseline = (p.yMm + p.heightMm * 0.6) * px;
    const yOf = (mv: number) => baseline - mv * MM_PER_MV * px;
    // Label and 1 mV × 200 ms calibration pulse in the margin (only before the first column).
    ctx.fillStyle = '#222';
    ctx.font = `600 ${3.2 * px}px system-ui, sans-serif`;
    if (p.xMm === LABEL_MM) {
      ctx.beginPath();
      ctx.strokeStyle = '#222';
      ctx.lineWidth = 1.2;
      const x0 = 1 * px;
      ctx.moveTo(x0, baseline);
      ctx.lineTo(x0 + 2 * px, baseline);
      ctx.lineTo(x0 + 2 * px, yOf(1));
      ctx.lineTo(x0 + 7 * px, yOf(1));
      ctx.lineTo(x0 + 7 * px, baseline);
      ctx.lineTo(x0 + 9 * px, baseline);
      ctx.stroke();
    }
    ctx.fillText(data.leads[p.lead], p.xMm * px + 1.5 * px, (p.yMm + 4) * px);
    // Zero padding after the recording: hatched, so nobody reads it as signal.
    if (p.toSample > data.recordedSamples) {
      const x0 = xOf(p, Math.max(p.fromSample, data.recordedSamples));
      ctx.fillStyle = 'rgba(120, 120, 120, 0.12)';
      ctx.fillRect(x0, p.yMm * px, xOf(p, p.toSample) - x0, p.heightMm * px);
    }
    // One path per colour bin.
    const paths: Path2D[] = Array.from({ length: 2 * LEVELS + 1 }, () => new Path2D());
    const padding = new Path2D();
    const k = p.lead;
    for (let s = p.fromSample; s < p.toSample - 1; s++) {
      if (s + 1 >= data.recordedSamples) {
        // The padding's relevance is masked in every summary: its trace is grey, never coloured.
        padding.moveTo(xOf(p, s), yOf(data.signalMv[s * n + k]));
        padding.lineTo(xOf(p, s + 1), yOf(data.signalMv[(s + 1) * n + k]));
        continue;
      }
      const r = 0.5 * (data.relevance[s * n + k] + data.relevance[(s + 1) * n + k]) * scale[k];
      const path = paths[binOf(r) + LEVELS];
      path.moveTo(xOf(p, s), yOf(data.signalMv[s * n + k]));
      path.lineTo(xOf(p, s + 1), yOf(data.signalMv[(s + 1) * n + k]));
    }
    // Draw neutral colours first so strong relevance stays on top.
    const order = [...paths.keys()].sort((a, b) => Math.abs(a - LEVELS) - Math.abs(b - LEVELS));
    for (const i of order) {
      ctx.strokeStyle = colourOfBin(i - LEVELS);
      ctx.lineWidth = i === LEVELS ? 1.1 : 1.6;
      ctx.stroke(paths[i]);
    }
    ctx.strokeStyle = PADDING_TRACE;
    ctx.lineWidth = 1.1;
    ctx.stroke(padding);
    if (options.layout === '3x4' && p.xMm > LABEL_MM) {
      // Column separator, as on clinical printouts.
      ctx.beginPath();
      ctx.strokeStyle = '#222';
      ctx.lineWidth = 1;
      ctx.moveTo(p.xMm * px, (p.yMm + p.heightMm * 0.45) * px);
      ctx.lineTo(p.xMm * px, (p.yMm + p.heightMm * 0.75) * px);
      ctx.stroke();
    }
  }
  return { width, height };
}

/**
 * A small chart canvas of `cssW` × `cssH` CSS pixels, sharp on high-density screens (device pixel ratio up to 2),
 * as wide as its container up to `maxScale` × `cssW`, cleared to white; returns its context in CSS pixels.
 */
export function prepareChartCanvas(canvas: HTMLCanvasElement, cssW: number, cssH: number, maxScale: number): CanvasRenderingContext2D {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  canvas.width = cssW * dpr;
  canvas.height = cssH * dpr;
  canvas.style.width = '100%';
  canvas.style.maxWidth = `${cssW * maxScale}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, cssW, cssH);
  return ctx;
}

/** Draws one average beat (signal coloured by relevance) into a small canvas, without paper grid. */
export function drawBeat(canvas: HTMLCanvasElement, timeS: number[], signalMv: number[], relevance: number[], relevanceScale: number, mvRange: [number, number]): void {
  const cssW = 150;
  const cssH = 110;
  const ctx = prepareChartCanvas(canvas, cssW, cssH, 1.6);
  const t0 = timeS[0];
  const t1 = timeS[timeS.length - 1];
  const [lo, hi] = mvRange;
  const x = (t: number) => 4 + ((t - t0) / (t1 - t0 || 1)) * (cssW - 8);
  const y = (v: number) => cssH - 6 - ((v - lo) / (hi - lo || 1)) * (cssH - 12);
  ctx.strokeStyle = '#ddd';
  ctx.beginPath();
  ctx.moveTo(0, y(0));
  ctx.lineTo(cssW, y(0));
  if (t0 < 0 && t1 > 0) {
    ctx.moveTo(x(0), 0);
    ctx.lineTo(x(0), cssH);
  }
  ctx.stroke();
  ctx.lineWidth = 2;
  ctx.lineCap = 'round';
  for (let i = 0; i < timeS.length - 1; i++) {
    ctx.strokeStyle = colourOfBin(binOf(0.5 * (relevance[i] + relevance[i + 1]) * relevanceScale));
    ctx.beginPath();
    ctx.moveTo(x(timeS[i]), y(signalMv[i]));
    ctx.lineTo(x(timeS[i + 1]), y(signalMv[i + 1]));
    ctx.stroke();
  }
}

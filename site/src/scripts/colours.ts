/**
 * The diverging relevance scale of Bender et al. 2023 ("Plots of single ECGs"): relevance normalised to [−1, 1],
 * positive red, negative blue, centred on zero. Zero is a neutral dark grey (not white) so the trace stays visible
 * on ECG paper. Colours are quantised into 2·LEVELS+1 bins so a lead is drawn with a few paths, not one per sample.
 */
export const LEVELS = 12;
const NEUTRAL = [96, 96, 96];
const POSITIVE = [211, 20, 20];
const NEGATIVE = [16, 88, 214];

/** Bin index in [−LEVELS, LEVELS] of a normalised value (clamped to [−1, 1]). */
export function binOf(v: number): number {
  if (!Number.isFinite(v)) return 0;
  return Math.round(Math.max(-1, Math.min(1, v)) * LEVELS);
}

/** CSS colour of a normalised value in [−1, 1]. */
export function colourOf(v: number): string {
  const t = Math.max(-1, Math.min(1, Number.isFinite(v) ? v : 0));
  const end = t >= 0 ? POSITIVE : NEGATIVE;
  const a = Math.abs(t);
  const c = NEUTRAL.map((n, i) => Math.round(n + (end[i] - n) * a));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

export function colourOfBin(bin: number): string {
  return colourOf(bin / LEVELS);
}

/** Draws the legend: a horizontal colour bar from −1 (blue) through 0 to +1 (red). */
export function drawLegend(canvas: HTMLCanvasElement): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  for (let x = 0; x < width; x++) {
    ctx.fillStyle = colourOf((x / (width - 1)) * 2 - 1);
    ctx.fillRect(x, 0, 1, height);
  }
}

/**
 * The sections of a cohort report as HTML strings with inline SVG (no script, no external resource), shared by the
 * static report of `leadlight cohort` (functions/cli/cohort-report.ts), the site's static cohort pages
 * (site/src/pages/cohorts/[name].astro) and its live cohort page (site/src/scripts/cohort-live.ts), so the three
 * render one cohort.json identically. Sections follow Bender et al. 2023 (../shared/docs/bender2023-methods.md):
 * (a) mean relevance vs probability with the threshold, coloured by TP/FP/FN/TN, captioned with Spearman's ρ and its
 * bootstrap interval, (b) per-lead box plots of M_n,k per group with the Benjamini–Hochberg adjusted one-sided
 * rank-sum p-values (★ when the adjusted p < 1e-4; the raw p and the AUC effect with its interval beside them),
 * (c) average beats per group and lead with the variance band, coloured by relevance (diverging, red positive, blue
 * negative — the scale of site/src/scripts/colours.ts), for the leads the reader picks (V1 and V6 by default; a
 * CSS-only checkbox picker, so the pages need no script), then the wave-level criteria comparison
 * (clinical-criteria.md) and a per-record table. The figures are inline SVG with role="img" and an aria-label, and
 * print (COHORT_CSS's print rules: the picked figures whole, the picker hidden). Pure ECMAScript: runs in Node, the
 * browser and at site build time. Styles: COHORT_CSS, scoped to an element with the class `cohort-report`.
 */
import { spearmanRho } from '../analysis/cohort-stats.ts';
import type { CohortOutput } from '../analysis/cohort-members.ts';
import type { AverageBeatAggregate, BoxStats } from '../analysis/cohort.ts';
import { LeadlightError } from '../errors.ts';
import { LEAD_ORDER, type LeadName } from '../record.ts';

/** The leads whose average beats a report shows until the reader picks others (Bender et al. 2023 show V1 and V6). */
export const DEFAULT_BEAT_LEADS: readonly LeadName[] = ['V1', 'V6'];

/** Choices of the renderer that cohort.json does not hold. */
export interface CohortRenderOptions {
  /** The leads whose average-beat figures are shown (checked in the picker); DEFAULT_BEAT_LEADS when not given. */
  beatLeads?: readonly LeadName[];
}

/**
 * The leads of a `--beat-leads` value (`V1,V6`, `II, aVF`): comma-separated lead names, matched regardless of
 * case, each at most once, returned in LEAD_ORDER. Throws `option_invalid` naming the valid leads for anything else.
 */
export function parseBeatLeads(text: string): LeadName[] {
  const names = text.split(',').map((n) => n.trim());
  const valid = `the leads ${LEAD_ORDER.join(', ')}`;
  if (names.every((n) => n === '')) throw new LeadlightError('option_invalid', `--beat-leads takes one or more of ${valid}, separated by commas; got "${text}".`);
  const picked = new Set<LeadName>();
  for (const name of names) {
    const lead = LEAD_ORDER.find((l) => l.toLowerCase() === name.toLowerCase());
    if (!lead) throw new LeadlightError('option_invalid', `--beat-leads: "${name}" is not a lead; give ${valid}, separated by commas (e.g. V1,V6).`);
    picked.add(lead);
  }
  return LEAD_ORDER.filter((l) => picked.has(l));
}

/** The p-value a lead test's box plot shows and marks: BH-adjusted, or the raw p of a cohort.json from before issue 16. */
export function shownLeadP(test: { pValue: number; pAdjusted?: number }): number {
  return test.pAdjusted ?? test.pValue;
}

// The diverging relevance scale of the site (site/src/scripts/colours.ts): neutral grey at 0, red +1, blue −1.
const LEVELS = 12;
const NEUTRAL = [96, 96, 96];
const POSITIVE = [211, 20, 20];
const NEGATIVE = [16, 88, 214];
const OUTCOME_STYLE: Record<string, { colour: string; name: string }> = {
  TP: { colour: '#c0392b', name: 'true positive' },
  FN: { colour: '#e67e22', name: 'false negative' },
  FP: { colour: '#8e44ad', name: 'false positive' },
  TN: { colour: '#2471a3', name: 'true negative' },
};
const GROUP_COLOURS = ['#b03a2e', '#1f618d', '#7d6608', '#117a65', '#6c3483'];
/** Columns of an average-beat figure (one per group shown), each a class of COHORT_CSS: pages allow no inline styles. */
const MAX_BEAT_COLUMNS = 8;

/**
 * The colours and layouts the renderers choose per item, as classes (the site's Content-Security-Policy allows
 * styles from its own stylesheets only, no `style` attributes): group swatches, outcome marks, beat columns.
 */
function classRules(): string {
  const groups = GROUP_COLOURS.map((c, i) => `.cohort-report .group-${i}{background:${c}}`).join('');
  const outcomes = Object.entries(OUTCOME_STYLE).map(([k, s]) => {
    const filled = k === 'TP' || k === 'FP';
    const round = k === 'TP' || k === 'FN';
    return `.cohort-report .outcome-${k}{color:${s.colour}}.cohort-report .outcome-key-${k}{border:2px solid ${s.colour};background:${filled ? s.colour : 'transparent'};border-radius:${round ? '50%' : '2px'}}`;
  }).join('');
  const columns = Array.from({ length: MAX_BEAT_COLUMNS }, (_, i) => `.cohort-report .lead-beat.cols-${i + 1}{grid-template-columns:repeat(${i + 1},minmax(0,1fr))}`).join('');
  // The lead picker of figure (c): with a picker in the section, a lead's beat figures show only while its box is
  // checked (a browser without :has() drops both rules and shows all twelve).
  const picked = `.cohort-report section:has(> .beat-picker) .lead-beat{display:none}\n${LEAD_ORDER.map((l) => `.cohort-report section:has(> .beat-picker input[value="${l}"]:checked) .lead-beat.lead-${l}`).join(',')}{display:grid}`;
  return `${groups}\n${outcomes}\n${columns}\n${picked}\n`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function colourOf(v: number): string {
  const t = Math.max(-1, Math.min(1, Number.isFinite(v) ? v : 0));
  const end = t >= 0 ? POSITIVE : NEGATIVE;
  const a = Math.abs(t);
  const c = NEUTRAL.map((n, i) => Math.round(n + (end[i] - n) * a));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** A number for display: 3 significant digits, exponent notation for very small or large magnitudes. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}

/** An axis tick: as short as possible (`1e-5`, `0.2`). */
function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(3)));
  const [mant, exp] = v.toExponential(2).split('e');
  return `${Number(mant)}e${Number(exp)}`;
}

function fmtP(p: number): string {
  return p < 1e-3 ? p.toExponential(1) : p.toFixed(3);
}

const r2 = (v: number) => Math.round(v * 100) / 100;
const r1 = (v: number) => Math.round(v * 10) / 10;

/** Spearman rank correlation (`spearmanRho`, mid-ranks as scipy); null for fewer than 3 pairs or a constant variable. */
export function spearman(x: readonly number[], y: readonly number[]): number | null {
  const n = Math.min(x.length, y.length);
  if (n < 3) return null;
  const rho = spearmanRho(x.slice(0, n), y.slice(0, n));
  return Number.isNaN(rho) ? null : rho;
}

/** Round "nice" ticks covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) as number;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function paddedRange(values: readonly number[], symmetric = false): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [-1, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (symmetric) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return [-m * 1.05, m * 1.05];
  }
  if (lo === hi) { lo -= Math.abs(lo) || 1; hi += Math.abs(hi) || 1; }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

// ---------------------------------------------------------------------------------------------------------------
// (a) scatter

/** Spearman's ρ(M_n, C_n) with its bootstrap interval (cohort.json's relevanceVsProbability), else recomputed without one. */
function rhoOf(cohort: CohortOutput): { rho: number | null; ci95: [number, number] | null; resamples: number | null; seed: number | null } {
  const r = cohort.relevanceVsProbability;
  if (r) return { rho: r.rho, ci95: r.ci95, resamples: r.resamples, seed: r.seed };
  return { rho: spearman(cohort.records.map((x) => x.probability), cohort.records.map((x) => x.meanRelevance)), ci95: null, resamples: null, seed: null };
}

/** The caption of figure (a): ρ and its interval, as text (HTML). */
function rhoText(cohort: CohortOutput): string {
  const { rho, ci95, resamples, seed } = rhoOf(cohort);
  const interval = ci95 ? `, 95 % bootstrap interval <span class="rho-ci">[${fmt(ci95[0])}, ${fmt(ci95[1])}]</span> (${resamples} resamples, seed ${seed})` : ' (no bootstrap interval in this cohort.json)';
  return `Spearman's ρ(M<sub>n</sub>, C<sub>n</sub>) = <span class="rho">${fmt(rho)}</span>${rho === null ? '' : interval} over ${cohort.records.length} ECGs.`;
}

export function scatterSvg(cohort: CohortOutput): string {
  const W = 480;
  const H = 340;
  const m = { l: 62, r: 12, t: 16, b: 46 };
  const pts = cohort.scatter.points;
  const [ylo, yhi] = paddedRange([...pts.map((p) => p.meanRelevance), 0]);
  const x = (p: number) => m.l + p * (W - m.l - m.r);
  const y = (v: number) => m.t + (1 - (v - ylo) / (yhi - ylo)) * (H - m.t - m.b);
  const parts: string[] = [];
  const { rho, ci95 } = rhoOf(cohort);
  const rhoLabel = rho === null ? '' : `; Spearman's rho ${fmt(rho)}${ci95 ? ` (95 % interval ${fmt(ci95[0])} to ${fmt(ci95[1])})` : ''}`;
  const counts = (['TP', 'FN', 'FP', 'TN'] as const).map((k) => `${cohort.outcomes[k]} ${OUTCOME_STYLE[k].name}`).join(', ');
  parts.push(`<svg viewBox="0 0 ${W} ${H}" class="big-text" role="img" aria-label="Mean relevance against probability of ${escapeHtml(cohort.class)}, one point per ECG coloured by outcome (${counts})${rhoLabel}">`);
  for (const t of ticks(ylo, yhi)) parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${r2(y(t))}" y2="${r2(y(t))}" class="grid"/><text x="${m.l - 6}" y="${r2(y(t)) + 4}" text-anchor="end">${fmtTick(t)}</text>`);
  for (const t of ticks(0, 1)) parts.push(`<line x1="${r2(x(t))}" x2="${r2(x(t))}" y1="${m.t}" y2="${H - m.b}" class="grid"/><text x="${r2(x(t))}" y="${H - m.b + 16}" text-anchor="middle">${fmtTick(t)}</text>`);
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${r2(y(0))}" y2="${r2(y(0))}" class="zero"/>`);
  parts.push(`<line x1="${r2(x(cohort.threshold))}" x2="${r2(x(cohort.threshold))}" y1="${m.t}" y2="${H - m.b}" class="threshold"/>`);
  parts.push(`<text x="${r2(x(cohort.threshold)) + 4}" y="${m.t + 12}" class="small">threshold ${fmt(cohort.threshold)}</text>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">probability of ${escapeHtml(cohort.class)} (C<tspan baseline-shift="sub" font-size="9">n</tspan>)</text>`);
  parts.push(`<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">mean relevance M<tspan baseline-shift="sub" font-size="9">n</tspan></text>`);
  for (const p of pts) {
    const cx = r2(x(Math.max(0, Math.min(1, p.probability))));
    const cy = r2(y(p.meanRelevance));
    const s = OUTCOME_STYLE[p.outcome];
    const title = `<title>${escapeHtml(p.path)} (${escapeHtml(p.label)}): ${p.outcome}, p = ${fmt(p.probability)}, M = ${fmt(p.meanRelevance)}</title>`;
    const shape = p.outcome === 'TP' || p.outcome === 'FN'
      ? `<circle cx="${cx}" cy="${cy}" r="5.5" fill="${p.outcome === 'TP' ? s.colour : 'none'}" stroke="${s.colour}" stroke-width="2">${title}</circle>`
      : `<rect x="${cx - 5}" y="${cy - 5}" width="10" height="10" fill="${p.outcome === 'FP' ? s.colour : 'none'}" stroke="${s.colour}" stroke-width="2">${title}</rect>`;
    parts.push(shape);
  }
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------------------
// (b) lead box plots

export function boxPlotCards(cohort: CohortOutput): string {
  const labels = [cohort.groups.positive, cohort.groups.control, ...Object.keys(cohort.leadBoxPlots).filter((l) => l !== cohort.groups.positive && l !== cohort.groups.control)];
  const all: number[] = [];
  for (const label of labels) for (const lead of LEAD_ORDER) {
    const b = cohort.leadBoxPlots[label]?.[lead];
    if (b) all.push(b.whiskerLow, b.whiskerHigh);
  }
  // The axis covers the whiskers of all leads (so one extreme ECG does not flatten every box); outliers beyond it
  // are drawn as triangles at the edge.
  const [lo, hi] = paddedRange([...all, 0]);
  const W = 120;
  const H = 200;
  const top = 8;
  const bottom = 192;
  const y = (v: number) => top + (1 - (v - lo) / (hi - lo)) * (bottom - top);
  const slot = (W - 12) / labels.length;
  const cards: string[] = [];
  for (const lead of LEAD_ORDER) {
    const test = cohort.leadTests.find((t) => t.lead === lead);
    const shownP = test ? shownLeadP(test) : null;
    const adjusted = test?.pAdjusted !== undefined;
    const significant = shownP !== null && shownP < cohort.significanceLevel;
    const pLabel = test ? `; ${adjusted ? 'adjusted ' : ''}p = ${fmtP(shownP as number)}${significant ? ', significant' : ''}` : '';
    const svg: string[] = [`<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Lead ${lead}: lead relevance per group as box plots${pLabel}">`];
    svg.push(`<line x1="4" x2="${W - 4}" y1="${r2(y(0))}" y2="${r2(y(0))}" class="zero"/>`);
    labels.forEach((label, i) => {
      const b = cohort.leadBoxPlots[label]?.[lead] as BoxStats | null | undefined;
      if (!b) return;
      const colour = GROUP_COLOURS[i % GROUP_COLOURS.length];
      const cx = 6 + slot * (i + 0.5);
      const half = Math.min(18, slot * 0.32);
      svg.push(`<g stroke="${colour}" fill="none" stroke-width="1.5"><title>${escapeHtml(label)}, lead ${lead}: n = ${b.n}, median ${fmt(b.median)}, IQR ${fmt(b.q1)} – ${fmt(b.q3)}</title>`);
      svg.push(`<line x1="${r2(cx)}" x2="${r2(cx)}" y1="${r2(y(b.whiskerHigh))}" y2="${r2(y(b.q3))}"/><line x1="${r2(cx)}" x2="${r2(cx)}" y1="${r2(y(b.q1))}" y2="${r2(y(b.whiskerLow))}"/>`);
      svg.push(`<line x1="${r2(cx - half / 2)}" x2="${r2(cx + half / 2)}" y1="${r2(y(b.whiskerHigh))}" y2="${r2(y(b.whiskerHigh))}"/><line x1="${r2(cx - half / 2)}" x2="${r2(cx + half / 2)}" y1="${r2(y(b.whiskerLow))}" y2="${r2(y(b.whiskerLow))}"/>`);
      svg.push(`<rect x="${r2(cx - half)}" y="${r2(y(b.q3))}" width="${r2(2 * half)}" height="${r2(Math.max(0.5, y(b.q1) - y(b.q3)))}" fill="${colour}" fill-opacity="0.18"/>`);
      svg.push(`<line x1="${r2(cx - half)}" x2="${r2(cx + half)}" y1="${r2(y(b.median))}" y2="${r2(y(b.median))}" stroke-width="2.5"/>`);
      for (const o of b.outliers) {
        if (o > hi) svg.push(`<path d="M${r2(cx - 3.5)},${top + 5}L${r2(cx)},${top - 1}L${r2(cx + 3.5)},${top + 5}Z" fill="${colour}"><title>${fmt(o)} (beyond the axis)</title></path>`);
        else if (o < lo) svg.push(`<path d="M${r2(cx - 3.5)},${bottom - 5}L${r2(cx)},${bottom + 1}L${r2(cx + 3.5)},${bottom - 5}Z" fill="${colour}"><title>${fmt(o)} (beyond the axis)</title></path>`);
        else svg.push(`<circle cx="${r2(cx)}" cy="${r2(y(o))}" r="2.2"/>`);
      }
      svg.push('</g>');
    });
    svg.push('</svg>');
    const level = fmtTick(cohort.significanceLevel);
    const mark = significant ? `<span class="star" title="${adjusted ? 'adjusted ' : ''}p &lt; ${level}">★</span>` : '';
    let pText = '<div class="p">no test</div>';
    if (test && adjusted) {
      const title = `one-sided rank-sum p = ${fmtP(test.pValue)}, Benjamini–Hochberg adjusted over the ${cohort.leadTests.length} leads: ${fmtP(shownP as number)}`;
      pText = `<div class="p" title="${escapeHtml(title)}">p<sub>adj</sub> = ${fmtP(shownP as number)}</div><div class="p-raw">raw p = ${fmtP(test.pValue)}</div>`;
    } else if (test) {
      pText = `<div class="p" title="one-sided rank-sum p (this cohort.json has no adjusted p)">p = ${fmtP(test.pValue)}</div>`;
    }
    const effect = test?.effect ? `<div class="effect" title="AUC = U / (n_A n_B) with its 95 % bootstrap percentile interval">AUC ${fmtEffect(test.effect)}</div>` : '';
    cards.push(`<figure class="lead-box${significant ? ' significant' : ''}"><figcaption><b>${lead}</b> ${mark}</figcaption>${svg.join('')}${pText}${effect}</figure>`);
  }
  const anyAdjusted = cohort.leadTests.some((t) => t.pAdjusted !== undefined);
  const legend = labels.map((l, i) => `<span class="key"><span class="swatch group-${i % GROUP_COLOURS.length}"></span>${escapeHtml(l)} (n = ${cohort.records.filter((r) => r.label === l).length})</span>`).join(' ');
  return `<p class="legend">${legend} · shared y-axis from ${fmt(lo)} to ${fmt(hi)} (▲▼ outliers beyond it); grey line = 0 · ★ ${anyAdjusted ? 'Benjamini–Hochberg adjusted p' : 'p'} &lt; ${fmtTick(cohort.significanceLevel)}${anyAdjusted ? ' · under each plot: adjusted p, raw p, AUC [95 % CI]' : ''}</p><div class="box-grid">${cards.join('')}</div>`;
}

/** AUC with its interval, e.g. `0.91 [0.78, 1]` (issue 16's effect of a rank-sum contrast). */
function fmtEffect(effect: { auc: number; ci95: [number, number] } | undefined): string {
  return effect ? `${fmt(effect.auc)} [${fmt(effect.ci95[0])}, ${fmt(effect.ci95[1])}]` : '—';
}

export function leadTestTable(cohort: CohortOutput): string {
  if (cohort.leadTests.length === 0) return '<p>No lead tests: one of the groups has no usable record.</p>';
  // Issue 16: the BH-adjusted p-value and the AUC effect, when the cohort carries them (older cohort.json files do not).
  const extra = cohort.leadTests.some((t) => t.pAdjusted !== undefined);
  const extraCells = (t: CohortOutput['leadTests'][number]) => (extra ? `<td>${t.pAdjusted === undefined ? '—' : fmtP(t.pAdjusted)}</td><td>${fmtEffect(t.effect)}</td>` : '');
  const marked = (t: CohortOutput['leadTests'][number]) => shownLeadP(t) < cohort.significanceLevel;
  const rows = cohort.leadTests.map((t) => `<tr${marked(t) ? ' class="significant"' : ''}><td>${t.lead}</td><td>${fmt(t.statistic, 6)}</td><td>${fmtP(t.pValue)}</td>${extraCells(t)}<td>${t.method}</td><td>${t.nA} / ${t.nB}</td><td>${marked(t) ? '★ yes' : 'no'}</td></tr>`).join('');
  const extraHeads = extra ? '<th>p adjusted (BH over the 12 leads)</th><th>AUC [95 % CI]</th>' : '';
  return `<div class="scroll"><table><thead><tr><th>lead</th><th>W</th><th>p (one-sided, ${escapeHtml(cohort.groups.positive)} &gt; ${escapeHtml(cohort.groups.control)})</th>${extraHeads}<th>method</th><th>n</th><th>${extra ? 'adjusted p' : 'p'} &lt; ${fmtTick(cohort.significanceLevel)}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** Wave-level tests (issue 16): per wave and lead the rank-sum test of the summed wave relevance, BH per wave. */
export function waveTestSection(cohort: CohortOutput): string {
  const tests = cohort.waveTests;
  if (!tests || tests.length === 0) return '';
  const name = { p: 'P', qrs: 'QRS', st: 'ST', t: 'T' } as const;
  const rows = tests.map((t) => `<tr${t.pAdjusted < cohort.significanceLevel ? ' class="significant"' : ''}><td>${name[t.wave]}</td><td>${t.lead}</td><td>${fmtP(t.pValue)}</td><td>${fmtP(t.pAdjusted)}</td><td>${fmtEffect(t.effect)}</td><td>${t.nA} / ${t.nB}</td></tr>`).join('');
  return `<section id="wave-tests"><h2>Wave-level tests</h2>
<p class="note">Relevance summed over the P, QRS, ST and T windows of each lead, one-sided rank-sum test ${escapeHtml(cohort.groups.positive)} &gt; ${escapeHtml(cohort.groups.control)} as for the leads, p adjusted by Benjamini–Hochberg over the 12 leads of each wave; AUC = U / (n<sub>A</sub> n<sub>B</sub>) with a 2000-resample bootstrap percentile interval. ECGs without a window of a wave are left out of its tests.</p>
<details><summary>${tests.length} tests</summary><div class="scroll"><table><thead><tr><th>wave</th><th>lead</th><th>p</th><th>p adjusted</th><th>AUC [95 % CI]</th><th>n</th></tr></thead><tbody>${rows}</tbody></table></div></details></section>`;
}

// ---------------------------------------------------------------------------------------------------------------
// (c) average beats

/**
 * The beat drawn in colour bins: one `<path>` per bin holding every run of samples in that bin (adjacent runs share
 * their end points), coordinates to 0.1 viewBox units — a tenth of a screen pixel at the panels' size — so the 24
 * beat panels of a cohort stay a few hundred kB.
 */
function colouredTrace(xs: number[], ys: number[], relevance: number[]): string {
  const runs = new Map<number, string[]>();
  let start = 0;
  const bin = (i: number) => Math.round(Math.max(-1, Math.min(1, relevance[i] ?? 0)) * LEVELS);
  for (let i = 1; i <= xs.length; i++) {
    if (i === xs.length || bin(i) !== bin(start)) {
      const end = Math.min(i, xs.length - 1);
      const pts: string[] = [];
      for (let k = start; k <= end; k++) pts.push(`${r1(xs[k])} ${r1(ys[k])}`);
      if (pts.length === 1) pts.push(pts[0]);
      const b = bin(start);
      if (!runs.has(b)) runs.set(b, []);
      (runs.get(b) as string[]).push(`M${pts.join('L')}`);
      start = i;
    }
  }
  const out = [...runs].map(([b, d]) => `<path d="${d.join('')}" stroke="${colourOf(b / LEVELS)}"/>`);
  return `<g class="trace" fill="none" stroke-width="1.6" stroke-linejoin="round" stroke-linecap="round">${out.join('')}</g>`;
}

function beatSvg(beat: AverageBeatAggregate, label: string, lead: string, range: [number, number], timeRange: [number, number]): string {
  const W = 220;
  const H = 150;
  const m = { l: 4, r: 4, t: 4, b: 18 };
  const [t0, t1] = timeRange;
  const [lo, hi] = range;
  const x = (t: number) => m.l + ((t - t0) / (t1 - t0 || 1)) * (W - m.l - m.r);
  const y = (v: number) => m.t + (1 - (Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo)) * (H - m.t - m.b);
  const xs = beat.timeS.map(x);
  const sd = beat.variance.map((v) => Math.sqrt(Math.max(0, v)));
  const upper = beat.signal.map((s, i) => `${r1(xs[i])},${r1(y(s + sd[i]))}`);
  const lower = beat.signal.map((s, i) => `${r1(xs[i])},${r1(y(s - sd[i]))}`).reverse();
  const parts = [`<svg viewBox="0 0 ${W} ${H}" class="beat-svg" role="img" aria-label="Average beat of ${escapeHtml(label)}, lead ${lead}">`];
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${r2(y(0))}" y2="${r2(y(0))}" class="zero"/>`);
  if (t0 <= 0 && t1 >= 0) parts.push(`<line x1="${r2(x(0))}" x2="${r2(x(0))}" y1="${m.t}" y2="${H - m.b}" class="grid"/>`);
  parts.push(`<polygon points="${upper.join(' ')} ${lower.join(' ')}" class="band"/>`);
  parts.push(colouredTrace(xs, beat.signal.map(y), beat.relevance));
  parts.push(`<text x="${m.l}" y="${H - 3}" class="small">${fmt(t0)} s</text><text x="${W - m.r}" y="${H - 3}" text-anchor="end" class="small">${fmt(t1)} s</text>`);
  parts.push('</svg>');
  return parts.join('');
}

export function beatSection(beats: CohortOutput['averageBeats'], labels: string[], note: string): string {
  const present = labels.filter((l) => beats[l]);
  if (present.length === 0) return '<p>No average beats: no record had at least two R-peaks in the model input.</p>';
  // One y-axis for all panels: the joint [−1, 1] scale of the mean beats plus a margin; the variance band is clipped.
  let peak = 0;
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const l of present) for (const lead of LEAD_ORDER) {
    const b = beats[l][lead];
    for (const v of b.signal) peak = Math.max(peak, Math.abs(v));
    t0 = Math.min(t0, b.timeS[0]);
    t1 = Math.max(t1, b.timeS[b.timeS.length - 1]);
  }
  const hi = (peak || 1) * 1.15;
  const lo = -hi;
  const cards = LEAD_ORDER.map((lead) => {
    const panels = present.map((l) => `<div class="beat"><div class="beat-label">${escapeHtml(l)} <span class="muted">(${beats[l][lead].records} ECGs)</span></div>${beatSvg(beats[l][lead], l, lead, [lo, hi], [t0, t1])}</div>`).join('');
    return `<figure class="lead-beat lead-${lead} cols-${Math.min(Math.max(present.length, 1), MAX_BEAT_COLUMNS)}" data-lead="${lead}"><figcaption><b>${lead}</b></figcaption>${panels}</figure>`;
  }).join('');
  return `<p class="note">${note}</p><div class="beat-grid">${cards}</div>`;
}

/**
 * The lead picker of figure (c): one checkbox per lead, the given leads checked. COHORT_CSS shows the beat figures
 * of the checked leads only (`:has()`, no script); a browser without `:has()` shows all twelve.
 */
export function beatLeadPicker(picked: readonly LeadName[]): string {
  const boxes = LEAD_ORDER.map((lead) => `<label><input type="checkbox" name="beat-lead" value="${lead}"${picked.includes(lead) ? ' checked' : ''}> ${lead}</label>`).join('');
  return `<fieldset class="beat-picker"><legend>Leads shown</legend>${boxes}</fieldset>`;
}

export function colourBar(): string {
  const stops = Array.from({ length: 2 * LEVELS + 1 }, (_, i) => `<stop offset="${r2((i / (2 * LEVELS)) * 100)}%" stop-color="${colourOf(i / LEVELS - 1)}"/>`).join('');
  return `<span class="colourbar"><span>−1</span><svg viewBox="0 0 120 10" width="120" height="10" aria-hidden="true"><defs><linearGradient id="rel">${stops}</linearGradient></defs><rect width="120" height="10" fill="url(#rel)"/></svg><span>+1</span></span>`;
}

// ---------------------------------------------------------------------------------------------------------------
// criteria and records

export function criteriaSection(cohort: CohortOutput): string {
  const c = cohort.criteria;
  if (c.findings.length === 0) return `<p>No textbook criteria are encoded for the class ${escapeHtml(cohort.class)}, so the relevance is not compared with criteria.</p>`;
  const labels = [...new Set(cohort.records.map((r) => r.label))];
  const rows = c.findings.map((f) => {
    const cells = labels.map((l) => {
      const n = f.byLabel[l];
      if (!n) return '<td>–</td>';
      const applicable = n.agrees + n.disagrees;
      const waves = n.waves > 0 ? `<br><span class="muted">${n.waves} waves, Σ relevance ${fmt(n.relevanceSum)}</span>` : '';
      return `<td><b>${n.agrees} / ${applicable}</b> agree${n.notApplicable ? `<br><span class="muted">${n.notApplicable} not applicable</span>` : ''}${waves}</td>`;
    }).join('');
    return `<tr><td>${escapeHtml(f.criterion)}</td>${cells}</tr>`;
  }).join('');
  return `<div class="scroll"><table><thead><tr><th>criterion (relevance for ${escapeHtml(cohort.class)})</th>${labels.map((l) => `<th>${escapeHtml(l)}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function recordTable(cohort: CohortOutput): string {
  const details = new Map(cohort.details.map((d) => [d.path, d]));
  const ids = cohort.criteria.findings.map((f) => f.id);
  const rows = cohort.records.map((r) => {
    const d = details.get(r.path);
    const top = [...LEAD_ORDER].sort((a, b) => r.leadRelevance[b] - r.leadRelevance[a]).slice(0, 3).join(', ');
    const crit = ids.map((id) => {
      const a = d?.criteria[id];
      return `<td>${a === true ? 'agrees' : a === false ? 'disagrees' : 'n/a'}</td>`;
    }).join('');
    return `<tr><td class="path">${escapeHtml(r.path)}</td><td>${escapeHtml(r.label)}</td><td>${fmt(r.probability)}</td><td><span class="outcome outcome-${r.outcome}">${r.outcome}</span></td><td>${fmt(r.meanRelevance)}</td><td>${top}</td><td>${d?.heartRateBpm == null ? '–' : Math.round(d.heartRateBpm)}</td>${crit}</tr>`;
  }).join('');
  const critHeads = cohort.criteria.findings.map((f) => `<th title="${escapeHtml(f.criterion)}">${escapeHtml(f.id)}</th>`).join('');
  return `<div class="scroll"><table class="records"><thead><tr><th>ECG</th><th>label</th><th>p(${escapeHtml(cohort.class)})</th><th>outcome</th><th>M<sub>n</sub></th><th>most relevant leads</th><th>HR bpm</th>${critHeads}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function errorTable(cohort: CohortOutput): string {
  if (cohort.errors.length === 0) return '';
  const rows = cohort.errors.map((e) => `<tr><td class="path">${escapeHtml(e.path)}</td><td>${escapeHtml(e.label)}</td><td><code>${escapeHtml(e.code)}</code></td><td>${escapeHtml(e.message)}</td></tr>`).join('');
  return `<section id="errors"><h2>ECGs that could not be analysed (${cohort.errors.length})</h2><div class="scroll"><table><thead><tr><th>ECG</th><th>label</th><th>code</th><th>message</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

/** Styles of the sections, scoped to `.cohort-report` so a site page's own styles are untouched. */
export const COHORT_CSS = `
.cohort-report{--cr-muted:#666;--cr-line:#ddd}
.cohort-report h2{font-size:1.2rem;margin-top:1.8em;border-bottom:1px solid var(--cr-line);padding-bottom:.2em}
.cohort-report .muted,.cohort-report .note{color:var(--cr-muted)}.cohort-report .note{font-size:.9rem}
.cohort-report svg{display:block;width:100%;height:auto;font-size:11px;fill:#333}.cohort-report svg text.small{font-size:9px}.cohort-report svg.big-text{font-size:14px}.cohort-report svg.big-text text.small{font-size:12px}
.cohort-report .grid{stroke:#eee;stroke-width:1}.cohort-report .zero{stroke:#aaa;stroke-width:1}.cohort-report .threshold{stroke:#333;stroke-width:1.5;stroke-dasharray:6 4}
.cohort-report .band{fill:#999;fill-opacity:.22;stroke:none}
.cohort-report .scatter{max-width:640px;margin:0}.cohort-report .scatter figcaption{font-size:.9rem;margin-top:4px}
.cohort-report .stats{display:flex;flex-wrap:wrap;gap:8px;padding:0;list-style:none}.cohort-report .stats li{border:1px solid var(--cr-line);border-radius:6px;padding:4px 10px}
.cohort-report .legend{display:block}.cohort-report .legend .key{white-space:nowrap;margin-right:10px}.cohort-report .swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.cohort-report .box-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(104px,1fr));gap:6px}
.cohort-report .lead-box{margin:0;border:1px solid var(--cr-line);border-radius:6px;padding:4px}.cohort-report .lead-box.significant{border-color:#b03a2e;box-shadow:inset 0 0 0 1px #b03a2e}
.cohort-report .box-grid+.scroll{margin-top:12px}.cohort-report .lead-box figcaption{text-align:center}.cohort-report .lead-box .p{text-align:center;font-size:.8rem}.cohort-report .star{color:#b03a2e}
.cohort-report .lead-box .p-raw,.cohort-report .lead-box .effect{text-align:center;font-size:.72rem;color:var(--cr-muted)}
.cohort-report .beat-picker{border:1px solid var(--cr-line);border-radius:6px;margin:8px 0;padding:4px 8px;display:flex;flex-wrap:wrap;gap:2px 12px}.cohort-report .beat-picker legend{font-size:.85rem;color:var(--cr-muted);padding:0 4px}.cohort-report .beat-picker label{white-space:nowrap;font-size:.9rem;cursor:pointer}
.cohort-report .beat-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr));gap:10px}.cohort-report svg.beat-svg text.small{font-size:12px}
.cohort-report .lead-beat{margin:0;border:1px solid var(--cr-line);border-radius:6px;padding:6px;display:grid;gap:6px}
.cohort-report .lead-beat figcaption{grid-column:1/-1}.cohort-report .beat-label{font-size:.8rem}
.cohort-report .colourbar{display:inline-flex;align-items:center;gap:4px;vertical-align:middle}.cohort-report .colourbar svg{width:120px}
.cohort-report .scroll{overflow-x:auto}.cohort-report table{border-collapse:collapse;font-size:.88rem;width:auto}.cohort-report th,.cohort-report td{border-bottom:1px solid var(--cr-line);padding:4px 8px;text-align:left;vertical-align:top}
.cohort-report tr.significant td{font-weight:600}.cohort-report td.path{word-break:break-all;max-width:28em}.cohort-report .outcome{font-weight:700}
.cohort-report code{font-size:.85em}
${classRules()}@media (max-width:480px){.cohort-report table{font-size:.8rem}}
@media print{.cohort-report *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.cohort-report figure,.cohort-report svg,.cohort-report tr,.cohort-report .legend,.cohort-report .box-grid{break-inside:avoid;page-break-inside:avoid}.cohort-report .scroll{overflow:visible}.cohort-report h2,.cohort-report .note{break-after:avoid;page-break-after:avoid}
.cohort-report svg{max-width:100%;overflow:hidden}.cohort-report .scatter{max-width:15cm}
.cohort-report .beat-picker{display:none}.cohort-report .beat-grid{grid-template-columns:repeat(2,minmax(0,1fr))}.cohort-report .box-grid{grid-template-columns:repeat(6,minmax(0,1fr))}}
`;

/** The report's title: groups, model, method and class. */
export function cohortTitle(cohort: CohortOutput): string {
  return `${cohort.groups.positive} vs ${cohort.groups.control}: ${cohort.model.id}, ${cohort.method}, class ${cohort.class}`;
}

/** The summary under the title: counts, model, method, threshold, outcome counts, sensitivity, specificity, ρ. */
export function renderCohortSummary(cohort: CohortOutput): string {
  const o = cohort.outcomes;
  const positives = o.TP + o.FN;
  const negatives = o.FP + o.TN;
  const sensitivity = positives > 0 ? o.TP / positives : null;
  const specificity = negatives > 0 ? o.TN / negatives : null;
  const { rho } = rhoOf(cohort);
  const adjusted = cohort.leadTests.some((t) => t.pAdjusted !== undefined);
  const significant = cohort.leadTests.filter((t) => shownLeadP(t) < cohort.significanceLevel).map((t) => t.lead);
  const steps = cohort.steps === null ? (cohort.method === 'ig' ? 'default mode' : 'n/a') : `${cohort.steps} steps`;
  return `<p class="muted">${cohort.records.length} ECGs analysed${cohort.errors.length ? `, ${cohort.errors.length} could not be analysed` : ''} · model ${escapeHtml(cohort.model.id)} · attribution ${escapeHtml(cohort.method)} (${steps}) of the ${escapeHtml(cohort.class)} logit · threshold ${fmt(cohort.threshold)} · analyses after Bender et al. 2023 (IEEE JBHI).</p>
<ul class="stats"><li>TP ${o.TP}</li><li>FN ${o.FN}</li><li>FP ${o.FP}</li><li>TN ${o.TN}</li><li>sensitivity ${fmt(sensitivity)}</li><li>specificity ${fmt(specificity)}</li><li>Spearman ρ(M<sub>n</sub>, C<sub>n</sub>) ${fmt(rho)}${cohort.relevanceVsProbability?.ci95 ? ` [95 % CI ${fmt(cohort.relevanceVsProbability.ci95[0])}, ${fmt(cohort.relevanceVsProbability.ci95[1])}]` : ''}</li><li>leads with ${adjusted ? 'adjusted ' : ''}p &lt; ${fmtTick(cohort.significanceLevel)}: ${significant.length ? significant.join(', ') : 'none'}</li></ul>`;
}

/**
 * All sections of the report in order — (a) scatter, (b) lead box plots and tests, (c) average beats, criteria,
 * records, errors and warnings — as one HTML string for an element with the class `cohort-report`.
 */
export function renderCohortSections(cohort: CohortOutput, options: CohortRenderOptions = {}): string {
  const beatLeads = options.beatLeads ?? DEFAULT_BEAT_LEADS;
  const o = cohort.outcomes;
  const labels = [cohort.groups.positive, cohort.groups.control, ...[...new Set(cohort.records.map((r) => r.label))].filter((l) => l !== cohort.groups.positive && l !== cohort.groups.control)];
  const outcomeKeys = (['TP', 'FN', 'FP', 'TN'] as const).map((k) => {
    return `<span class="key"><span class="swatch outcome-key-${k}"></span>${k} ${OUTCOME_STYLE[k].name} (${o[k]})</span>`;
  }).join(' ');
  const warnings = cohort.warnings.length
    ? `<section id="warnings"><h2>Warnings</h2><ul>${cohort.warnings.map((w) => `<li><code>${escapeHtml(w.code)}</code> ${escapeHtml(w.message)}</li>`).join('')}</ul></section>`
    : '';
  return `<section id="scatter"><h2>(a) Mean relevance vs probability</h2>
<p class="note">One point per ECG: the probability C<sub>n</sub> of ${escapeHtml(cohort.class)} against the mean relevance M<sub>n</sub> over all samples and leads of the model input. The dashed line is the decision threshold; ${escapeHtml(cohort.groups.positive)} ECGs are circles, the others squares.</p>
<p class="legend">${outcomeKeys}</p>
<figure class="scatter">${scatterSvg(cohort)}<figcaption>${rhoText(cohort)}</figcaption></figure></section>
<section id="leads"><h2>(b) Relevance per lead</h2>
<p class="note">Box plots of the lead relevance M<sub>n,k</sub> (mean over the samples of lead k) per group; one-sided Wilcoxon rank-sum test ${escapeHtml(cohort.groups.positive)} &gt; ${escapeHtml(cohort.groups.control)} per lead as R's <code>wilcox.test(alternative = "greater")</code>${cohort.leadTests.some((t) => t.pAdjusted !== undefined) ? ', p adjusted by Benjamini–Hochberg over the 12 leads; ★ marks an adjusted p' : '; ★ marks p'} &lt; ${fmtTick(cohort.significanceLevel)} (the paper's level).</p>
${boxPlotCards(cohort)}
${leadTestTable(cohort)}</section>
<section id="beats"><h2>(c) Average beats</h2>
<p class="legend">Trace coloured by mean relevance ${colourBar()} (red: evidence for ${escapeHtml(cohort.class)}, blue: against) · grey band: ± one standard deviation across ECGs · the groups side by side on one [−1, 1] scale · tick the leads to show (${DEFAULT_BEAT_LEADS.join(' and ')} as in the paper unless chosen otherwise).</p>
${beatLeadPicker(beatLeads)}
${beatSection(cohort.averageBeats, labels, "Centre-aligned as the paper: each ECG's average beat over the paper's heart-rate-dependent window, normalised per ECG, averaged per sample across ECGs.")}
<details><summary>R-peak aligned average beats (−0.4 s to +0.6 s around the R-peak)</summary>
${beatSection(cohort.averageBeatsRAligned, labels, 'Each ECG\'s average beat in a fixed window around its R-peaks, aligned at the R-peak (t = 0), then averaged as above.')}
</details></section>
<section id="criteria"><h2>Wave-level criteria</h2>
<p class="note">Per ECG, the relevance of its P-waves, QRS complexes and T-waves is compared with the textbook criteria of ${escapeHtml(cohort.class)} (Bender et al. 2023 found negative relevance on visible P-waves for AF and on concordant T-waves for LBBB). The table counts the ECGs whose relevance agrees with each criterion.</p>
${criteriaSection(cohort)}</section>
${waveTestSection(cohort)}
${trustSection(cohort)}
<section id="records"><h2>Records</h2>
${recordTable(cohort)}</section>
${errorTable(cohort)}
${warnings}`;
}

/**
 * Issue 16, items 2 and 3: the cohort's trust checks, when `leadlight cohort --methods/--sanity` computed them —
 * method agreement per method pair (mean/median over the records of Spearman's ρ; Storås et al., JAMIA 2025) and the
 * cascading-randomisation sanity check per method and step (Adebayo et al., NeurIPS 2018, §3.1). Empty otherwise.
 */
export function trustSection(cohort: CohortOutput): string {
  const parts: string[] = [];
  const centre = (c: { mean: number | null; median: number | null }) => `${fmt(c.mean)} / ${fmt(c.median)}`;
  if (cohort.methodAgreement) {
    const rows = cohort.methodAgreement.pairs.map((p) => `<tr><td>${escapeHtml(p.a)}</td><td>${escapeHtml(p.b)}</td><td>${p.n}</td><td>${centre(p.map)}</td><td>${centre(p.absMap)}</td><td>${centre(p.leads)}</td></tr>`).join('');
    parts.push(`<h3>Method agreement</h3><p class="note">Spearman's ρ between the methods' maps per record (signed, |relevance|, the 12 lead relevances), mean / median over the records; each record's values are in cohort.json (<code>records[].methodAgreement</code>).</p>
<table><thead><tr><th>method A</th><th>method B</th><th>records</th><th>ρ map</th><th>ρ |map|</th><th>ρ leads</th></tr></thead><tbody>${rows}</tbody></table>`);
  }
  if (cohort.sanity) {
    const s = cohort.sanity;
    const tables = s.methods.map((m) => `<table><caption>${escapeHtml(m.method)}</caption><thead><tr><th>step</th><th>randomised down to</th><th>records</th><th>ρ(|R|) mean / median</th><th>SSIM mean / median</th></tr></thead><tbody>${m.cascadeSteps.map((step, k) => `<tr><td>${k + 1}</td><td>${escapeHtml(step.layer)} (${step.layersRandomised} layers)</td><td>${step.n}</td><td>${centre(step.spearmanAbs)}</td><td>${centre(step.ssim)}</td></tr>`).join('')}</tbody></table>`).join('');
    parts.push(`<h3>Sanity check by model randomisation</h3><p class="note">Cascading randomisation (Adebayo et al. 2018): ${escapeHtml(s.cascade)}; seed ${s.seed}; on ${s.records.length} record${s.records.length === 1 ? '' : 's'} (${s.records.map(escapeHtml).join(', ')}). A method that passes falls far below 1.</p>${tables}`);
  }
  return parts.length ? `<section id="trust"><h2>Trust in the explanation</h2>${parts.join('\n')}</section>` : '';
}

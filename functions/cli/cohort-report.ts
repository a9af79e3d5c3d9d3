/**
 * The static aggregate report of a cohort (DIR/index.html of `leadlight cohort`, contract.md "Cohorts"): one
 * self-contained HTML file with inline SVG, no script and no external resource, so it works from file:// and any
 * static host, at phone and desktop widths and on paper. The sections (Bender et al. 2023 analyses (a), (b), (c),
 * criteria, records) come from functions/core/render/cohort-html.ts, which the site's cohort pages use too; this
 * file adds only the page around them, and the leads whose average beats are shown first (`--beat-leads`).
 */
import { writeFileSync } from 'node:fs';
import type { CohortOutput } from '../core/analysis/cohort-members.ts';
import { COHORT_CSS, type CohortRenderOptions, cohortTitle, escapeHtml, renderCohortSections, renderCohortSummary } from '../core/render/cohort-html.ts';

export { escapeHtml, spearman } from '../core/render/cohort-html.ts';

/** The page around the sections (the site's pages have their own layout). */
const PAGE_CSS = `
:root{color-scheme:light;--ink:#1c1c1c;--muted:#666;--line:#ddd;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink)}
body{margin:0 auto;max-width:1400px;padding:12px 16px 40px;line-height:1.45}
h1{font-size:1.5rem;margin:.4em 0}
@media (max-width:480px){body{padding:8px}h1{font-size:1.2rem}}
@media print{body{max-width:none;padding:0}}
`;

/** The report's HTML for a cohort.json produced by `leadlight cohort`; `options.beatLeads`: the beat figures shown first. */
export function renderCohortReport(cohort: CohortOutput, options: CohortRenderOptions = {}): string {
  const title = cohortTitle(cohort);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Leadlight cohort — ${escapeHtml(title)}</title><style>${PAGE_CSS}${COHORT_CSS}</style></head>
<body class="cohort-report">
<header><h1>Leadlight cohort: ${escapeHtml(title)}</h1>
${renderCohortSummary(cohort)}
</header>
<main>
${renderCohortSections(cohort, options)}
</main>
<footer><p class="muted">Written by <code>leadlight cohort</code>; the data is in cohort.json beside this file. Relevance explains this model's output, not the patient's diagnosis.</p></footer>
</body></html>
`;
}

/** Writes the report to `path` (DIR/index.html). */
export function writeCohortReport(path: string, cohort: CohortOutput, options: CohortRenderOptions = {}): void {
  writeFileSync(path, renderCohortReport(cohort, options));
}

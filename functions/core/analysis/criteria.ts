/**
 * Plain-language comparison of a relevance map with the textbook criteria of ../shared/docs/clinical-criteria.md
 * and the wave-level findings of Bender et al. 2023 (for AF, P-waves that are present carry negative relevance;
 * for LBBB, concordant T-waves carry negative relevance).
 *
 * Input (`CriteriaInput`): the analysed class, the lead relevance M_n,k (relevance.ts) and one `WaveRelevance`
 * entry per beat and lead — the relevance summed over the samples of the P-wave, the QRS complex and the T-wave of
 * that beat in that lead, whether a P-wave was found before the QRS, and whether the T-wave points the same way as
 * the main QRS deflection (concordant). The wave boundaries come from the delineation of the beat analysis; this
 * module only judges the sums it is given.
 *
 * Output: one finding per criterion the class has, each `agrees: true | false | 'not-applicable'` with its evidence
 * (counts and sums) and a sentence, plus a summary (a few sentences) for the report.
 */
import { LEAD_ORDER, type LeadName } from '../record.ts';

/** The relevance of the waves of one beat in one lead. Sums are over the wave's samples (model-input relevance). */
export interface WaveRelevance {
  lead: LeadName;
  /** Beat number within the record (optional, for evidence only). */
  beat?: number;
  /** Whether a P-wave was delineated before this QRS in this lead. */
  pPresent: boolean;
  /** Relevance summed over the P-wave; null (or ignored) when no P-wave is present. */
  pRelevance: number | null;
  /** Relevance summed over the QRS complex; null when the QRS was not delineated in this lead. */
  qrsRelevance: number | null;
  /** Relevance summed over the T-wave; null when no T-wave was delineated. */
  tRelevance: number | null;
  /** Relevance summed over the ST segment (after the QRS offset, before the T onset); null without one. */
  stRelevance?: number | null;
  /** True when the T-wave has the polarity of the main QRS deflection; null when unknown. */
  tConcordant: boolean | null;
}

export interface CriteriaInput {
  /** The analysed class (a model class name such as `AF`, `LBBB`, `I-AVB`, or a cohort label such as `AFIB`). */
  className: string;
  /** One entry per beat and lead; may be empty when no beats were found. */
  waves: readonly WaveRelevance[];
  /** M_n,k per lead (leads missing or non-finite are ignored). */
  leadRelevance: Readonly<Partial<Record<string, number>>>;
}

export type Agreement = true | false | 'not-applicable';

export interface CriterionFinding {
  /** Stable id, e.g. `af-present-p-negative`. */
  id: string;
  /** The criterion in plain language. */
  criterion: string;
  agrees: Agreement;
  evidence: Record<string, unknown>;
  /** One sentence for the report. */
  sentence: string;
}

export interface CriteriaReport {
  className: string;
  /** The textbook class the name was mapped to (`AF`, `LBBB`, `RBBB`, `1dAVb`, `SB`, `ST`, `NORM`) or null. */
  criteriaClass: string | null;
  findings: CriterionFinding[];
  summary: string[];
}

/** Leads a clinician reads first, per class (clinical-criteria.md). */
export const KEY_LEADS: Readonly<Record<string, readonly LeadName[]>> = {
  AF: ['II', 'V1'],
  LBBB: ['V1', 'V5', 'V6', 'I', 'aVL'],
  RBBB: ['V1', 'V2', 'I', 'V6'],
  '1dAVb': ['II'],
  SB: ['II'],
  ST: ['II'],
};

const ALIASES: Readonly<Record<string, string>> = {
  AF: 'AF', AFIB: 'AF', ATRIALFIBRILLATION: 'AF',
  LBBB: 'LBBB', CLBBB: 'LBBB', LEFTBUNDLEBRANCHBLOCK: 'LBBB',
  RBBB: 'RBBB', CRBBB: 'RBBB', RIGHTBUNDLEBRANCHBLOCK: 'RBBB',
  '1DAVB': '1dAVb', IAVB: '1dAVb', '1AVB': '1dAVb', AVB1: '1dAVb', FIRSTDEGREEAVBLOCK: '1dAVb',
  SB: 'SB', SBRAD: 'SB', SINUSBRADYCARDIA: 'SB',
  ST: 'ST', STACH: 'ST', SINUSTACHYCARDIA: 'ST',
  NORM: 'NORM', NORMAL: 'NORM', NSR: 'NORM', SNR: 'NORM', SR: 'NORM', SINUS: 'NORM', SINUSRHYTHM: 'NORM',
};

/**
 * Maps a class name or label to its textbook class (`AF`, `LBBB`, `RBBB`, `1dAVb`, `SB`, `ST`, `NORM`), ignoring
 * case, spaces and punctuation (so `AFIB`, `I-AVB`, `CLBBB`, `Normal` are recognised); null when unknown.
 */
export function canonicalClass(name: string): string | null {
  const key = String(name).toUpperCase().replace(/[^A-Z0-9]/g, '');
  return ALIASES[key] ?? null;
}

interface WaveTotals {
  count: number;
  sum: number;
  negative: number;
  byLead: Partial<Record<LeadName, { count: number; sum: number }>>;
}

function totals(entries: readonly WaveRelevance[], pick: (w: WaveRelevance) => number | null | undefined): WaveTotals {
  const t: WaveTotals = { count: 0, sum: 0, negative: 0, byLead: {} };
  for (const w of entries) {
    const v = pick(w);
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    t.count++;
    t.sum += v;
    if (v < 0) t.negative++;
    const lead = (t.byLead[w.lead] ??= { count: 0, sum: 0 });
    lead.count++;
    lead.sum += v;
  }
  return t;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 0.01 && a < 1000 ? v.toFixed(3) : v.toExponential(2);
}

function waveEvidence(t: WaveTotals): Record<string, unknown> {
  return { waves: t.count, relevanceSum: t.sum, meanRelevance: t.count ? t.sum / t.count : null, negativeFraction: t.count ? t.negative / t.count : null, byLead: t.byLead };
}

/** A wave-level criterion "the relevance on these waves has this sign". */
function waveSignFinding(id: string, criterion: string, what: string, t: WaveTotals, expectSign: 1 | -1): CriterionFinding {
  if (t.count === 0) {
    return { id, criterion, agrees: 'not-applicable', evidence: waveEvidence(t), sentence: `${criterion}: not applicable, this ECG has no ${what}.` };
  }
  const agrees = expectSign < 0 ? t.sum < 0 : t.sum > 0;
  const sign = t.sum < 0 ? 'negative' : t.sum > 0 ? 'positive' : 'zero';
  const verdict = agrees ? 'as the textbook criterion expects' : 'unlike the textbook criterion';
  return {
    id,
    criterion,
    agrees,
    evidence: waveEvidence(t),
    sentence: `The ${t.count} ${what} carry ${sign} relevance in total (${fmt(t.sum)}; ${t.negative} of ${t.count} negative), ${verdict}.`,
  };
}

/** "The leads a clinician reads first carry more relevance than the others" (mean M_n,k of key leads vs the rest). */
function leadFocusFinding(cls: string, leadRelevance: CriteriaInput['leadRelevance']): CriterionFinding {
  const keyLeads = KEY_LEADS[cls];
  const id = 'key-leads-most-relevant';
  const criterion = `${cls}: the leads read first (${keyLeads.join(', ')}) carry more relevance than the other leads`;
  const known = LEAD_ORDER.filter((l) => Number.isFinite(leadRelevance[l]));
  if (known.length < LEAD_ORDER.length) {
    return { id, criterion, agrees: 'not-applicable', evidence: { leadsWithRelevance: known.length }, sentence: `${criterion}: not applicable, the relevance of some leads is missing.` };
  }
  const value = (l: LeadName) => leadRelevance[l] as number;
  const ranking = [...LEAD_ORDER].sort((a, b) => value(b) - value(a));
  const keyMean = keyLeads.reduce((s, l) => s + value(l), 0) / keyLeads.length;
  const others = LEAD_ORDER.filter((l) => !keyLeads.includes(l));
  const otherMean = others.reduce((s, l) => s + value(l), 0) / others.length;
  const agrees = keyMean > otherMean;
  const ranks = Object.fromEntries(keyLeads.map((l) => [l, ranking.indexOf(l) + 1]));
  return {
    id,
    criterion,
    agrees,
    evidence: { keyLeads, keyLeadMean: keyMean, otherLeadMean: otherMean, ranks, mostRelevantLeads: ranking.slice(0, 3) },
    sentence: `The leads read first for ${cls} (${keyLeads.join(', ')}) have a mean lead relevance of ${fmt(keyMean)} against ${fmt(otherMean)} for the other leads${agrees ? ', so the model looks where a clinician looks' : ', so the model relies more on other leads'}; the most relevant leads are ${ranking.slice(0, 3).join(', ')}.`,
  };
}

/**
 * Compares relevance with the textbook criteria of the class (clinical-criteria.md; Bender et al. 2023 for the
 * wave-level expectations). Classes without encoded criteria (e.g. PVC, or the normal class) get no findings and a
 * summary sentence saying so.
 */
export function compareWithCriteria(input: CriteriaInput): CriteriaReport {
  const cls = canonicalClass(input.className);
  const findings: CriterionFinding[] = [];
  const waves = Array.isArray(input.waves) ? input.waves : [];
  const leadRelevance = input.leadRelevance ?? {};
  const presentP = waves.filter((w) => w.pPresent);
  const inLeads = (leads: readonly LeadName[]) => waves.filter((w) => leads.includes(w.lead));

  switch (cls) {
    case 'AF':
      findings.push(waveSignFinding('af-present-p-negative', 'AF: P-waves that are present carry negative relevance (evidence against AF)', 'P-waves present', totals(presentP, (w) => w.pRelevance), -1));
      break;
    case 'LBBB':
      findings.push(waveSignFinding('lbbb-concordant-t-negative', 'LBBB: T-waves concordant with the QRS carry negative relevance (a concordant T-wave argues against LBBB)', 'concordant T-waves', totals(waves.filter((w) => w.tConcordant === true), (w) => w.tRelevance), -1));
      findings.push(waveSignFinding('lbbb-qrs-positive-key-leads', 'LBBB: the broad QRS complexes in V1, V5, V6, I and aVL carry positive relevance', 'QRS complexes in V1, V5, V6, I and aVL', totals(inLeads(KEY_LEADS.LBBB), (w) => w.qrsRelevance), 1));
      break;
    case 'RBBB':
      findings.push(waveSignFinding('rbbb-qrs-positive-v1-v2', "RBBB: the QRS complexes in V1 and V2 (rsR') carry positive relevance", 'QRS complexes in V1 and V2', totals(inLeads(['V1', 'V2']), (w) => w.qrsRelevance), 1));
      break;
    case '1dAVb':
      findings.push(waveSignFinding('avb1-p-positive', '1dAVb: the P-waves (whose distance to the QRS is prolonged) carry positive relevance', 'P-waves present', totals(presentP, (w) => w.pRelevance), 1));
      break;
    case 'SB':
    case 'ST':
      findings.push(waveSignFinding(`${cls === 'SB' ? 'sb' : 'st'}-sinus-p-positive-ii`, `${cls}: the upright P-waves of sinus rhythm in lead II carry positive relevance`, 'P-waves present in lead II', totals(presentP.filter((w) => w.lead === 'II'), (w) => w.pRelevance), 1));
      break;
    default:
      break;
  }
  if (cls !== null && KEY_LEADS[cls]) findings.push(leadFocusFinding(cls, leadRelevance));

  const summary: string[] = [];
  if (findings.length === 0) {
    summary.push(cls === 'NORM'
      ? 'For the normal class every lead matters and no single textbook criterion applies, so the relevance is not compared with criteria.'
      : `No textbook criteria are encoded for the class ${input.className}, so its relevance is not compared with criteria.`);
  } else {
    const applicable = findings.filter((f) => f.agrees !== 'not-applicable');
    const agreeing = applicable.filter((f) => f.agrees === true).length;
    summary.push(applicable.length === 0
      ? `None of the ${findings.length} criteria for ${cls} could be checked on this ECG.`
      : `The relevance for ${cls} agrees with ${agreeing} of ${applicable.length} applicable textbook criteria.`);
    for (const f of findings) summary.push(f.sentence);
  }
  return { className: input.className, criteriaClass: cls, findings, summary };
}

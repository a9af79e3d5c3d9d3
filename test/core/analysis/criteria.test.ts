// Relevance against the textbook criteria of ../shared/docs/clinical-criteria.md. Expected verdicts follow from the
// criteria themselves (e.g. "for AF, P-waves that are present carry negative relevance", Bender et al. 2023) applied
// by hand to small wave tables whose sums are exact binary fractions.
import { describe, expect, it } from 'vitest';
import { LEAD_ORDER, type LeadName } from '../../../functions/core/record.ts';
import { canonicalClass, compareWithCriteria, type WaveRelevance } from '../../../functions/core/analysis/criteria.ts';

const wave = (lead: LeadName, w: Partial<WaveRelevance>): WaveRelevance => ({ lead, pPresent: false, pRelevance: null, qrsRelevance: 0.125, tRelevance: 0, tConcordant: false, ...w });
const leadRelevance = (high: LeadName[]): Record<LeadName, number> => Object.fromEntries(LEAD_ORDER.map((l) => [l, high.includes(l) ? 0.5 : 0.0625])) as Record<LeadName, number>;
const finding = (report: ReturnType<typeof compareWithCriteria>, id: string) => report.findings.find((f) => f.id === id)!;

describe('atrial fibrillation', () => {
  it('agrees when the P-waves that are present carry negative relevance, with counts as evidence', () => {
    const report = compareWithCriteria({
      className: 'AF',
      waves: [wave('II', { pPresent: true, pRelevance: -0.5 }), wave('V1', { pPresent: true, pRelevance: 0.25 }), wave('II', { pPresent: false, pRelevance: 9 })],
      leadRelevance: leadRelevance(['II', 'V1']),
    });
    const p = finding(report, 'af-present-p-negative');
    expect(p.agrees).toBe(true);
    expect(p.evidence).toMatchObject({ waves: 2, relevanceSum: -0.25, negativeFraction: 0.5, byLead: { II: { count: 1, sum: -0.5 }, V1: { count: 1, sum: 0.25 } } });
    expect(p.sentence).toBe('The 2 P-waves present carry negative relevance in total (-0.250; 1 of 2 negative), as the textbook criterion expects.');
    expect(finding(report, 'key-leads-most-relevant').agrees).toBe(true);
    expect(report.summary[0]).toBe('The relevance for AF agrees with 2 of 2 applicable textbook criteria.');
  });

  it('disagrees when present P-waves carry positive relevance', () => {
    const report = compareWithCriteria({ className: 'AFIB', waves: [wave('II', { pPresent: true, pRelevance: 0.75 })], leadRelevance: leadRelevance(['V3']) });
    expect(report.criteriaClass).toBe('AF');
    expect(finding(report, 'af-present-p-negative').agrees).toBe(false);
    expect(finding(report, 'af-present-p-negative').sentence).toMatch(/unlike the textbook criterion/);
    expect(finding(report, 'key-leads-most-relevant')).toMatchObject({ agrees: false, evidence: { mostRelevantLeads: ['V3', 'I', 'II'] } });
  });

  it('is not applicable when no P-wave is present (as in most AF beats)', () => {
    const report = compareWithCriteria({ className: 'AF', waves: [wave('II', {}), wave('V1', {})], leadRelevance: leadRelevance(['II']) });
    expect(finding(report, 'af-present-p-negative').agrees).toBe('not-applicable');
    expect(report.summary[0]).toBe('The relevance for AF agrees with 1 of 1 applicable textbook criteria.');
  });
});

describe('left bundle branch block', () => {
  it('agrees when concordant T-waves carry negative relevance and the broad QRS in V1, V5, V6, I, aVL positive', () => {
    const report = compareWithCriteria({
      className: 'CLBBB',
      waves: [
        wave('V6', { tConcordant: true, tRelevance: -0.375, qrsRelevance: 1 }),
        wave('V1', { tConcordant: false, tRelevance: 0.5, qrsRelevance: 0.5 }),
        wave('V3', { tConcordant: true, tRelevance: 0.125, qrsRelevance: -4 }),
      ],
      leadRelevance: leadRelevance(['V1', 'V5', 'V6']),
    });
    expect(finding(report, 'lbbb-concordant-t-negative')).toMatchObject({ agrees: true, evidence: { waves: 2, relevanceSum: -0.25 } });
    expect(finding(report, 'lbbb-qrs-positive-key-leads')).toMatchObject({ agrees: true, evidence: { waves: 2, relevanceSum: 1.5 } });
    expect(finding(report, 'key-leads-most-relevant').agrees).toBe(true);
  });

  it('disagrees when concordant T-waves carry positive relevance, and skips unknown concordance', () => {
    const report = compareWithCriteria({
      className: 'LBBB',
      waves: [wave('V5', { tConcordant: true, tRelevance: 0.5 }), wave('V5', { tConcordant: null, tRelevance: -8 })],
      leadRelevance: leadRelevance([]),
    });
    expect(finding(report, 'lbbb-concordant-t-negative')).toMatchObject({ agrees: false, evidence: { waves: 1, relevanceSum: 0.5 } });
  });
});

describe('other classes', () => {
  it('checks the QRS in V1 and V2 for RBBB', () => {
    const report = compareWithCriteria({ className: 'RBBB', waves: [wave('V1', { qrsRelevance: 0.25 }), wave('V2', { qrsRelevance: -0.125 })], leadRelevance: leadRelevance(['V1', 'V2', 'I', 'V6']) });
    expect(finding(report, 'rbbb-qrs-positive-v1-v2')).toMatchObject({ agrees: true, evidence: { relevanceSum: 0.125 } });
  });

  it('expects positive relevance on P-waves for first-degree AV block (I-AVB of the CinC model)', () => {
    const report = compareWithCriteria({ className: 'I-AVB', waves: [wave('II', { pPresent: true, pRelevance: 0.5 })], leadRelevance: leadRelevance(['II']) });
    expect(report.criteriaClass).toBe('1dAVb');
    expect(finding(report, 'avb1-p-positive').agrees).toBe(true);
  });

  it('looks at the P-waves of lead II for sinus bradycardia and tachycardia', () => {
    const sb = compareWithCriteria({ className: 'SB', waves: [wave('II', { pPresent: true, pRelevance: -0.5 }), wave('V1', { pPresent: true, pRelevance: 4 })], leadRelevance: leadRelevance(['II']) });
    expect(finding(sb, 'sb-sinus-p-positive-ii')).toMatchObject({ agrees: false, evidence: { waves: 1 } });
    const st = compareWithCriteria({ className: 'STach', waves: [], leadRelevance: leadRelevance(['II']) });
    expect(finding(st, 'st-sinus-p-positive-ii').agrees).toBe('not-applicable');
  });

  it('says plainly that no criteria are encoded for the normal class or unknown classes', () => {
    expect(compareWithCriteria({ className: 'Normal', waves: [], leadRelevance: {} })).toMatchObject({ criteriaClass: 'NORM', findings: [] });
    const pvc = compareWithCriteria({ className: 'PVC', waves: [], leadRelevance: {} });
    expect(pvc.findings).toEqual([]);
    expect(pvc.summary).toEqual(['No textbook criteria are encoded for the class PVC, so its relevance is not compared with criteria.']);
  });

  it('maps class names and labels to textbook classes, ignoring case and punctuation', () => {
    expect(['AF', 'afib', 'CLBBB', 'crbbb', 'I-AVB', '1dAVb', 'SBRAD', 'STACH', 'NORM', 'Normal', 'STD', 'PVC'].map(canonicalClass))
      .toEqual(['AF', 'AF', 'LBBB', 'RBBB', '1dAVb', '1dAVb', 'SB', 'ST', 'NORM', 'NORM', null, null]);
  });
});

describe('hostile inputs', () => {
  it('ignores NaN wave sums and calls the lead check not applicable when lead relevance is missing', () => {
    const report = compareWithCriteria({ className: 'AF', waves: [wave('II', { pPresent: true, pRelevance: NaN }), wave('V1', { pPresent: true, pRelevance: -0.5 })], leadRelevance: { II: 1, V1: NaN } });
    expect(finding(report, 'af-present-p-negative')).toMatchObject({ agrees: true, evidence: { waves: 1, relevanceSum: -0.5 } });
    expect(finding(report, 'key-leads-most-relevant').agrees).toBe('not-applicable');
  });

  it('copes with an ECG without beats', () => {
    const report = compareWithCriteria({ className: 'LBBB', waves: [], leadRelevance: leadRelevance(['V1']) });
    expect(report.findings.map((f) => f.agrees)).toEqual(['not-applicable', 'not-applicable', true]);
    expect(report.summary[0]).toBe('The relevance for LBBB agrees with 1 of 1 applicable textbook criteria.');
  });
});

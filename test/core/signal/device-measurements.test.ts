/**
 * Beats and intervals against a commercial device: the three GE MUSE 9.0.7 resting ECGs of BRAVEHEART
 * (../shared/data/ecg/other_formats/ge_muse_xml_BRAVEHEART, 500 Hz, 10 s, 8 stored leads). Expected values are the
 * device's own results stored in each file: `<QRSTimesTypes>` (QRS times in ms) and `<RestingECGMeasurements>`
 * (QRSDuration, PRInterval, QTInterval in ms). Measured differences when written: beats 12–20 ms before the
 * device's fiducial, all found, none extra; QRS duration −10/−2/−6 ms; PR +24/+14/+16 ms; QT −36/−14/−24 ms.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { geMuseXmlReader } from '../../../functions/core/readers/ge-muse-xml.ts';
import { DEFAULT_READ_OPTIONS } from '../../../functions/core/readers/types.ts';
import { toEcgRecord } from '../../../functions/core/record.ts';
import { findRPeaks, findRPeaksMultiLead } from '../../../functions/core/signal/rpeaks.ts';
import { delineateWaves } from '../../../functions/core/signal/waves.ts';
import { ecgDir } from '../../helpers/paths.ts';
import { matchBeats } from './load.ts';

const DIR = join(ecgDir, 'other_formats/ge_muse_xml_BRAVEHEART/Example ECGs');
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

describe.each(['example1.xml', 'example2.xml', 'example3.xml'])('GE MUSE %s', (file) => {
  it('finds the device\'s beats and measures QRS, PR and QT close to the device', async () => {
    const bytes = new Uint8Array(readFileSync(join(DIR, file)));
    const text = new TextDecoder().decode(bytes);
    const record = toEcgRecord(await geMuseXmlReader.read({ name: file, bytes }, [{ name: file, bytes }], DEFAULT_READ_OPTIONS));
    const fs = record.samplingRateHz;
    const deviceQrsMs = [...text.slice(text.indexOf('<QRSTimesTypes>')).matchAll(/<Time>(\d+)<\/Time>/g)].map((m) => Number(m[1]));
    const device = (tag: string) => Number(new RegExp(`<${tag}>(\\d+)</${tag}>`).exec(text)![1]);
    expect(deviceQrsMs.length).toBeGreaterThanOrEqual(8);

    const rPeaks = findRPeaksMultiLead(record.signalsMv, fs);
    const toMs = (p: number) => (p * 1000) / fs;
    expect(matchBeats(deviceQrsMs, Array.from(rPeaks, toMs), 50)).toEqual({ tp: deviceQrsMs.length, fn: 0, fp: 0 });
    expect(matchBeats(deviceQrsMs, Array.from(findRPeaks(record.signalsMv[11], fs), toMs), 50)).toMatchObject({ fn: 0, fp: 0 });

    const waves = delineateWaves(record.signalsMv, fs, rPeaks);
    const qrsMs = median(waves.filter((w) => w.qrsOnset !== null && w.qrsOffset !== null).map((w) => toMs(w.qrsOffset! - w.qrsOnset!)));
    const prMs = median(waves.filter((w) => w.pOnset !== null && w.qrsOnset !== null).map((w) => toMs(w.qrsOnset! - w.pOnset!)));
    const qtMs = median(waves.filter((w) => w.tOffset !== null && w.qrsOnset !== null).map((w) => toMs(w.tOffset! - w.qrsOnset!)));
    expect(Math.abs(qrsMs - device('QRSDuration'))).toBeLessThanOrEqual(15);
    expect(Math.abs(prMs - device('PRInterval'))).toBeLessThanOrEqual(35);
    expect(Math.abs(qtMs - device('QTInterval'))).toBeLessThanOrEqual(45);
  });
});

/**
 * Planted-PHI audit (issue 17). For every format the readers support — WFDB .hea/.dat, CinC .hea/.mat (also with
 * samples that are not whole units, plain and zipped), CPSC 2018 struct .mat, CSV, GE MUSE XML, Philips XML, HL7
 * aECG, DICOM waveform, SCP-ECG, EDF+ and a zip of a WFDB record — a fixture made here from a real file of the
 * shared data (EDF+ written from scratch) carries distinctive identifiers in every field the
 * format has for them: patient names, ids and record numbers, birth date, address, physician, technician and
 * institution names, free-text comments, and the upload's file names. The upload is read as the Worker reads it
 * (its read options, then renamed without file names as `analyzeEcg` does with `keepFileNames: false`) and the
 * result's record part is built by the pipeline's own `resultRecordOf`: none of the planted strings may appear in
 * it or in its warnings (case-insensitive, also with separators removed), while age and sex, which are not
 * identifiers here (functions/core/record.ts), are still carried and the birth date is not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../../functions/core/bytes.ts';
import { neutralRecordName, renameRecord, resultRecordOf } from '../../../functions/core/pipeline.ts';
import type { EcgRecord, InputFile } from '../../../functions/core/record.ts';
import { expandArchives } from '../../../functions/core/readers/archive.ts';
import { readEcg } from '../../../functions/core/readers/registry.ts';
import { crcCcitt } from '../../../functions/core/readers/scp-ecg.ts';
import { WORKER_READ_OPTIONS } from '../../../functions/worker/read-options.ts';
import { ecgDir } from '../../helpers/paths.ts';

/** The planted identifiers; every name-like one starts with ZZPLANT, so "zzplant" finds any of them or a part. */
const P = {
  last: 'ZZPLANTNAME',
  first: 'ZZPLANTFIRST',
  mrn: 'MRN9912345',
  birth: '1950-02-03',
  street: 'ZZPLANTSTREET',
  doctor: 'ZZPLANTDOCTOR',
  tech: 'ZZPLANTTECH',
  clinic: 'ZZPLANTCLINIC',
  note: 'ZZPLANTNOTE',
  file: 'ZZPLANTFILE',
};
/** What must not be stored, compared with case and separators removed: the ZZPLANT prefix, the record number's digits and the birth date in the spellings the fixtures use (ISO, DD.MM.YYYY, MM-DD-YYYY, DD-MMM-YYYY) and its year. */
const NEEDLES = ['ZZPLANT', '9912345', '1950-02-03', '03.02.1950', '02-03-1950', '03-FEB-1950', '1950'];
const squash = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/gu, '');
const plantedIn = (text: string) => NEEDLES.filter((n) => squash(text).includes(squash(n)));

const bytesAt = (path: string) => new Uint8Array(readFileSync(join(ecgDir, path)));
const textAt = (path: string, encoding: BufferEncoding = 'latin1') => Buffer.from(bytesAt(path)).toString(encoding);
const latin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));
const ascii = (text: string) => new TextEncoder().encode(text);
/** Replaces every `from` by `to`, failing when `from` is not in the text (the fixture would silently not change). */
function replaced(text: string, pairs: [string | RegExp, string][]): string {
  return pairs.reduce((t, [from, to]) => {
    const hit = typeof from === 'string' ? t.includes(from) : from.test(t);
    if (!hit) throw new Error(`fixture: ${String(from)} not found`);
    return typeof from === 'string' ? t.split(from).join(to) : t.replace(from, to);
  }, text);
}

// ---- WFDB and CinC headers: comment lines as clinics write them ----

const HEADER_COMMENTS = [
  `# Name: ${P.last}^${P.first}`,
  `#Patient: ${P.first} ${P.last}`,
  `# Patient ID: ${P.mrn}`,
  `# MRN: ${P.mrn}`,
  `# DOB: ${P.birth}`,
  '# Birth date: 03.02.1950',
  `# Address: 12 ${P.street}, Springfield`,
  `# Referring physician: Dr ${P.doctor}`,
  `# Technician: ${P.tech}`,
  `# Institution: ${P.clinic}`,
  `# Comment: ${P.note}, patient anxious`,
];

function ludbPair(stem: string): InputFile[] {
  const dir = 'ludb_1.0.1_byschii-ecg-segmentation/lobachevsky-university-electrocardiography-database-1.0.1/data';
  const hea = replaced(textAt(`${dir}/1.hea`), [
    [/^1 12 500 5000/u, `${stem} 12 500 5000 10:20:30 02/03/2021`],
    [/^1\.dat /gmu, `${stem}.dat `],
  ]);
  return [
    { name: `${stem}.hea`, bytes: latin1(`${hea.trimEnd()}\n${HEADER_COMMENTS.join('\n')}\n`) },
    { name: `${stem}.dat`, bytes: bytesAt(`${dir}/1.dat`) },
  ];
}

function cincPair(stem: string): InputFile[] {
  const dir = 'cpsc2018_physionet2020_python-classifier-2020/input_directory';
  const hea = replaced(textAt(`${dir}/A0001.hea`), [
    ['A0001', stem],
    ['#Hx: Unknown', `#Hx: ${P.note} history`],
    ['#Sx: Unknows', `#Sx: ${P.note} symptoms`],
  ]);
  return [
    { name: `${stem}.hea`, bytes: latin1(`${hea.trimEnd()}\n${HEADER_COMMENTS.join('\n')}\n`) },
    { name: `${stem}.mat`, bytes: bytesAt(`${dir}/A0001.mat`) },
  ];
}

/**
 * The CinC pair with its samples stored as doubles a quarter unit off the whole ADC units (MAT v4, `val`, 12 × 7500):
 * the reader rounds them and says so in a warning that names the signal file.
 */
function cincFractionalPair(stem: string): InputFile[] {
  const [hea, mat] = cincPair(stem);
  const ints = new DataView(mat.bytes.buffer, mat.bytes.byteOffset + 24);
  const count = 12 * 7500;
  const out = new Uint8Array(24 + 8 * count);
  const v = new DataView(out.buffer);
  [0, 12, 7500, 0, 4].forEach((x, k) => v.setInt32(4 * k, x, true)); // MOPT 0: little-endian doubles
  out.set(ascii('val\0'), 20);
  for (let i = 0; i < count; i++) v.setFloat64(24 + 8 * i, ints.getInt16(2 * i, true) + 0.25, true);
  return [hea, { name: mat.name, bytes: out }];
}

// ---- CPSC 2018 .mat (MAT Level 5, struct ECG): identifying struct fields and the file's descriptive text ----

/** A MAT v5 data element (little-endian tag), padded to 8 bytes. */
function matElement(type: number, data: Uint8Array): Uint8Array {
  const head = new DataView(new ArrayBuffer(8));
  head.setUint32(0, type, true);
  head.setUint32(4, data.length, true);
  return concatBytes([new Uint8Array(head.buffer), data, new Uint8Array((8 - (data.length % 8)) % 8)]);
}
const matInts = (type: number, xs: number[]) => matElement(type, new Uint8Array((type === 5 ? new Int32Array(xs) : new Uint32Array(xs)).buffer));
const matArray = (classId: number, dims: number[], name: string, body: Uint8Array[]) =>
  matElement(14, concatBytes([matInts(6, [classId, 0]), matInts(5, dims), matElement(1, ascii(name)), ...body]));
const matChars = (text: string) => matArray(4, [1, text.length], '', [matElement(4, new Uint8Array(new Uint16Array([...text].map((c) => c.charCodeAt(0))).buffer))]);
const matDoubles = (dims: number[], data: Float64Array) => matArray(6, dims, '', [matElement(9, new Uint8Array(data.buffer))]);

function cpscStructFile(): InputFile {
  const v4 = bytesAt('cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001.mat');
  const ints = new DataView(v4.buffer, v4.byteOffset + 24);
  const data = Float64Array.from({ length: 12 * 7500 }, (_, i) => ints.getInt16(2 * i, true) / 1000); // mV, 12 × 7500 column-major
  const fields: [string, Uint8Array][] = [
    ['sex', matChars('Female')],
    ['age', matDoubles([1, 1], new Float64Array([62]))],
    ['data', matDoubles([12, 7500], data)],
    ['name', matChars(`${P.last}, ${P.first}`)],
    ['patientId', matChars(P.mrn)],
    ['birthDate', matChars(P.birth)],
    ['address', matChars(`12 ${P.street}`)],
    ['physician', matChars(P.doctor)],
    ['technician', matChars(P.tech)],
    ['hospital', matChars(P.clinic)],
    ['comment', matChars(P.note)],
  ];
  const names = new Uint8Array(32 * fields.length);
  fields.forEach(([f], k) => names.set(ascii(f), 32 * k));
  const fieldNameLength = new Uint8Array([5, 0, 4, 0, 32, 0, 0, 0]); // small element: int32, 4 bytes, 32
  const struct = matArray(2, [1, 1], 'ECG', [fieldNameLength, matElement(1, names), ...fields.map(([, v]) => v)]);
  const header = new Uint8Array(128).fill(0x20);
  header.set(ascii(`MATLAB 5.0 MAT-file, ${P.note} record of ${P.last} ${P.mrn}`));
  header.fill(0, 116, 124);
  header.set([0x00, 0x01, 0x49, 0x4d], 124);
  return { name: `${P.file}_${P.last}.mat`, bytes: concatBytes([header, struct]) };
}

// ---- CSV: metadata lines above the table ----

function csvFile(): InputFile {
  const meta = [
    `Patient name: ${P.last} ${P.first}`,
    `Patient ID: ${P.mrn}`,
    `DOB: ${P.birth}`,
    `Address: 12 ${P.street}`,
    `Physician: ${P.doctor}`,
    `Technician: ${P.tech}`,
    `Institution: ${P.clinic}`,
    `Comment: ${P.note}`,
  ];
  const csv = textAt('other_formats/csv_12lead_DenisMot/data/ECG_12L.csv');
  return { name: `${P.file}_${P.last}.csv`, bytes: latin1(`${meta.join('\n')}\n${csv}`) };
}

// ---- GE MUSE: PatientDemographics, TestDemographics (physicians, technician, site), Order, comments ----

function museFile(): InputFile {
  const demographics = `
   <PatientDemographics>
      <PatientID>${P.mrn}</PatientID>
      <PatientAge>62</PatientAge>
      <AgeUnits>YEARS</AgeUnits>
      <DateofBirth>02-03-1950</DateofBirth>
      <Gender>FEMALE</Gender>
      <PatientLastName>${P.last}</PatientLastName>
      <PatientFirstName>${P.first}</PatientFirstName>
      <Address>12 ${P.street}</Address>
   </PatientDemographics>
   <TestDemographics>
      <DataType>RESTING</DataType>
      <Site>1</Site>
      <SiteName>${P.clinic}</SiteName>
      <LocationName>${P.clinic} Cardiology</LocationName>
      <RoomID>${P.clinic} room 4</RoomID>
      <AcquisitionTime>10:20:30</AcquisitionTime>
      <AcquisitionDate>03-15-2012</AcquisitionDate>
      <OverreaderLastName>${P.doctor}O</OverreaderLastName>
      <OverreaderFirstName>${P.first}</OverreaderFirstName>
      <EditorLastName>${P.doctor}E</EditorLastName>
      <ReferringMDLastName>${P.doctor}</ReferringMDLastName>
      <ReferringMDFirstName>${P.first}</ReferringMDFirstName>
      <AcquisitionTechLastName>${P.tech}</AcquisitionTechLastName>
      <AcquisitionTechFirstName>${P.first}</AcquisitionTechFirstName>
   </TestDemographics>
   <Order>
      <OrderingMDLastName>${P.doctor}ORD</OrderingMDLastName>
      <AdmittingMDLastName>${P.doctor}ADM</AdmittingMDLastName>
      <HISOrderNumber>${P.mrn}</HISOrderNumber>
   </Order>
   <Diagnosis>
      <DiagnosisStatement><StmtText>${P.note}: patient ${P.last} seen by ${P.doctor}</StmtText></DiagnosisStatement>
   </Diagnosis>`;
  const xml = replaced(textAt('other_formats/ge_muse_xml_BRAVEHEART/Example ECGs/example1.xml'), [
    ['</MuseInfo>', `</MuseInfo>${demographics}`],
    ['<Question>COMMENT</Question>\n         <Answer/>', `<Question>COMMENT</Question>\n         <Answer>${P.note}</Answer>`],
  ]);
  return { name: `${P.file}_${P.mrn}.xml`, bytes: latin1(xml) };
}

// ---- Philips: generalpatientdata, acquirer, user defines, document name ----

function philipsFile(): InputFile {
  const patient = `<patient criteriaversionforpatientdata="Custom">
		<generalpatientdata>
			<patientid>${P.mrn}</patientid>
			<MRN>${P.mrn}</MRN>
			<name>
				<lastname>${P.last}</lastname>
				<firstname>${P.first}</firstname>
				<middlename>${P.last}M</middlename>
			</name>
			<age><years>61</years><dateofbirth>${P.birth}</dateofbirth></age>
			<pacestatus>Unknown</pacestatus>
			<sex>Female</sex>
		</generalpatientdata>
		<patientaddress><street>12 ${P.street}</street></patientaddress>
		<clinicalinfo><referringphysician>${P.doctor}</referringphysician><comments>${P.note}</comments></clinicalinfo>
	</patient>`;
  const xml = replaced(textAt('other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures/1_03/129DYPRG.XML', 'utf8'), [
    [/<patient criteriaversionforpatientdata="Custom">[\s\S]*?<\/patient>/u, patient],
    ['<documentname>03d494f2-94f2-13d4-857f-00095c028bdc.xml</documentname>', `<documentname>${P.file}_${P.last}.xml</documentname>`],
    ['<value>1112010721168bdc</value>', `<value>${P.mrn}</value>`],
    ['<operatorid/>', `<operatorid>${P.tech}</operatorid>`],
    ['<departmentid>EMS</departmentid>', `<departmentid>${P.clinic} EMS</departmentid>`],
    ['<institutionname>GE EMS</institutionname>', `<institutionname>${P.clinic}</institutionname>`],
  ]);
  return { name: `${P.file}_${P.last}.XML`, bytes: new TextEncoder().encode(xml) };
}

// ---- HL7 aECG: subject and demographics, performers, investigator, sites, authors, comment ----

function hl7File(): InputFile {
  const xml = replaced(textAt('other_formats/hl7_aecg_FDA-aecg-python/Example aECG.xml', 'utf8'), [
    ['extension="SBJ-123"', `extension="${P.mrn}"`],
    ['<name>Clark</name>', `<name><given>${P.first}</given><family>${P.last}</family></name><addr><streetAddressLine>12 ${P.street}</streetAddressLine></addr>`],
    ['<birthTime value="19530508"/>', '<birthTime value="19500203"/>'],
    ['<value xsi:type="PQ" value="46" unit="a"/>', '<value xsi:type="PQ" value="52" unit="a"/>'],
    ['<name>JMK</name>', `<name>${P.tech}</name>`],
    ['<name>KAB</name>', `<name>${P.tech}K</name>`],
    ['extension="TECH-221"', `extension="${P.tech}-221"`],
    ['<name>John Smith, M.D.</name>', `<name>${P.doctor}, M.D.</name>`],
    ['<name>Doctor John Brown</name>', `<name>Doctor ${P.doctor}B</name>`],
    ['<name>River City Clinic for the Cardiac Challenged</name>', `<name>${P.clinic}</name>`],
    ['<name>River City ECG Collection Service</name>', `<name>${P.clinic} ECG</name>`],
    ['<city>River City</city>', `<city>${P.street} City</city>`],
    ['<text>Subject felt dizzy 2 minutes prior to ECG collection</text>', `<text>${P.note}: ${P.last} felt dizzy</text>`],
  ]);
  return { name: `${P.file}_${P.mrn}.xml`, bytes: new TextEncoder().encode(xml) };
}

// ---- DICOM: the identifying data elements of the top-level dataset rewritten or added (explicit VR LE) ----

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const DICOM_PLANTED: [number, number, string, string][] = [
  [0x0008, 0x0050, 'SH', 'ZZPLANTACC01'], // Accession Number
  [0x0008, 0x0080, 'LO', P.clinic], // Institution Name
  [0x0008, 0x0081, 'ST', `12 ${P.street}`], // Institution Address
  [0x0008, 0x0090, 'PN', `${P.doctor}^REF`], // Referring Physician's Name
  [0x0008, 0x1010, 'SH', 'ZZPLANTSTATION'], // Station Name
  [0x0008, 0x1030, 'LO', `${P.note} study`], // Study Description
  [0x0008, 0x1040, 'LO', `${P.clinic} Cardiology`], // Institutional Department Name
  [0x0008, 0x1050, 'PN', `${P.doctor}^PERF`], // Performing Physician's Name
  [0x0008, 0x1060, 'PN', `${P.doctor}^READ`], // Name of Physician(s) Reading Study
  [0x0008, 0x1070, 'PN', `${P.tech}^OP`], // Operators' Name
  [0x0010, 0x0010, 'PN', `${P.last}^${P.first}`], // Patient's Name
  [0x0010, 0x0020, 'LO', P.mrn], // Patient ID
  [0x0010, 0x0030, 'DA', '19500203'], // Patient's Birth Date
  [0x0010, 0x1000, 'LO', `${P.mrn}-2`], // Other Patient IDs
  [0x0010, 0x1001, 'PN', `${P.last}^MAIDEN`], // Other Patient Names
  [0x0010, 0x1010, 'AS', '062Y'], // Patient's Age (kept)
  [0x0010, 0x1040, 'LO', `12 ${P.street}`], // Patient's Address
  [0x0010, 0x2154, 'SH', 'ZZPLANTPHONE'], // Patient's Telephone Numbers
  [0x0010, 0x4000, 'LT', `${P.note} comments`], // Patient Comments
  [0x0020, 0x0010, 'SH', 'ZZPLANTSTUDY'], // Study ID
  [0x0032, 0x1032, 'PN', `${P.doctor}^REQ`], // Requesting Physician
  [0x0038, 0x0010, 'LO', P.mrn], // Admission ID
  [0x0038, 0x0400, 'LO', `${P.clinic} ward`], // Patient's Institution Residence
  [0x0038, 0x4000, 'LT', `${P.note} visit`], // Visit Comments
];

/** The end of the data element at `p` (explicit VR little endian; undefined lengths followed to their delimiter). */
function dicomElementEnd(v: DataView, b: Uint8Array, p: number): number {
  const vr = String.fromCharCode(b[p + 4], b[p + 5]);
  const long = LONG_VRS.has(vr);
  const length = long ? v.getUint32(p + 8, true) : v.getUint16(p + 6, true);
  const head = long ? 12 : 8;
  if (length !== 0xffffffff) return p + head + length;
  let q = p + head;
  for (;;) {
    const group = v.getUint16(q, true);
    const element = v.getUint16(q + 2, true);
    if (group === 0xfffe && element === 0xe0dd) return q + 8; // sequence delimiter
    const itemLength = v.getUint32(q + 4, true);
    if (itemLength !== 0xffffffff) {
      q += 8 + itemLength;
      continue;
    }
    q += 8;
    while (!(v.getUint16(q, true) === 0xfffe && v.getUint16(q + 2, true) === 0xe00d)) q = dicomElementEnd(v, b, q);
    q += 8; // item delimiter
  }
}

function dicomElement(group: number, element: number, vr: string, text: string): Uint8Array {
  const value = ascii(text.length % 2 ? `${text} ` : text);
  const head = new Uint8Array(8);
  const v = new DataView(head.buffer);
  v.setUint16(0, group, true);
  v.setUint16(2, element, true);
  head.set(ascii(vr), 4);
  v.setUint16(6, value.length, true);
  return concatBytes([head, value]);
}

function dicomFile(): InputFile {
  const b = bytesAt('other_formats/dicom_pydicom/waveform_ecg.dcm');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const elements = new Map<number, Uint8Array>();
  let p = 132;
  while (p < b.length) {
    const end = dicomElementEnd(v, b, p);
    elements.set(((v.getUint16(p, true) << 16) | v.getUint16(p + 2, true)) >>> 0, b.subarray(p, end));
    p = end;
  }
  for (const [group, element, vr, text] of DICOM_PLANTED) elements.set(((group << 16) | element) >>> 0, dicomElement(group, element, vr, text));
  const ordered = [...elements.entries()].sort(([a], [c]) => a - c).map(([, bytes]) => bytes);
  return { name: `${P.file}_${P.last}.dcm`, bytes: concatBytes([b.subarray(0, 132), ...ordered]) };
}

// ---- SCP-ECG: Section 1 rewritten with every identifying tag (EN 1064 §5.5), sections relaid, CRCs redone ----

const scpText = (tag: number, text: string): [number, Uint8Array] => [tag, ascii(`${text}\0`)];
const SCP_PLANTED: [number, Uint8Array][] = [
  scpText(0, P.last), // last name
  scpText(1, P.first), // first name
  scpText(2, P.mrn), // patient id
  scpText(3, `${P.last}SECOND`), // second last name
  [4, new Uint8Array([62, 0, 1])], // age: 62 years (kept)
  [5, new Uint8Array([1950 & 0xff, 1950 >> 8, 2, 3])], // date of birth 1950-02-03
  [8, new Uint8Array([2])], // sex: female (kept)
  scpText(13, `${P.note} referral`), // diagnosis or referral indication
  scpText(16, P.clinic), // acquiring institution description
  scpText(17, `${P.clinic} analysis`), // analysing institution description
  scpText(18, `${P.clinic} department`), // acquiring department description
  scpText(19, `${P.clinic} lab`), // analysing department description
  scpText(20, P.doctor), // referring physician
  scpText(21, `${P.doctor}CONFIRM`), // latest confirming physician
  scpText(22, P.tech), // technician description
  scpText(23, `${P.clinic} room 4`), // room description
  scpText(30, `${P.note} free text, ${P.street}`), // free text field
  scpText(31, `${P.mrn}-7`), // ECG sequence number
  scpText(35, `${P.note} medical history`), // free text medical history
];

function scpSection(header: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.length + (body.length % 2));
  out.set(header.subarray(0, 16));
  out.set(body, 16);
  const v = new DataView(out.buffer);
  v.setUint32(4, out.length, true);
  v.setUint16(0, crcCcitt(out, 2, out.length), true);
  return out;
}

function scpFile(): InputFile {
  const b = bytesAt('other_formats/scp_edf_csv_ecg-contec/examples/Example.scp');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const s0Length = v.getUint32(6 + 4, true);
  const s0 = b.slice(6, 6 + s0Length);
  const v0 = new DataView(s0.buffer);
  const pointers = [];
  for (let q = 16; q + 10 <= s0Length; q += 10) pointers.push({ at: q, id: v0.getUint16(q, true), length: v0.getUint32(q + 2, true), index: v0.getUint32(q + 6, true) });
  const present = pointers.filter((s) => s.id !== 0 && s.length > 0).sort((a, c) => a.index - c.index);
  const sections = new Map<number, Uint8Array>(present.map((s) => [s.id, b.subarray(s.index - 1, s.index - 1 + s.length)]));
  // Section 1: the original tags other than the planted ones (e.g. acquisition date, device), then the planted ones.
  const old = sections.get(1)!;
  const ov = new DataView(old.buffer, old.byteOffset, old.byteLength);
  const planted = new Set(SCP_PLANTED.map(([t]) => t));
  const tags: Uint8Array[] = [];
  for (let q = 16; q + 3 <= old.length && old[q] !== 255; q += 3 + ov.getUint16(q + 1, true)) {
    if (!planted.has(old[q])) tags.push(old.subarray(q, q + 3 + ov.getUint16(q + 1, true)));
  }
  for (const [t, value] of SCP_PLANTED) tags.push(new Uint8Array([t, value.length & 0xff, value.length >> 8]), value);
  tags.push(new Uint8Array([255, 0, 0]));
  sections.set(1, scpSection(old, concatBytes(tags)));
  let offset = 6 + s0Length;
  for (const s of present) {
    const length = sections.get(s.id)!.length;
    v0.setUint32(s.at + 2, length, true);
    v0.setUint32(s.at + 6, offset + 1, true);
    offset += length;
  }
  v0.setUint16(0, crcCcitt(s0, 2, s0.length), true);
  const out = concatBytes([new Uint8Array(6), s0, ...present.map((s) => sections.get(s.id)!)]);
  const ov2 = new DataView(out.buffer);
  ov2.setUint32(2, out.length, true);
  ov2.setUint16(0, crcCcitt(out, 2, out.length), true);
  return { name: `${P.file}_${P.mrn}.scp`, bytes: out };
}

// ---- EDF+: written here (the shared EDF has empty V leads): patient and recording fields, transducer and prefilter texts, an annotation ----

function edfFile(): InputFile {
  const FS = 500;
  const RECORDS = 10;
  const leads = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
  const ANNOTATION_SAMPLES = 60;
  const field = (text: string, width: number) => {
    if (text.length > width) throw new Error(`EDF field "${text}" is longer than ${width}`);
    return text.padEnd(width, ' ');
  };
  const signals = [...leads.map((l) => `ECG ${l}`), 'EDF Annotations'];
  const ns = signals.length;
  const per = (f: (k: number) => string, width: number) => signals.map((_, k) => field(f(k), width)).join('');
  const isEcg = (k: number) => k < leads.length;
  let header = '0       ';
  header += field(`${P.mrn} F 03-FEB-1950 ${P.last}_${P.first}`, 80); // EDF+ local patient identification
  header += field(`Startdate 02-MAR-2021 ${P.mrn}-ADM ${P.tech} ${P.clinic}_cart`, 80); // EDF+ local recording identification
  header += '02.03.21' + '10.20.30' + field(String(256 * (ns + 1)), 8) + field('EDF+C', 44);
  header += field(String(RECORDS), 8) + field('1', 8) + field(String(ns), 4);
  header += per((k) => signals[k], 16);
  header += per((k) => (isEcg(k) ? `AgAgCl ${P.note}` : ''), 80);
  header += per((k) => (isEcg(k) ? 'uV' : ''), 8);
  header += per((k) => (isEcg(k) ? '-3276.8' : '-1'), 8) + per((k) => (isEcg(k) ? '3276.7' : '1'), 8);
  header += per(() => '-32768', 8) + per(() => '32767', 8);
  header += per((k) => (isEcg(k) ? `HP:0.05Hz ${P.note}` : ''), 80);
  header += per((k) => String(isEcg(k) ? FS : ANNOTATION_SAMPLES), 8) + per(() => '', 32);
  const parts: Uint8Array[] = [latin1(header)];
  for (let r = 0; r < RECORDS; r++) {
    for (let k = 0; k < leads.length; k++) {
      const data = new Int16Array(FS);
      // 0.2 + 0.1·k mV sines at (1 + k/2) Hz, 0.1 µV per unit
      for (let n = 0; n < FS; n++) data[n] = Math.round((0.2 + 0.1 * k) * 1e4 * Math.sin((2 * Math.PI * (1 + k / 2) * (r * FS + n)) / FS));
      parts.push(new Uint8Array(data.buffer));
    }
    const tal = ascii(`+${r}\x14\x14\0${r === 0 ? `+0.5\x14${P.note} ${P.last} seen by ${P.doctor}\x14\0` : ''}`);
    const annotation = new Uint8Array(2 * ANNOTATION_SAMPLES);
    annotation.set(tal);
    parts.push(annotation);
  }
  return { name: `${P.file}_${P.last}.edf`, bytes: concatBytes(parts) };
}

// ---- the uploads ----

interface PlantedUpload {
  format: string;
  files: InputFile[];
  /** Planted strings that must be found in the upload (so the audit is not vacuous). */
  planted: string[];
  ageYears: number;
  sex: 'M' | 'F';
  /** A warning the upload gives (one that could quote what it read). */
  warning?: string;
}

const NAMES = [P.last, P.mrn, P.doctor, P.clinic, P.note];
const UPLOADS: PlantedUpload[] = [
  { format: 'wfdb', files: ludbPair(`${P.file}_${P.last}`), planted: [...NAMES, P.tech, P.street, P.birth, P.file], ageYears: 51, sex: 'F' },
  { format: 'wfdb', files: cincPair(`${P.file}_${P.mrn}`), planted: [...NAMES, P.tech, P.street, P.birth, P.file], ageYears: 74, sex: 'M' },
  { format: 'wfdb', files: cincFractionalPair(`${P.file}_${P.last}`), planted: [...NAMES, P.tech, P.street, P.birth, P.file], ageYears: 74, sex: 'M', warning: 'samples_rounded' },
  {
    format: 'wfdb',
    files: [{ name: `${P.file}_cinc.zip`, bytes: zipSync(Object.fromEntries(cincFractionalPair(`${P.file}_${P.mrn}`).map((f) => [f.name, f.bytes])), { level: 6 }) }],
    planted: [...NAMES, P.tech, P.street, P.birth, P.file],
    ageYears: 74,
    sex: 'M',
    warning: 'samples_rounded',
  },
  { format: 'cpsc-mat', files: [cpscStructFile()], planted: [...NAMES, P.tech, P.street, P.birth], ageYears: 62, sex: 'F', warning: 'sampling_rate_assumed' },
  { format: 'csv', files: [csvFile()], planted: [...NAMES, P.tech, P.street, P.birth], ageYears: NaN, sex: 'F' },
  { format: 'ge-muse-xml', files: [museFile()], planted: [...NAMES, P.tech, P.street, '02-03-1950'], ageYears: 62, sex: 'F' },
  { format: 'philips-xml', files: [philipsFile()], planted: [...NAMES, P.tech, P.street, P.birth, P.file], ageYears: 61, sex: 'F' },
  { format: 'hl7-aecg', files: [hl7File()], planted: [...NAMES, P.tech, P.street, '19500203'], ageYears: 52, sex: 'M' },
  { format: 'dicom', files: [dicomFile()], planted: [...NAMES, P.tech, P.street, '19500203'], ageYears: 62, sex: 'F' },
  { format: 'scp-ecg', files: [scpFile()], planted: [...NAMES, P.tech, P.street], ageYears: 62, sex: 'F' },
  { format: 'edf', files: [edfFile()], planted: [...NAMES, P.tech, '03-FEB-1950'], ageYears: 71, sex: 'F' },
  {
    format: 'wfdb',
    files: [{ name: `${P.file}_${P.mrn}.zip`, bytes: zipSync(Object.fromEntries(ludbPair(`${P.file}_${P.first}`).map((f) => [`${P.last}_${P.first}/${f.name}`, f.bytes])), { level: 6 }) }],
    planted: [...NAMES, P.tech, P.street, P.birth, P.file],
    ageYears: 51,
    sex: 'F',
  },
];
const isZipUpload = (u: PlantedUpload) => u.files.some((f) => f.name.endsWith('.zip'));
const titleOf = (u: PlantedUpload) => `${u.format}${isZipUpload(u) ? ' (zipped)' : ''} upload ${u.files.map((f) => f.name).join(' + ')}`;
// CSV has no age or sex field.
const CSV_HAS_NO_DEMOGRAPHICS = (u: PlantedUpload) => u.format === 'csv';

/** What the Worker stores of the upload's record: read with its options, renamed as keepFileNames false does. */
async function storedRecordOf(files: InputFile[]): Promise<{ read: EcgRecord; stored: ReturnType<typeof resultRecordOf> }> {
  const read = await readEcg(files, WORKER_READ_OPTIONS);
  return { read, stored: resultRecordOf(renameRecord(read, files, undefined, false)) };
}

describe('planted identifiers never reach a stored result', () => {
  for (const upload of UPLOADS) {
    describe(titleOf(upload), () => {
      it('is a 12-lead record of that format whose files carry the planted identifiers', async () => {
        // Bytes as Latin-1 and as UTF-16 (MAT character arrays), at both byte alignments.
        const decoded = (b: Uint8Array) => [Buffer.from(b).toString('latin1'), Buffer.from(b).toString('utf16le'), Buffer.from(b.subarray(1)).toString('utf16le')].join('\n');
        const text = expandArchives(upload.files, 1e8).map((f) => `${f.name}\n${decoded(f.bytes)}`).join('\n');
        expect(upload.planted.filter((s) => !text.includes(s))).toEqual([]);
        const { stored } = await storedRecordOf(upload.files);
        expect(stored.format).toBe(upload.format);
        expect(stored.leads).toHaveLength(12);
        if (upload.warning) expect(stored.warnings.map((w) => w.code)).toContain(upload.warning);
      });

      it('would be caught: the record as read, before the Worker renames it, names the planted file', async () => {
        const { read } = await storedRecordOf(upload.files);
        expect(plantedIn(JSON.stringify(resultRecordOf(read)))).toContain('ZZPLANT');
      });

      it('stores none of them in the record part of the result: not in its name, labels, start time or warnings', async () => {
        const { read, stored } = await storedRecordOf(upload.files);
        expect(stored.name).toBe(neutralRecordName(read));
        expect(plantedIn(JSON.stringify(stored))).toEqual([]);
        expect(plantedIn(JSON.stringify(stored.warnings))).toEqual([]);
      });

      it('still carries age and sex where the format has them, but not the birth date', async () => {
        const { stored } = await storedRecordOf(upload.files);
        if (CSV_HAS_NO_DEMOGRAPHICS(upload)) {
          expect(stored.ageYears).toBeUndefined();
          expect(stored.sex).toBeUndefined();
        } else {
          expect(stored.ageYears).toBe(upload.ageYears);
          expect(stored.sex).toBe(upload.sex);
        }
        expect(JSON.stringify(stored)).not.toMatch(/1950/u);
      });
    });
  }
});

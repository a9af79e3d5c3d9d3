/**
 * Broken or foreign model files give clear LeadlightErrors that name the problem (and the layer), never crashes:
 * not HDF5, truncated HDF5, weights-only files, unsupported layers and options, missing or mis-shaped weights,
 * and a file whose layout does not match the model's manifest.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertKerasModel } from '../../../models/convert/convert.ts';
import { loadSourceManifest } from '../../../models/install.ts';
import { isLeadlightError } from '../../../functions/core/errors.ts';
import { sharedModelsDir } from '../../helpers/paths.ts';
import { TinyBuilder, modelConfigOf, writeTinyKeras, type TinyModel } from './helpers/tiny-keras.ts';
import { sequentialOptions } from './helpers/tiny-models.ts';

const work = mkdtempSync(join(tmpdir(), 'leadlight-convert-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const cincFile = join(sharedModelsDir, 'cinc2020-ai-strollers', 'ECGCNNX_V4.h5');

async function conversionError(h5Path: string, manifestId?: string): Promise<{ code: string; message: string }> {
  try {
    await convertKerasModel({ h5Path, outDir: join(work, 'out'), ...(manifestId ? { manifest: loadSourceManifest(manifestId) } : {}) });
  } catch (e) {
    expect(isLeadlightError(e)).toBe(true);
    const { code, message } = e as { code: string; message: string };
    expect(message).not.toContain(work);
    return { code, message };
  }
  throw new Error('the conversion succeeded');
}

describe('the converter refuses', () => {
  it('a file that is not HDF5', async () => {
    const path = join(work, 'not.h5');
    writeFileSync(path, 'this is a text file, not a Keras model\n');
    expect(await conversionError(path)).toMatchObject({ code: 'model_file_invalid' });
  });

  it.each([100, 4096, 600_000, 1_213_000])('an HDF5 file truncated to %i bytes', async (bytes) => {
    const path = join(work, `truncated-${bytes}.h5`);
    writeFileSync(path, readFileSync(cincFile).subarray(0, bytes));
    expect(await conversionError(path)).toMatchObject({ code: 'model_file_invalid', message: expect.stringContaining('truncated') });
  });

  it('a missing file', async () => {
    expect(await conversionError(join(work, 'nothing-here.h5'))).toMatchObject({ code: 'model_file_invalid' });
  });

  it('an HDF5 file without model_config (weights only)', async () => {
    const model = sequentialOptions(37);
    const path = join(work, 'weights-only.h5');
    await writeTinyKeras(path, model, { configOverride: undefined });
    // Rewrite with an empty config string: Keras' save_weights() files have no model_config.
    const h5wasm = (await import('h5wasm/node')).default;
    await h5wasm.ready;
    const f = new h5wasm.File(path, 'a');
    f.delete_attribute('model_config');
    f.close();
    expect(await conversionError(path)).toMatchObject({ code: 'model_file_invalid', message: expect.stringContaining('model_config') });
  });

  it('an LSTM layer, naming it', async () => {
    const b = new TinyBuilder(5);
    b.conv('conv_a', 3, 4, 3, { padding: 'same' });
    b.plain('lstm_1', 'LSTM', { units: 8 });
    b.dense('out', 8, 2, 'sigmoid');
    const path = join(work, 'lstm.h5');
    await writeTinyKeras(path, { kind: 'Sequential', inputShape: [20, 3], layers: b.layers });
    expect(await conversionError(path)).toMatchObject({ code: 'model_layer_unsupported', message: expect.stringContaining('"lstm_1"') });
  });

  it('an unsupported activation, naming the layer', async () => {
    const b = new TinyBuilder(6);
    b.conv('conv_tanh', 3, 4, 3, { padding: 'same', activation: 'tanh' });
    b.plain('flat', 'Flatten');
    b.dense('out', 80, 2, 'sigmoid');
    const path = join(work, 'tanh.h5');
    await writeTinyKeras(path, { kind: 'Sequential', inputShape: [20, 3], layers: b.layers });
    expect(await conversionError(path)).toMatchObject({ code: 'model_layer_unsupported', message: expect.stringContaining('"conv_tanh"') });
  });

  it('a dilated convolution and a softmax output', async () => {
    const b = new TinyBuilder(7);
    b.conv('conv_dil', 3, 4, 3, { padding: 'same' });
    (b.layers[0]!.config as Record<string, unknown>).dilation_rate = [2];
    b.plain('flat', 'Flatten');
    b.dense('out', 80, 2, 'sigmoid');
    const path = join(work, 'dilated.h5');
    await writeTinyKeras(path, { kind: 'Sequential', inputShape: [20, 3], layers: b.layers });
    expect(await conversionError(path)).toMatchObject({ code: 'model_layer_unsupported', message: expect.stringContaining('"conv_dil"') });

    const c = new TinyBuilder(8);
    c.conv('conv_ok', 3, 4, 3, { padding: 'same' });
    c.plain('flat', 'Flatten');
    c.dense('out_softmax', 80, 2, 'softmax');
    const path2 = join(work, 'softmax.h5');
    await writeTinyKeras(path2, { kind: 'Sequential', inputShape: [20, 3], layers: c.layers });
    expect(await conversionError(path2)).toMatchObject({ code: 'model_layer_unsupported', message: expect.stringContaining('"out_softmax"') });
  });

  it('missing weights, naming the layer', async () => {
    const path = join(work, 'missing-bias.h5');
    await writeTinyKeras(path, sequentialOptions(37), { omit: ['conv_causal/bias'] });
    expect(await conversionError(path)).toMatchObject({ code: 'model_layout_mismatch', message: expect.stringContaining('"conv_causal"') });
  });

  it('weights whose shape differs from the config, naming the layer', async () => {
    const model: TinyModel = sequentialOptions(37);
    const config = modelConfigOf(model) as { config: { layers: { config: Record<string, unknown> }[] } };
    config.config.layers[0]!.config.filters = 6;
    const path = join(work, 'wrong-shape.h5');
    await writeTinyKeras(path, model, { configOverride: config });
    expect(await conversionError(path)).toMatchObject({ code: 'model_layout_mismatch', message: expect.stringContaining('"conv_valid"') });
  });

  it('a real model file given for another model id', async () => {
    const path = join(work, 'cinc-copy.h5');
    copyFileSync(cincFile, path);
    expect(await conversionError(path, 'ribeiro2020')).toMatchObject({ code: 'model_layout_mismatch', message: expect.stringContaining('ribeiro2020') });
  });
});

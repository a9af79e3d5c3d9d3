/**
 * The tiny test models: together they use every layer option the converter supports, including those the two
 * shared models lack (valid padding, valid and overlapping max-pooling, bias-free convolutions, sigmoid
 * activations, causal and strided "same" convolutions on odd and even lengths, BatchNormalization folded and not).
 */
import { TinyBuilder, type TinyModel } from './tiny-keras.ts';

/** Sequential chain: valid conv + relu, strided same conv without bias, BN, relu, valid overlapping pool, causal conv with sigmoid, Dense relu. */
export function sequentialOptions(length: number, seed = 7): TinyModel {
  const b = new TinyBuilder(seed);
  b.conv('conv_valid', 3, 4, 5, { padding: 'valid', activation: 'relu' });
  let n = length - 4;
  b.conv('conv_same_s2', 4, 5, 4, { padding: 'same', strides: 2, useBias: false });
  n = Math.ceil(n / 2);
  b.batchNorm('bn', 5);
  b.plain('act', 'Activation', { activation: 'relu' });
  b.plain('pool_valid', 'MaxPooling1D', { pool_size: [3], strides: [2], padding: 'valid', data_format: 'channels_last' });
  n = Math.floor((n - 3) / 2) + 1;
  b.conv('conv_causal', 5, 3, 3, { padding: 'causal', activation: 'sigmoid' });
  b.plain('drop', 'Dropout', { rate: 0.5 });
  b.plain('flat', 'Flatten', { data_format: 'channels_last' });
  b.dense('hidden', n * 3, 4, 'relu');
  b.dense('out', 4, 2, 'sigmoid');
  return { kind: 'Sequential', inputShape: [length, 3], layers: b.layers };
}

/** Functional residual block like Ribeiro's: even kernel same conv + folded BN, strided same conv, same max-pool, Add, a ReLU layer. */
export function residualOptions(length: number, seed = 2): TinyModel {
  const b = new TinyBuilder(seed);
  b.conv('c1', 2, 4, 6, { padding: 'same', useBias: false, inbound: ['signal'] });
  b.batchNorm('bn1', 4, ['c1']);
  b.plain('relu1', 'Activation', { activation: 'relu' }, ['bn1']);
  b.conv('c2', 4, 4, 4, { padding: 'same', strides: 3, useBias: false, inbound: ['relu1'] });
  b.plain('pool', 'MaxPooling1D', { pool_size: [3], strides: [3], padding: 'same', data_format: 'channels_last' }, ['relu1']);
  b.conv('skip', 4, 4, 1, { padding: 'same', useBias: false, inbound: ['pool'] });
  b.plain('add', 'Add', {}, ['c2', 'skip']);
  b.batchNorm('bn2', 4, ['add']);
  b.plain('relu2', 'ReLU', { max_value: null, negative_slope: 0, threshold: 0 }, ['bn2']);
  b.plain('pool2', 'MaxPooling1D', { pool_size: [3], strides: [2], padding: 'same', data_format: 'channels_last' }, ['add']);
  b.conv('c3', 4, 4, 2, { padding: 'same', strides: 2, inbound: ['relu2'] });
  b.plain('add2', 'Add', {}, ['c3', 'pool2']);
  b.plain('drop', 'Dropout', { rate: 0.8 }, ['add2']);
  b.plain('flat', 'Flatten', { data_format: 'channels_last' }, ['drop']);
  const n = Math.ceil(Math.ceil(length / 3) / 2);
  b.dense('out', n * 4, 3, 'sigmoid', ['flat']);
  return { kind: 'Model', inputShape: [length, 2], layers: b.layers, output: 'out' };
}

/** A cinc2020-like chain: causal strided convolutions with bias and relu, BN after the activation. */
export function causalStrided(length: number, seed = 3): TinyModel {
  const b = new TinyBuilder(seed);
  let n = length;
  let cin = 2;
  for (let i = 0; i < 3; i++) {
    b.conv(`conv${i}`, cin, 3, 5, { padding: 'causal', strides: 2, activation: 'relu' });
    b.batchNorm(`bn${i}`, 3);
    b.plain(`drop${i}`, 'Dropout', { rate: 0.5 });
    n = Math.ceil(n / 2);
    cin = 3;
  }
  b.plain('flat', 'Flatten', { data_format: 'channels_last' });
  b.dense('out', n * 3, 2, 'sigmoid');
  return { kind: 'Sequential', inputShape: [length, 2], layers: b.layers };
}

/**
 * Stride-1 convolutions long enough for the WASM graphs' spectral form (≥ 256 samples, kernel ≥ 8): odd "same"
 * kernel with bias, causal without, valid with bias, lengths that do not fill the last tile.
 */
export function longConvolutions(length: number, seed = 5): TinyModel {
  const b = new TinyBuilder(seed);
  b.conv('c_same', 2, 3, 9, { padding: 'same', activation: 'relu' });
  b.conv('c_causal', 3, 4, 8, { padding: 'causal', useBias: false });
  b.batchNorm('bn', 4);
  b.plain('relu', 'Activation', { activation: 'relu' });
  b.conv('c_valid', 4, 3, 16, { padding: 'valid' });
  const n = Math.floor((length - 15) / 5);
  b.plain('pool', 'MaxPooling1D', { pool_size: [5], strides: [5], padding: 'valid', data_format: 'channels_last' });
  b.plain('flat', 'Flatten', { data_format: 'channels_last' });
  b.dense('out', n * 3, 2, 'sigmoid');
  return { kind: 'Sequential', inputShape: [length, 2], layers: b.layers };
}

/** The tiny models with odd and even input lengths. */
export function tinyModels(): { name: string; model: TinyModel }[] {
  return [
    { name: 'sequential options, odd length 37', model: sequentialOptions(37) },
    { name: 'sequential options, even length 40', model: sequentialOptions(40, 17) },
    { name: 'residual block, even length 48', model: residualOptions(48) },
    { name: 'residual block, odd length 43', model: residualOptions(43, 12) },
    { name: 'causal strided chain, odd length 41', model: causalStrided(41) },
    { name: 'causal strided chain, even length 64', model: causalStrided(64, 13) },
    { name: 'long stride-1 convolutions, length 300', model: longConvolutions(300) },
  ];
}

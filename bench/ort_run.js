// ONNX Runtime as an independent oracle: runs MODEL on a .npy input (float32 or uint8, C order) and
// writes the first output as float32 .npy. Used by bench/interop.sh; needs onnxruntime-node on
// NODE_PATH (see compare_ort.sh for how it is installed outside the source tree).
// Usage: node ort_run.js MODEL INPUT.npy OUTPUT.npy
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
  const buf = fs.readFileSync(path);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const body = buf.subarray(10 + headerLen);
  if (descr === '|u1') return { type: 'uint8', shape, data: new Uint8Array(body.buffer, body.byteOffset, body.length) };
  if (descr === '<f4') return { type: 'float32', shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length)) };
  throw new Error(`${path}: unsupported dtype ${descr}`);
}

function writeNpy(path, data, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head.writeUInt8(1, 6);
  head.writeUInt8(0, 7);
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

async function main() {
  const [model, input, output] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
  const x = readNpy(input);
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor(x.type, x.data, x.shape) });
  const y = result[session.outputNames[0]];
  writeNpy(output, y.data, y.dims);
}

main().catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });

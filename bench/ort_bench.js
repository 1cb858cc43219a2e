// ONNX Runtime single-stream latency for one model — effvit's speed peer, used by compare_ort.sh.
// Usage: node ort_bench.js MODEL [ITERS] [WARMUP] [THREADS]; needs onnxruntime-node on NODE_PATH.
// Prints JSON {"median_ms", "p90_ms", "min_ms", "iters"}.
const ort = require('onnxruntime-node');

async function main() {
  const [model, iters = '100', warmup = '10', threads = '1'] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1, 3, 224, 224];
  const size = dims.reduce((a, b) => a * b, 1);
  // A quantized model (effvit quantize) takes uint8 pixels or NV12; a float one normalised floats.
  const type = meta && meta.type === 'uint8' ? 'uint8' : 'float32';
  const data = type === 'uint8' ? new Uint8Array(size) : new Float32Array(size);
  for (let i = 0; i < size; ++i) data[i] = type === 'uint8' ? (i * 37 + 11) % 256 : Math.sin(i) * 2;
  const feeds = { [session.inputNames[0]]: new ort.Tensor(type, data, dims) };
  for (let i = 0; i < Number(warmup); ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < Number(iters); ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(JSON.stringify({
    median_ms: ms[Math.floor(ms.length / 2)],
    p90_ms: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.9))],
    min_ms: ms[0],
    iters: ms.length,
  }));
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });

"use strict";
// Writing a jaxbp params file (jaxbp.save's format, version 1) in the browser, so that a net
// trained in the page loads with jaxbp.load: an uncompressed zip of .npy arrays
// layer{l}/W, layer{l}/b (float64) and metadata (UTF-8 JSON as uint8) whose sha256 is
// jaxbp.io.checksum of the arrays: SHA-256 over (key, dtype, shape, bytes), each field
// preceded by its length as 8 little-endian bytes.
const NPZ = (function () {
const enc = new TextEncoder();

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

function sha256hex(bytes) {                 // FIPS 180-4
  const n = bytes.length, padded = new Uint8Array(((n + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[n] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(n / 0x20000000));
  view.setUint32(padded.length - 4, (n << 3) >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64), rot = (x, r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rot(w[i - 15], 7) ^ rot(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rot(w[i - 2], 17) ^ rot(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = (H[i] + v) >>> 0; });
  }
  return Array.from(H, v => v.toString(16).padStart(8, "0")).join("");
}

let CRC_TABLE = null;
function crc32(bytes) {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[i] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let k = 0;
  for (const p of parts) { out.set(p, k); k += p.length; }
  return out;
}
function le64(n) { const b = new Uint8Array(8); new DataView(b.buffer).setUint32(0, n, true); return b; }
const pyShape = shape => "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")");

// one .npy file (format 1.0): magic, header dict padded to a multiple of 64 bytes, data
function npy(descr, shape, data) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pyShape(shape)}, }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const pre = new Uint8Array(10);
  pre.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(pre.buffer).setUint16(8, header.length, true);
  return concat([pre, enc.encode(header), data]);
}

function float64Bytes(values) {
  const b = new Uint8Array(8 * values.length), v = new DataView(b.buffer);
  values.forEach((x, i) => v.setFloat64(8 * i, x, true));
  return b;
}

function zip(files) {                       // [[name, bytes], ...], stored (no compression)
  const locals = [], central = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nm = enc.encode(name), crc = crc32(data);
    const head = new Uint8Array(30), h = new DataView(head.buffer);
    h.setUint32(0, 0x04034b50, true); h.setUint16(4, 20, true); h.setUint16(12, 0x21, true);
    h.setUint32(14, crc, true); h.setUint32(18, data.length, true); h.setUint32(22, data.length, true);
    h.setUint16(26, nm.length, true);
    const cen = new Uint8Array(46), c = new DataView(cen.buffer);
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true);
    c.setUint16(14, 0x21, true); c.setUint32(16, crc, true); c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true); c.setUint16(28, nm.length, true); c.setUint32(42, offset, true);
    locals.push(head, nm, data);
    central.push(cen, nm);
    offset += 30 + nm.length + data.length;
  }
  const dir = concat(central), end = new Uint8Array(22), e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true); e.setUint16(8, files.length, true); e.setUint16(10, files.length, true);
  e.setUint32(12, dir.length, true); e.setUint32(16, offset, true);
  return concat(locals.concat([dir, end]));
}

// The bytes of the file jaxbp.save(path, MLP(sizes, activations=...), params) would hold
// (float64 params).
function paramsFile(sizes, activations, params) {
  const arrays = [];
  params.forEach(({W, b}, l) => {
    arrays.push([`layer${l}/W`, [W.length, W[0].length], float64Bytes(W.flat())]);
    arrays.push([`layer${l}/b`, [b.length], float64Bytes(b)]);
  });
  arrays.sort((p, q) => (p[0] < q[0] ? -1 : 1));
  const fields = [];
  for (const [key, shape, data] of arrays) {
    for (const f of [enc.encode(key), enc.encode("<f8"), enc.encode(pyShape(shape)), data]) {
      fields.push(le64(f.length), f);
    }
  }
  const meta = {activations, dtype: "float64", format: "jaxbp-params", sha256: sha256hex(concat(fields)),
                sizes, version: 1};
  const metaBytes = enc.encode(JSON.stringify(meta));
  const files = arrays.map(([key, shape, data]) => [key + ".npy", npy("<f8", shape, data)]);
  files.push(["metadata.npy", npy("|u1", [metaBytes.length], metaBytes)]);
  return zip(files);
}

return {sha256hex, crc32, paramsFile};
})();

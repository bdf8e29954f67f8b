// Mutators for fuzz inputs: raw protobuf building blocks (varints, tags, length-delimited fields),
// structure-aware damage to valid frames (bit flips, truncation, corrupted lengths, wrong wire
// types, huge repeated fields, deep nesting) and text mutations for YAML, tokens and selectors.

/** Encodes an unsigned varint (numbers up to 2^53, or a BigInt). */
export function varint(value) {
  let v = BigInt(value);
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

/** A field key: field number and wire type (0 varint, 1 fixed64, 2 length-delimited, 3/4 groups, 5 fixed32). */
export const tag = (field, wire) => varint(BigInt(field) * 8n + BigInt(wire));

/** A length-delimited field. */
export const lenField = (field, body) => Buffer.concat([tag(field, 2), varint(body.length), body]);

/** A random field of a random wire type, nested up to `depth` levels. */
export function randomField(rng, depth = 2) {
  const field = rng.chance(0.8) ? rng.range(1, 12) : rng.range(1, 2 ** 29 - 1);
  const wire = rng.pick([0, 0, 1, 2, 2, 2, 5, 3, 4, 6, 7]);
  switch (wire) {
    case 0:
      return Buffer.concat([tag(field, 0), varint(rng.chance(0.2) ? 2n ** 64n - 1n : BigInt(rng.size(1 << 30)))]);
    case 1:
      return Buffer.concat([tag(field, 1), rng.bytes(8)]);
    case 5:
      return Buffer.concat([tag(field, 5), rng.bytes(4)]);
    case 2: {
      const body = depth > 0 && rng.chance(0.4) ? randomMessage(rng, depth - 1) : rng.chance(0.5) ? Buffer.from(rng.string(60)) : rng.bytes(rng.size(64));
      return lenField(field, body);
    }
    default:
      // Groups and the reserved wire types 6 and 7: invalid in proto3.
      return Buffer.concat([tag(field, wire), rng.bytes(rng.size(8))]);
  }
}

/** A random sequence of fields: well-formed protobuf framing with arbitrary content. */
export function randomMessage(rng, depth = 2) {
  const parts = [];
  const n = rng.size(8);
  for (let i = 0; i < n; i++) parts.push(randomField(rng, depth));
  return Buffer.concat(parts);
}

/** A message nested `levels` deep in field `field` (each level a length-delimited sub-message). */
export function deepNesting(levels, field = 1, leaf = Buffer.alloc(0)) {
  let body = leaf;
  for (let i = 0; i < levels; i++) body = lenField(field, body);
  return body;
}

/** The same length-delimited field repeated `count` times (a huge repeated field or map). */
export function hugeRepeated(field, item, count) {
  const one = lenField(field, item);
  return Buffer.concat(new Array(count).fill(one));
}

/** Structure-aware damage to a valid encoded message; returns [what, bytes]. */
export function mutateFrame(rng, frame) {
  const b = Buffer.from(frame);
  const kind = rng.int(10);
  switch (kind) {
    case 0: {
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips && b.length; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return ['bit flips', b];
    }
    case 1:
      return ['truncated', b.subarray(0, b.length ? rng.int(b.length) : 0)];
    case 2: {
      // Corrupt a length prefix: find a length-delimited key and make its length lie.
      const at = findLengthField(b, rng);
      if (at < 0) return ['appended length lie', Buffer.concat([b, tag(rng.range(1, 12), 2), varint(rng.pick([2 ** 31 - 1, 2 ** 32 + 5, 1 << 24, 9999]))])];
      const lie = rng.pick([0, 1, 127, 128, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 35, rng.size(4096)]);
      return ['length corrupted', Buffer.concat([b.subarray(0, at + 1), varint(lie), b.subarray(at + 2)])];
    }
    case 3: {
      // Same field numbers, other wire types.
      const at = rng.int(Math.max(1, b.length));
      if (b.length) b[at] = (b[at] & ~7) | rng.pick([0, 1, 2, 3, 4, 5, 6, 7]);
      return ['wire type changed', b];
    }
    case 4:
      return ['random field appended', Buffer.concat([b, randomField(rng, 3)])];
    case 5: {
      const cut = rng.int(b.length + 1);
      return ['bytes inserted', Buffer.concat([b.subarray(0, cut), rng.bytes(rng.range(1, 16)), b.subarray(cut)])];
    }
    case 6:
      return ['repeated field', Buffer.concat([b, hugeRepeated(rng.range(1, 12), Buffer.from(rng.string(20)), rng.range(1000, 30000))])];
    case 7:
      return ['deep nesting', Buffer.concat([b, deepNesting(rng.range(50, 2000), rng.range(1, 8))])];
    case 8:
      return ['varint overlong', Buffer.concat([b, tag(rng.range(1, 12), 0), Buffer.alloc(rng.range(10, 20), 0xff), Buffer.from([0x01])])];
    default:
      return ['frame doubled', Buffer.concat([b, b])];
  }
}

function findLengthField(b, rng) {
  const candidates = [];
  for (let i = 0; i + 1 < b.length; i++) if ((b[i] & 7) === 2 && b[i] >> 3 > 0 && b[i + 1] < 0x80) candidates.push(i);
  return candidates.length ? rng.pick(candidates) : -1;
}

/** Text mutations: insert, delete, duplicate, swap in special characters, splice pieces. */
export function mutateText(rng, text, pieces = []) {
  let s = text;
  const rounds = rng.range(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(7)) {
      case 0:
        s = s.slice(0, at) + rng.string(8) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + rng.range(1, 10));
        break;
      case 2: {
        const len = rng.range(1, 40);
        s = s.slice(0, at) + s.slice(at, at + len).repeat(rng.range(2, 50)) + s.slice(at);
        break;
      }
      case 3:
        s = s.slice(0, at) + (pieces.length ? rng.pick(pieces) : rng.string(4)) + s.slice(at);
        break;
      case 4:
        s = s.slice(0, at) + String.fromCharCode(rng.int(0x80)) + s.slice(at + 1);
        break;
      case 5:
        s = s.slice(at) + s.slice(0, at);
        break;
      default:
        s = s.slice(0, at);
    }
  }
  return s;
}

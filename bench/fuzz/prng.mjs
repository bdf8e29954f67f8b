// A small seeded PRNG (sfc32) with the helpers the fuzz targets draw from: the same seed gives the
// same cases, so `--seed S` reproduces a run.

/** A fresh random seed (printed by the runner so the run can be repeated). */
export function randomSeed() {
  return Math.floor(Math.random() * 2 ** 32);
}

/** A deterministic random source; `fork(label)` gives an independent stream per target. */
export class Rng {
  #a;
  #b;
  #c;
  #d;

  constructor(seed) {
    this.seed = seed >>> 0;
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = this.seed;
    for (let i = 0; i < 15; i++) this.u32();
  }

  /** The next 32-bit unsigned integer. */
  u32() {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An independent stream derived from this seed and a label. */
  fork(label) {
    let h = this.seed ^ 0x811c9dc5;
    for (const ch of label) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
    return new Rng(h >>> 0);
  }

  /** An integer in [0, n). */
  int(n) {
    return n <= 0 ? 0 : this.u32() % n;
  }

  /** An integer in [lo, hi]. */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p) {
    return this.u32() / 2 ** 32 < p;
  }

  pick(items) {
    return items[this.int(items.length)];
  }

  /** A size skewed towards small values, up to max. */
  size(max) {
    const bits = this.int(Math.ceil(Math.log2(max + 1)) + 1);
    return Math.min(max, this.int(2 ** bits));
  }

  bytes(n) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** A string of awkward characters: ASCII, controls, separators, quotes, non-BMP, lone surrogates. */
  string(max = 40) {
    const n = this.size(max);
    const alphabets = [
      'abcdefghijklmnopqrstuvwxyz0123456789',
      '=!,() \t\n\r-_.:/\\"\'`${}[]<>%&;|*?#@~^+',
      '\u0000\u0001\u001b\u007f\u00a0\u00e9\u2028\u202e\ufeff\ufffd',
    ];
    let s = '';
    for (let i = 0; i < n; i++) {
      const r = this.int(20);
      if (r === 0) s += String.fromCodePoint(this.range(0x10000, 0x10ffff));
      else if (r === 1) s += String.fromCharCode(this.range(0xd800, 0xdfff));
      else s += this.pick(this.pick(alphabets));
    }
    return s;
  }
}

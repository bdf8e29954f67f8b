// The web terminal's WebSocket (/api/v1/shell): upgrade requests with good and bad cookies, origins
// and keys, then hand-built frames: garbage first messages, bad CSRF tokens, malformed JSON,
// oversized and fragmented messages, unmasked frames, reserved bits and invalid opcodes. A
// finding is an upgrade answered 500, or an `INTERNAL` error / close code 4500 on the socket.
// Shells are only ever asked for on a node that does not exist.
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { mutateText } from '../mutate.mjs';

const TIMEOUT_MS = 10_000;
const LINGER_MS = 1000;

/** One client frame (masked unless told otherwise); `length` may lie about the payload's size. */
export function wsFrame({ fin = true, rsv = 0, opcode = 1, mask = true, payload = Buffer.alloc(0), length }) {
  const n = length ?? payload.length;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (n < 126) head.push(m | n);
  else if (n < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(n);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(n));
  }
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

/** Parses the server's (unmasked) frames out of `buf`. */
function serverFrames(buf) {
  const frames = [];
  let at = 0;
  while (at + 2 <= buf.length) {
    const opcode = buf[at] & 0x0f;
    let n = buf[at + 1] & 0x7f;
    let off = at + 2;
    if (n === 126) {
      if (off + 2 > buf.length) break;
      n = buf.readUInt16BE(off);
      off += 2;
    } else if (n === 127) {
      if (off + 8 > buf.length) break;
      n = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    if (off + n > buf.length) break;
    frames.push({ opcode, payload: buf.subarray(off, off + n) });
    at = off + n;
  }
  return frames;
}

function firstMessages(rng, session) {
  const csrf = rng.chance(0.6) ? session.csrf : rng.pick(['', mutateText(rng, session.csrf), 'x'.repeat(300)]);
  const open = { type: 'open', node: 'no-such-node', cols: 80, rows: 24, csrf };
  const resume = { type: 'resume', session: 's-nope', have: 0, cols: 80, rows: 24, csrf };
  const r = rng.int(12);
  const text = (s) => wsFrame({ payload: Buffer.from(s) });
  switch (r) {
    case 0:
      return [text(rng.string(100))];
    case 1:
      return [text(JSON.stringify(rng.chance(0.5) ? open : resume))];
    case 2:
      return [text(mutateText(rng, JSON.stringify(rng.chance(0.5) ? open : resume), ['{', '}', '"', ':', ',', '1e999', '-1', 'null', '[]']))];
    case 3:
      return [text(JSON.stringify({ ...open, cols: rng.pick([0, -1, 1e9, 1.5, '80', null]), rows: rng.pick([24, 1e12, NaN]) }))];
    case 4:
      return [wsFrame({ opcode: 2, payload: rng.bytes(rng.size(512)) })];
    case 5:
      // Over the 1 MiB message limit.
      return [wsFrame({ payload: Buffer.alloc((1 << 20) + rng.range(1, 4096), 0x20) })];
    case 6:
      // A length far beyond anything sent.
      return [wsFrame({ payload: Buffer.from('{"type"'), length: rng.pick([2 ** 31, 2 ** 40, 2 ** 53 - 1]) })];
    case 7: {
      // Fragmented: the JSON split over continuation frames, sometimes never finished.
      const whole = Buffer.from(JSON.stringify(open));
      const cut = rng.range(1, whole.length - 1);
      const frames = [wsFrame({ fin: false, payload: whole.subarray(0, cut) })];
      if (rng.chance(0.6)) frames.push(wsFrame({ fin: true, opcode: 0, payload: whole.subarray(cut) }));
      else if (rng.chance(0.5)) frames.push(wsFrame({ fin: true, opcode: 1, payload: whole.subarray(cut) }));
      return frames;
    }
    case 8:
      return [wsFrame({ opcode: rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), payload: rng.bytes(rng.size(64)) })];
    case 9:
      return [wsFrame({ rsv: rng.range(1, 7), payload: Buffer.from(JSON.stringify(open)) })];
    case 10:
      return [wsFrame({ mask: false, payload: Buffer.from(JSON.stringify(open)) })];
    default: {
      // Control frames: oversized ping, close with odd codes, pong, then a first message.
      const close = Buffer.alloc(2);
      close.writeUInt16BE(rng.pick([0, 999, 1004, 1005, 1006, 2999, 4000, 65535]));
      return [rng.pick([wsFrame({ opcode: 9, payload: rng.bytes(rng.pick([10, 125, 126, 300])) }), wsFrame({ opcode: 8, payload: Buffer.concat([close, rng.bytes(rng.size(200))]) }), wsFrame({ opcode: 10, payload: rng.bytes(8) })]), text(JSON.stringify(open))];
    }
  }
}

function upgradeRequest(rng, host, session) {
  const path = rng.chance(0.85) ? '/api/v1/shell' : rng.pick(['/api/v1/shell/', '/api/v1/shell?x=1', '//[', '//', '/api/%', '/api/shell', '/install.sh', mutateText(rng, '/api/v1/shell', ['/', '%', '..', '?'])]);
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Upgrade: websocket', 'Connection: Upgrade'];
  lines.push(`Sec-WebSocket-Key: ${rng.chance(0.9) ? randomBytes(16).toString('base64') : rng.pick(['', 'short', rng.string(30)])}`);
  lines.push(`Sec-WebSocket-Version: ${rng.chance(0.9) ? 13 : rng.pick([8, 0, 'x', 99999])}`);
  if (rng.chance(0.85)) lines.push(`Origin: ${rng.chance(0.85) ? `https://${host}` : rng.pick(['https://evil.example', 'null', rng.string(20)])}`);
  if (rng.chance(0.9)) lines.push(`Cookie: ${rng.chance(0.85) ? session.cookie : mutateText(rng, session.cookie)}`);
  if (rng.chance(0.1)) lines.push(`Sec-WebSocket-Extensions: ${rng.pick(['permessage-deflate', 'permessage-deflate; client_max_window_bits=1', rng.string(20)])}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** The terminal WebSocket target. */
export const websocketTarget = {
  name: 'websocket',
  needsFleet: true,
  concurrency: 16,
  async setup(ctx) {
    const port = ctx.fleet.fleet.httpsPort;
    return { port, host: `127.0.0.1:${port}`, session: await ctx.webSession() };
  },
  runCase(ctx, rng, i, verdict, state) {
    const upgrade = upgradeRequest(rng, state.host, state.session);
    const frames = firstMessages(rng, state.session);
    const input = { upgrade: upgrade.toString('latin1'), frames: frames.map((f) => (f.length > 65536 ? `<${f.length} bytes>` : f.toString('base64'))) };
    return new Promise((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: state.port, rejectUnauthorized: false });
      let buf = Buffer.alloc(0);
      let upgraded = false;
      let done = false;
      const finish = (fn) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(linger);
        socket.destroy();
        fn();
        resolve();
      };
      let linger;
      const judge = () => {
        const frames = serverFrames(buf);
        for (const f of frames) {
          if (f.opcode === 1 && /"code":"INTERNAL"/.test(f.payload.toString())) return finish(() => verdict.finding('internal', `socket answered ${f.payload.toString().slice(0, 200)}`, input));
          if (f.opcode === 8 && f.payload.length >= 2 && f.payload.readUInt16BE(0) === 4500) return finish(() => verdict.finding('internal', `socket closed 4500 ${f.payload.subarray(2).toString()}`, input));
        }
        finish(() => (frames.some((f) => f.opcode === 8 || (f.opcode === 1 && /"type":"error"/.test(f.payload.toString()))) ? verdict.refused() : verdict.ok()));
      };
      const timer = setTimeout(() => finish(() => verdict.finding('hang', 'the upgrade was not answered', input)), TIMEOUT_MS);
      socket.on('secureConnect', () => socket.write(upgrade));
      socket.on('error', () => {});
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (upgraded) return;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(buf.toString('latin1'))?.[1] ?? 0);
        if (status !== 101) {
          if (status >= 500) return finish(() => verdict.finding('internal', `upgrade answered HTTP ${status}`, input));
          return finish(() => verdict.refused());
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        for (const f of frames) socket.write(f);
        clearTimeout(timer);
        linger = setTimeout(judge, LINGER_MS);
      });
      socket.on('close', () => {
        if (done) return;
        if (!upgraded) return finish(() => verdict.refused());
        judge();
      });
    });
  },
};

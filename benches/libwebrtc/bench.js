// rtcpeer bench: the data-channel transfers of `rtcpeer bench` through Google's libwebrtc
// (the @roamhq/wrtc Node binding), two peer connections in this process, host candidates only
// (addresses of this machine), candidates trickled in memory.
//
//   node bench.js datachannel-throughput --size 65536 --channels 1 --seconds 5
//       prints {"value": MB/s, "unit": "MB/s"}: payload bytes the receiving side got per second
//   node bench.js connect-time --runs 100
//       prints {"median_ms": X, "p95_ms": Y}: createOffer until the channel is open on both sides
//
// Senders keep the same 1 MiB high-water mark as rtcpeer's send (refilled at 512 KiB). Progress and
// errors go to stderr; the last stdout line is the result.
'use strict';

const { RTCPeerConnection } = require('@roamhq/wrtc');

const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 512 * 1024;
const CONNECT_LIMIT_MS = 20000;

function args(argv) {
  const out = { bench: argv[0], size: 65536, channels: 1, seconds: 5, runs: 100 };
  for (let i = 1; i + 1 < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(key in out) || !Number.isFinite(value) || value <= 0) {
      throw new Error(`bad argument ${argv[i]} ${argv[i + 1]}`);
    }
    out[key] = value;
  }
  return out;
}

// UDP host candidates only: the traffic stays on this machine.
function wanted(candidate) {
  return candidate && / udp /i.test(candidate.candidate) && / typ host/.test(candidate.candidate);
}

function opened(channel) {
  return new Promise((resolve, reject) => {
    if (channel.readyState === 'open') return resolve(channel);
    channel.onopen = () => resolve(channel);
    channel.onerror = (e) => reject(new Error(`channel error: ${e && e.error}`));
  });
}

function withLimit(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// Connects two peers with `count` reliable ordered channels; resolves once all are open on both sides.
async function connect(count) {
  const a = new RTCPeerConnection({ iceServers: [] });
  const b = new RTCPeerConnection({ iceServers: [] });
  a.onicecandidate = (e) => wanted(e.candidate) && b.addIceCandidate(e.candidate).catch(() => {});
  b.onicecandidate = (e) => wanted(e.candidate) && a.addIceCandidate(e.candidate).catch(() => {});
  const remote = [];
  const remoteOpen = new Promise((resolve) => {
    b.ondatachannel = (e) => {
      e.channel.binaryType = 'arraybuffer';
      remote.push(opened(e.channel));
      if (remote.length === count) resolve(Promise.all(remote));
    };
  });
  const local = [];
  for (let i = 0; i < count; i++) {
    const channel = a.createDataChannel(String(i));
    channel.binaryType = 'arraybuffer';
    local.push(channel);
  }
  // From the offer on, as rtcpeer's connect time (channels made before, as there).
  const start = process.hrtime.bigint();
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  const [localChannels, remoteChannels] = await withLimit(
    Promise.all([Promise.all(local.map(opened)), remoteOpen]),
    CONNECT_LIMIT_MS,
    'connecting',
  );
  const connectMs = Number(process.hrtime.bigint() - start) / 1e6;
  remoteChannels.sort((x, y) => Number(x.label) - Number(y.label));
  return { a, b, local: localChannels, remote: remoteChannels, connectMs };
}

function close(pair) {
  pair.a.close();
  pair.b.close();
}

async function throughput({ size, channels, seconds }) {
  const pair = await connect(channels);
  const payload = Buffer.alloc(size, 7);
  let received = 0;
  for (const channel of pair.remote) {
    channel.onmessage = (e) => {
      received += e.data.byteLength !== undefined ? e.data.byteLength : e.data.length;
    };
  }
  let running = true;
  for (const channel of pair.local) {
    channel.bufferedAmountLowThreshold = LOW_WATER;
    // The binding updates `bufferedAmount` asynchronously, so each refill sends what fits as read once.
    const fill = () => {
      if (!running || channel.readyState !== 'open') return;
      const room = Math.ceil((HIGH_WATER - channel.bufferedAmount) / size);
      for (let i = 0; i < room; i++) channel.send(payload);
    };
    channel.onbufferedamountlow = fill;
    fill();
  }
  // @roamhq/wrtc 0.10.0 never fires `bufferedamountlow` (seen here: the amount falls to 0, no event),
  // so the senders are also refilled every millisecond.
  const refill = setInterval(() => {
    for (const channel of pair.local) {
      if (channel.bufferedAmount <= LOW_WATER) channel.onbufferedamountlow();
    }
  }, 1);
  const start = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const bytes = received;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  running = false;
  clearInterval(refill);
  close(pair);
  if (bytes === 0) throw new Error('no message arrived');
  return { value: bytes / 1e6 / elapsed, unit: 'MB/s' };
}

function quantile(sorted, q) {
  const rank = Math.min(Math.max(Math.ceil(q * sorted.length), 1), sorted.length);
  return sorted[rank - 1];
}

async function connectTime({ runs }) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const pair = await connect(1);
    times.push(pair.connectMs);
    close(pair);
  }
  times.sort((x, y) => x - y);
  return { median_ms: quantile(times, 0.5), p95_ms: quantile(times, 0.95) };
}

async function main() {
  const options = args(process.argv.slice(2));
  let result;
  if (options.bench === 'datachannel-throughput') {
    result = await throughput(options);
  } else if (options.bench === 'connect-time') {
    result = await connectTime(options);
  } else {
    throw new Error(`unknown bench ${options.bench}; datachannel-throughput or connect-time`);
  }
  console.log(JSON.stringify(result));
  // The binding keeps threads alive after close; the result is out, so leave.
  process.exit(0);
}

main().catch((error) => {
  console.error(`libwebrtc bench: ${error.message}`);
  process.exit(1);
});

// The interop peer that runs inside a real browser page.
//
// It speaks the harness protocol (see interop/README.md) through the Node
// driver that served this page: `GET /config` gives role, scenario and count,
// `GET /in` waits for the next signaling line read from the driver's stdin,
// `POST /out` writes a signaling line to its stdout, `POST /log` a line to its
// stderr, and `POST /done` ends the run with an exit code.
'use strict';

// ---------------------------------------------------------------- messages --
// The deterministic message set; the same definition is in aiortc_peer.py.
const SIZES = [1, 1200, 65536, 65536, 16, 300, 4096, 16384, 1000, 40000, 2, 8191];
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function messageSize(i, count) {
  if (count < 4 && i === count - 1) return 65536;
  return SIZES[i % SIZES.length];
}

function makeMessage(i, count) {
  const size = messageSize(i, count);
  if (i % 2 === 0) {
    const tag = `${i}:`;
    let s = size >= tag.length ? tag : '';
    const chars = [];
    for (let j = s.length; j < size; j++) chars.push(ALPHABET[(i * 7 + j) % ALPHABET.length]);
    return s + chars.join('');
  }
  const b = new Uint8Array(size);
  for (let j = 0; j < size; j++) b[j] = (i * 131 + j * 17 + (j >> 8)) & 0xff;
  return b;
}

function describe(m) {
  return typeof m === 'string' ? `text(${m.length})` : `binary(${m.byteLength})`;
}

function sameMessage(expected, got) {
  if (typeof expected === 'string') return typeof got === 'string' && got === expected;
  if (!(got instanceof ArrayBuffer)) return false;
  const g = new Uint8Array(got);
  if (g.length !== expected.length) return false;
  for (let j = 0; j < g.length; j++) if (g[j] !== expected[j]) return false;
  return true;
}

function key(m) {
  if (typeof m === 'string') return 't' + m;
  const b = m instanceof ArrayBuffer ? new Uint8Array(m) : m;
  let h = 0x811c9dc5;
  for (let j = 0; j < b.length; j++) h = Math.imul(h ^ b[j], 16777619) >>> 0;
  return `b${b.length}:${h}`;
}

// ------------------------------------------------------------------ driver --
async function post(path, body) {
  const r = await fetch(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  if (!r.ok) throw new Error(`POST ${path}: ${r.status}`);
}
const log = (msg) => post('/log', msg).catch(() => {});
let finished = false;
async function done(code, message) {
  if (finished) return;
  finished = true;
  await post('/done', { code, message }).catch(() => {});
}
async function input() {
  for (;;) {
    const r = await fetch('/in');
    if (r.status === 200) return JSON.parse(await r.text());
    if (r.status !== 204) throw new Error(`GET /in: ${r.status}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitFor(target, event, pred, ms, what) {
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const t = setTimeout(() => {
      target.removeEventListener(event, h);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const h = () => {
      if (pred()) {
        clearTimeout(t);
        target.removeEventListener(event, h);
        resolve();
      }
    };
    target.addEventListener(event, h);
  });
}

async function gatheringComplete(pc) {
  await waitFor(pc, 'icegatheringstatechange', () => pc.iceGatheringState === 'complete', 20000, 'ICE gathering');
}

function watchStates(pc) {
  pc.addEventListener('connectionstatechange', () => log(`connectionState ${pc.connectionState}`));
  pc.addEventListener('iceconnectionstatechange', () => log(`iceConnectionState ${pc.iceConnectionState}`));
  pc.addEventListener('icecandidateerror', (e) =>
    log(`icecandidateerror ${e.errorCode} ${e.errorText} (${e.url}, ${e.address}:${e.port})`),
  );
}

// The connection's configuration: no servers unless the driver was given some.
function rtcConfig(cfg) {
  return cfg.rtcConfig || { iceServers: [] };
}

// The selected candidate pair as getStats reports it: `{local, remote}` candidate stats.
async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!pair) return null;
  return { local: stats.get(pair.localCandidateId), remote: stats.get(pair.remoteCandidateId) };
}

// With cfg.expectRelay: fails unless the selected pair's local candidate is relayed; describes the pair.
async function checkRelay(pc, cfg) {
  if (!cfg.expectRelay) return '';
  const pair = await selectedPair(pc);
  if (!pair || !pair.local) throw new Error('getStats has no selected candidate pair');
  const { local, remote } = pair;
  const text = `selected pair local ${local.candidateType}/${local.relayProtocol || '-'} ${local.address}:${local.port}` +
    ` remote ${remote ? `${remote.candidateType} ${remote.address}:${remote.port}` : '?'}`;
  log(text);
  if (local.candidateType !== 'relay') throw new Error(`expected a relayed local candidate: ${text}`);
  return `; ${text}`;
}

function channelInit(scenario) {
  switch (scenario) {
    case 'reliable':
    case 'close':
      return ['chat', {}];
    case 'unordered':
      return ['lossy', { ordered: false, maxRetransmits: 0 }];
    case 'negotiated':
      return ['negotiated', { negotiated: true, id: 7 }];
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

// ---------------------------------------------------------------- answerer --
async function answerer(cfg) {
  const pc = new RTCPeerConnection(rtcConfig(cfg));
  watchStates(pc);
  let connected = false;
  const opened = new Set();
  const closed = new Set();
  let echoes = 0;
  let resolveEnd;
  const end = new Promise((r) => (resolveEnd = r));

  const attach = (ch) => {
    ch.binaryType = 'arraybuffer';
    const name = `${ch.label}#${ch.id}`;
    ch.onopen = () => {
      opened.add(ch);
      log(`channel ${name} open (ordered=${ch.ordered} maxRetransmits=${ch.maxRetransmits})`);
    };
    if (ch.readyState === 'open') ch.onopen();
    ch.onmessage = (e) => {
      echoes++;
      try {
        ch.send(e.data);
      } catch (err) {
        log(`echo on ${name} failed: ${err}`);
      }
    };
    ch.onclose = () => {
      closed.add(ch);
      log(`channel ${name} closed after ${echoes} echoes in total`);
      if ([...opened].every((c) => closed.has(c))) resolveEnd('channels');
    };
  };
  pc.addEventListener('connectionstatechange', () => {
    const s = pc.connectionState;
    if (s === 'connected') connected = true;
    else if (s === 'failed') resolveEnd('failed');
    else if (connected && (s === 'disconnected' || s === 'closed')) resolveEnd('left');
  });
  if (cfg.scenario === 'negotiated') {
    const [label, init] = channelInit('negotiated');
    attach(pc.createDataChannel(label, init));
  }
  pc.ondatachannel = (e) => attach(e.channel);

  const offer = await input();
  if (offer.type !== 'offer') throw new Error(`expected an offer line, got type ${offer.type}`);
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription();
  await gatheringComplete(pc);
  await post('/out', { type: 'answer', sdp: pc.localDescription.sdp });
  log('answer sent; echoing');

  const why = await end;
  if (!connected) throw new Error(`connection ${pc.connectionState} before it was ever connected`);
  if (why === 'failed' && closed.size === 0) throw new Error(`connection failed after ${echoes} echoes`);
  if (opened.size === 0) throw new Error('connection ended but the remote never opened a channel');
  if (cfg.scenario === 'close') {
    if (closed.size === 0) throw new Error(`connection ${pc.connectionState} but no channel close was seen`);
    // The remote closes the channel first, then the connection: wait until we see the connection go.
    await waitFor(
      pc,
      'connectionstatechange',
      () => pc.connectionState !== 'connected',
      cfg.closeWaitMs,
      'the connection to leave "connected" after the remote closed',
    );
    return `channel close seen after ${echoes} echoes; connection left connected (${pc.connectionState})`;
  }
  return `remote closed after ${echoes} echoes on ${opened.size} channel(s) (connection ${pc.connectionState})`;
}

// ----------------------------------------------------------------- offerer --
async function offerer(cfg) {
  const pc = new RTCPeerConnection(rtcConfig(cfg));
  watchStates(pc);
  const [label, init] = channelInit(cfg.scenario);
  const ch = pc.createDataChannel(label, init);
  ch.binaryType = 'arraybuffer';
  ch.bufferedAmountLowThreshold = 256 * 1024;
  const received = [];
  let lastArrival = 0;
  let notify = () => {};
  ch.onmessage = (e) => {
    received.push(e.data);
    lastArrival = performance.now();
    notify();
  };
  let channelClosed = false;
  ch.onclose = () => {
    channelClosed = true;
    notify();
  };
  pc.addEventListener('connectionstatechange', () => notify());

  await pc.setLocalDescription();
  await gatheringComplete(pc);
  await post('/out', { type: 'offer', sdp: pc.localDescription.sdp });
  const answer = await input();
  if (answer.type !== 'answer') throw new Error(`expected an answer line, got type ${answer.type}`);
  await pc.setRemoteDescription(answer);
  await waitFor(ch, 'open', () => ch.readyState === 'open', cfg.openWaitMs, `channel ${label} to open`);
  log(`channel ${label}#${ch.id} open`);

  const total = cfg.scenario === 'close' ? Math.min(cfg.count, 5) : cfg.count;
  const sent = [];
  const waitEvent = (ms) =>
    new Promise((r) => {
      const t = setTimeout(r, ms);
      notify = () => {
        clearTimeout(t);
        r();
      };
    });
  const checkAlive = () => {
    if (channelClosed) throw new Error(`channel closed by the remote after ${received.length} echoes`);
    if (['failed', 'closed', 'disconnected'].includes(pc.connectionState))
      throw new Error(`connection ${pc.connectionState} after ${received.length} echoes`);
  };
  for (let i = 0; i < total; i++) {
    while (ch.bufferedAmount > 1024 * 1024) {
      checkAlive();
      await waitEvent(50);
    }
    checkAlive();
    const m = makeMessage(i, total);
    sent.push(m);
    ch.send(m);
  }
  log(`sent ${total} messages`);

  if (init.maxRetransmits === 0) {
    // Unordered, unreliable: wait for everything or a quiet second, then audit.
    lastArrival = performance.now();
    while (received.length < total && performance.now() - lastArrival < cfg.quietMs) {
      checkAlive();
      await waitEvent(100);
    }
    const want = new Map();
    for (const m of sent) want.set(key(m), (want.get(key(m)) || 0) + 1);
    for (const [n, got] of received.entries()) {
      const k = key(got);
      const left = want.get(k);
      if (left === undefined) throw new Error(`echo #${n} (${describe(got)}) matches no message that was sent`);
      if (left === 0) throw new Error(`echo #${n} (${describe(got)}) is a duplicate`);
      want.set(k, left - 1);
    }
    const need = Math.ceil(total * cfg.minUnordered);
    if (received.length < need) throw new Error(`only ${received.length}/${total} echoes came back (need ${need})`);
    pc.close();
    await sleep(200);
    return `${received.length}/${total} unordered echoes came back, none corrupted or duplicated`;
  }

  const deadline = performance.now() + cfg.echoWaitMs;
  let checked = 0;
  while (checked < total) {
    while (checked < received.length) {
      const got = received[checked];
      if (!sameMessage(sent[checked], got))
        throw new Error(`echo #${checked} is ${describe(got)}, expected ${describe(sent[checked])} (content or order wrong)`);
      checked++;
    }
    if (checked === total) break;
    checkAlive();
    if (performance.now() > deadline) throw new Error(`only ${checked}/${total} echoes within ${cfg.echoWaitMs} ms`);
    await waitEvent(200);
  }
  const relay = await checkRelay(pc, cfg);
  if (cfg.scenario === 'close') {
    ch.close();
    await waitFor(ch, 'close', () => ch.readyState === 'closed', 10000, `channel ${label} to finish closing`);
    log('channel closed; closing the connection');
  }
  pc.close();
  await sleep(200);
  return `${checked}/${total} echoes byte-exact and in order${relay}`;
}

// -------------------------------------------------------------------- main --
(async () => {
  const cfg = await (await fetch('/config')).json();
  try {
    const summary = await (cfg.scenario === 'perfect-negotiation'
      ? perfectNegotiation(cfg) // perfect.js
      : cfg.role === 'offerer'
        ? offerer(cfg)
        : answerer(cfg));
    await done(0, summary);
  } catch (err) {
    await done(1, String(err && err.message ? err.message : err));
  }
})();

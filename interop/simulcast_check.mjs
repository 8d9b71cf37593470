#!/usr/bin/env node
// Checks that `rtcpeer serve --record` receives rid simulcast from a real browser.
//
//   node simulcast_check.mjs --browser chromium [--mode receive] [--codec vp8|h264]
//                            [--mdns on|off] [--out DIR] [--timeout SECONDS] [--seconds S]
//
// The browser opens the server's page (a secure context), takes its fake camera at
// 1280x720 and sends it with
//   addTransceiver(track, {sendEncodings: [{rid: 'q', scaleResolutionDownBy: 4},
//                                          {rid: 'h', scaleResolutionDownBy: 2}, {rid: 'f'}]})
// POSTing the complete offer to /whip. The answer must accept the three layers
// (`a=rid:<rid> recv` each and `a=simulcast:recv q;h;f`). After --seconds (8) of sending and a
// DELETE, each layer must be recorded to its own file (`<session>-<mid>-<rid>.ivf`) in which
// ffprobe decodes >= 30 frames, and the three files' frame sizes must differ (largest for f).
// The browser's outbound-rtp stats per rid and its bandwidth estimate are logged.
// The last stderr line is `PASS …` or `FAIL <why>`; exit 0 on pass. Run inside ns.sh.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAKE_MEDIA, fail, openPage, run, sleep, startCheck, startServer, waitConnected } from './lib/serve.mjs';

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: simulcast_check.mjs --browser chromium [--mode receive] [--codec vp8|h264] ` +
      `[--mdns on|off] [--out DIR] [--timeout S] [--seconds S]\n`,
  );
  process.exit(64);
}

function parseArgs(argv) {
  const o = { browser: null, mode: 'receive', codec: 'vp8', mdns: 'off', out: null, timeout: 60, seconds: 8 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--browser') o.browser = val();
    else if (a === '--mode') o.mode = val();
    else if (a === '--codec') o.codec = val();
    else if (a === '--mdns') o.mdns = val();
    else if (a === '--out') o.out = val();
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--seconds') o.seconds = Number(val());
    else usage(`unknown argument ${a}`);
  }
  if (o.browser !== 'chromium') usage('--browser must be chromium (the only peer here that sends rid simulcast)');
  if (o.mode !== 'receive') usage('--mode must be receive');
  if (!['vp8', 'h264'].includes(o.codec)) usage('--codec must be vp8 or h264');
  if (!['on', 'off'].includes(o.mdns)) usage('--mdns must be on or off');
  if (!(o.timeout > 0)) usage('--timeout must be positive');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const check = startCheck(`[simulcast-${opts.mode} ${opts.browser} ${opts.codec}]`, opts.timeout);
const { log, doing } = check;

// ----------------------------------------------------------------- helpers --
/** ffprobe's decoded-frame count and the sizes of the decoded frames of the file's first stream. */
function probe(file) {
  const out = run('ffprobe', [
    '-v', 'error', '-show_entries', 'frame=width,height:stream=codec_name', '-of', 'json', file,
  ]);
  const json = JSON.parse(out);
  const stream = (json.streams || [])[0] || {};
  const sizes = new Map();
  for (const f of json.frames || []) {
    const size = `${f.width}x${f.height}`;
    sizes.set(size, (sizes.get(size) || 0) + 1);
  }
  // The size most frames have (the encoder may adapt a layer's size for a moment).
  const main = [...sizes.entries()].sort((x, y) => y[1] - x[1])[0];
  return { codec: stream.codec_name, frames: (json.frames || []).length, size: main ? main[0] : 'none', sizes: Object.fromEntries(sizes) };
}

// --------------------------------------------------------- in the browser --
/** Runs in the page: sends the fake camera as three rid layers; POSTs the complete offer to /whip. */
async function connect({ codec, rids }) {
  const m = { states: [] };
  window.m = m;
  const pc = new RTCPeerConnection();
  m.pc = pc;
  pc.addEventListener('connectionstatechange', () => m.states.push(pc.connectionState));
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 } });
  const [track] = stream.getVideoTracks();
  const scales = { q: 4, h: 2, f: 1 };
  const t = pc.addTransceiver(track, {
    direction: 'sendonly',
    streams: [stream],
    sendEncodings: rids.map((rid) => ({ rid, scaleResolutionDownBy: scales[rid] })),
  });
  const caps = RTCRtpSender.getCapabilities('video').codecs;
  const chosen = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`);
  if (!chosen.length) return { error: `the browser cannot send ${codec}` };
  t.setCodecPreferences(chosen.concat(caps.filter((c) => !chosen.includes(c))));
  await pc.setLocalDescription();
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) => {
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      setTimeout(resolve, 5000);
    });
  }
  const post = await fetch('/whip', {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  const answer = await post.text();
  if (post.status !== 201) return { error: `POST /whip answered ${post.status}: ${answer.slice(0, 200)}` };
  m.resource = post.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const video = answer.split('m=video')[1] || '';
  return {
    location: m.resource,
    offerVideo: (pc.localDescription.sdp.split('m=video')[1] || '').split('\r\n').filter((l) => /^a=(rid|simulcast)/.test(l)),
    answerVideo: video.split('\r\n').filter((l) => /^a=(rid|simulcast|rtcp-fb:\d+ (transport-cc|goog-remb))/.test(l)),
  };
}

/** Runs in the page: outbound-rtp per rid and the bandwidth estimate. */
async function layerStats() {
  const report = await window.m.pc.getStats();
  const layers = {};
  let estimate = null;
  report.forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      layers[r.rid || '-'] = {
        frames: r.framesEncoded || 0,
        size: `${r.frameWidth || 0}x${r.frameHeight || 0}`,
        kbitSent: Math.round(((r.bytesSent || 0) * 8) / 1000),
        limit: r.qualityLimitationReason,
        active: r.active,
      };
    } else if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate) {
      estimate = Math.round(r.availableOutgoingBitrate / 1000);
    }
  });
  return { layers, estimateKbps: estimate, state: window.m.pc.connectionState };
}

// ------------------------------------------------------------------ checks --
const RIDS = ['q', 'h', 'f'];

async function checkReceive(page, recDir, serverLines) {
  doing('connecting with three simulcast layers');
  const c = await page.evaluate(connect, { codec: opts.codec, rids: RIDS });
  if (c.error) fail(c.error);
  log(`201, Location ${c.location}`);
  log(`offer: ${c.offerVideo.join(' | ')}`);
  log(`answer: ${c.answerVideo.join(' | ')}`);
  for (const rid of RIDS) if (!c.answerVideo.includes(`a=rid:${rid} recv`)) fail(`the answer has no a=rid:${rid} recv`);
  if (!c.answerVideo.includes(`a=simulcast:recv ${RIDS.join(';')}`)) fail('the answer has no a=simulcast:recv q;h;f');
  await waitConnected(check, page);
  doing(`sending for ${opts.seconds} s`);
  for (let s = 0; s < opts.seconds; s += 2) {
    await sleep(2000);
    const stats = await page.evaluate(layerStats);
    log(`browser: estimate ${stats.estimateKbps} kbps, layers ${JSON.stringify(stats.layers)}`);
  }
  doing('DELETE the session');
  const status = await page.evaluate(async () => (await fetch(window.m.resource, { method: 'DELETE' })).status);
  if (status !== 200) fail(`DELETE answered ${status}`);
  doing('waiting for the three recordings to be finished');
  const until = Date.now() + 10000;
  const finished = () => serverLines.filter((l) => l.includes('recording finished')).length;
  while (finished() < RIDS.length) {
    if (Date.now() > until) fail(`${finished()} of ${RIDS.length} recordings finished 10 s after DELETE`);
    await sleep(100);
  }
  const files = fs.readdirSync(recDir).sort();
  const ext = opts.codec === 'vp8' ? '.ivf' : '.h264';
  const results = {};
  for (const rid of RIDS) {
    const file = files.find((f) => f.endsWith(`-${rid}${ext}`));
    if (!file) fail(`no recording for rid ${rid}; recorded files: ${files.join(', ') || 'none'}`);
    const p = probe(path.join(recDir, file));
    log(`ffprobe ${file}: ${p.codec} ${p.frames} frames, sizes ${JSON.stringify(p.sizes)}`);
    results[rid] = p;
  }
  for (const rid of RIDS) if (results[rid].frames < 30) fail(`layer ${rid}: ffprobe decodes ${results[rid].frames} frames, expected >= 30`);
  const area = (size) => size.split('x').reduce((a, b) => a * Number(b), 1);
  const sizes = RIDS.map((rid) => results[rid].size);
  if (new Set(sizes).size !== RIDS.length) fail(`the layers' frame sizes are not three different ones: ${sizes.join(', ')}`);
  if (!(area(results.q.size) < area(results.h.size) && area(results.h.size) < area(results.f.size)))
    fail(`the layers' sizes are not q < h < f: ${sizes.join(', ')}`);
  return `simulcast ${opts.codec}: ${RIDS.map((rid) => `${rid} ${results[rid].frames} frames ${results[rid].size}`).join(', ')}`;
}

// -------------------------------------------------------------------- main --
await check.run(async () => {
  const workDir = opts.out ? path.resolve(opts.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'simulcast-check-'));
  if (!opts.out) check.atFinish(() => fs.rmSync(workDir, { recursive: true, force: true }));
  fs.mkdirSync(workDir, { recursive: true });
  const recDir = path.join(workDir, 'recorded');
  fs.rmSync(recDir, { recursive: true, force: true });
  doing('starting rtcpeer serve');
  const { base, lines } = await startServer(check, ['--record', recDir]);
  const page = await openPage(check, opts.browser, opts.mdns, FAKE_MEDIA);
  doing(`opening ${base}/`);
  await page.goto(`${base}/`);
  return checkReceive(page, recDir, lines);
});

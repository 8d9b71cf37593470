#!/usr/bin/env node
// Checks media between `rtcpeer serve` and a real headless browser.
//
//   node media_check.mjs --browser chromium|firefox --mode record|play|reflect
//                        [--codec vp8|h264] [--mdns on|off] [--out DIR] [--timeout SECONDS]
//
// The browser opens the server's page (http://127.0.0.1:PORT/, a secure context with
// loopback candidates), runs its own RTCPeerConnection there, POSTs the complete offer to
// /whip and DELETEs the session at the end.
//   record:  the browser sends its fake camera and microphone for 4.5 s to
//            `serve --record DIR`; after DELETE, ffprobe must find >= 60 decodable video
//            frames and >= 2 s of audio in the recorded files.
//   play:    ffmpeg makes a 3 s test-pattern video (VP8 IVF, or H.264 Annex B) and a sine
//            tone (Ogg Opus); `serve --play` sends them; the browser's getStats() must show
//            inbound video framesDecoded >= 60 and audio packetsReceived growing.
//   reflect: the browser sends its camera to `serve --reflect` and must decode what comes
//            back: inbound video framesDecoded >= 30 and still growing.
// --codec puts the codec first with setCodecPreferences (and picks the played file's codec).
// The last stderr line is `PASS …` or `FAIL <why>`; exit 0 on pass. Run inside ns.sh.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAKE_MEDIA, fail, openPage, run, sleep, startCheck, startServer, waitConnected } from './lib/serve.mjs';

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: media_check.mjs --browser chromium|firefox --mode record|play|reflect ` +
      `[--codec vp8|h264] [--mdns on|off] [--out DIR] [--timeout S]\n`,
  );
  process.exit(64);
}

function parseArgs(argv) {
  const o = { browser: null, mode: null, codec: 'vp8', mdns: 'off', out: null, timeout: 45 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--browser') o.browser = val();
    else if (a === '--mode') o.mode = val();
    else if (a === '--codec') o.codec = val();
    else if (a === '--mdns') o.mdns = val();
    else if (a === '--out') o.out = val();
    else if (a === '--timeout') o.timeout = Number(val());
    else usage(`unknown argument ${a}`);
  }
  if (!['chromium', 'firefox'].includes(o.browser)) usage('--browser must be chromium or firefox');
  if (!['record', 'play', 'reflect'].includes(o.mode)) usage('--mode must be record, play or reflect');
  if (!['vp8', 'h264'].includes(o.codec)) usage('--codec must be vp8 or h264');
  if (!['on', 'off'].includes(o.mdns)) usage('--mdns must be on or off');
  if (!(o.timeout > 0)) usage('--timeout must be positive');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const check = startCheck(`[media-${opts.mode} ${opts.browser} ${opts.codec}]`, opts.timeout);
const { log, doing } = check;

// ----------------------------------------------------------------- helpers --
/** Encodes the files `--play` sends: a test pattern (keyframe every second) and a tone. */
function makeMedia(dir) {
  const video = path.join(dir, opts.codec === 'vp8' ? 'video.ivf' : 'video.h264');
  const audio = path.join(dir, 'audio.ogg');
  const encoder =
    opts.codec === 'vp8'
      ? ['-c:v', 'libvpx', '-b:v', '600k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '30']
      : ['-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '30', '-bf', '0'];
  // 3 s is enough: the server loops the files.
  run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-t', '3', ...encoder, video]);
  run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '3', '-c:a', 'libopus', audio]);
  return [video, audio];
}

/** ffprobe's decoded-frame count and duration of the file's first stream. */
function probe(file) {
  const out = run('ffprobe', [
    '-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames,duration:format=duration',
    '-of', 'json', file,
  ]);
  const json = JSON.parse(out);
  const stream = (json.streams || [])[0] || {};
  const duration = Number(stream.duration ?? json.format?.duration ?? 0);
  return { codec: stream.codec_name, frames: Number(stream.nb_read_frames || 0), duration };
}

// --------------------------------------------------------- in the browser --
/**
 * Runs in the page: a connection that sends the fake camera/microphone (`send`) or receives
 * only, with `codec` preferred; POSTs the complete offer to /whip. Leaves it in `window.m`.
 */
async function connect({ send, codec }) {
  const m = { states: [] };
  window.m = m;
  const pc = new RTCPeerConnection();
  m.pc = pc;
  pc.addEventListener('connectionstatechange', () => m.states.push(pc.connectionState));
  m.tracks = [];
  pc.addEventListener('track', (e) => m.tracks.push(e.track.kind));
  const prefer = (transceiver) => {
    if (!codec) return null;
    const caps = RTCRtpReceiver.getCapabilities('video').codecs;
    const chosen = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`);
    if (!chosen.length) return `the browser cannot receive ${codec}`;
    if (send) {
      const sendCaps = RTCRtpSender.getCapabilities('video').codecs;
      if (!sendCaps.some((c) => c.mimeType.toLowerCase() === `video/${codec}`)) return `the browser cannot send ${codec}`;
    }
    if (!transceiver.setCodecPreferences) return 'no setCodecPreferences';
    transceiver.setCodecPreferences(chosen.concat(caps.filter((c) => !chosen.includes(c))));
    return null;
  };
  if (send) {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 480, frameRate: 30 },
      audio: true,
    });
    for (const track of stream.getTracks()) {
      const t = pc.addTransceiver(track, { direction: send === 'only' ? 'sendonly' : 'sendrecv', streams: [stream] });
      if (track.kind === 'video') {
        const why = prefer(t);
        if (why) return { error: why };
      }
    }
  } else {
    const why = prefer(pc.addTransceiver('video', { direction: 'recvonly' }));
    if (why) return { error: why };
    pc.addTransceiver('audio', { direction: 'recvonly' });
  }
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
  const videoCodec = /^a=rtpmap:\d+ ([^/]+)\/90000/m.exec(answer.split('m=video')[1] || '');
  return { location: m.resource, answerVideoCodec: videoCodec ? videoCodec[1] : null };
}

/** Runs in the page: the summed RTP stats that matter here, and the codecs in use. */
async function rtpStats() {
  const report = await window.m.pc.getStats();
  const s = { video: { framesDecoded: 0, packetsReceived: 0 }, audio: { packetsReceived: 0 }, out: { framesEncoded: 0, audioPackets: 0 }, codecs: [] };
  const codecs = new Map();
  report.forEach((r) => {
    if (r.type === 'codec') codecs.set(r.id, r.mimeType);
  });
  report.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      s.video.framesDecoded += r.framesDecoded || 0;
      s.video.packetsReceived += r.packetsReceived || 0;
      if (r.codecId) s.codecs.push(`in ${codecs.get(r.codecId)}`);
    } else if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      s.audio.packetsReceived += r.packetsReceived || 0;
      if (r.codecId) s.codecs.push(`in ${codecs.get(r.codecId)}`);
    } else if (r.type === 'outbound-rtp' && r.kind === 'video') {
      s.out.framesEncoded += r.framesEncoded || 0;
      if (r.codecId) s.codecs.push(`out ${codecs.get(r.codecId)}`);
    } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
      s.out.audioPackets += r.packetsSent || 0;
    }
  });
  s.state = window.m.pc.connectionState;
  return s;
}

// ------------------------------------------------------------------ checks --
async function deleteSession(page) {
  doing('DELETE the session');
  const status = await page.evaluate(async () => (await fetch(window.m.resource, { method: 'DELETE' })).status);
  if (status !== 200) fail(`DELETE answered ${status}`);
}

const expectedCodec = () => (opts.codec === 'vp8' ? 'video/VP8' : 'video/H264');
function checkCodecs(stats, direction) {
  const used = stats.codecs.filter((c) => c.startsWith(direction) && c.includes('video'));
  if (!used.some((c) => c.toLowerCase().endsWith(expectedCodec().toLowerCase())))
    fail(`${direction}bound video codec is ${used.join(', ') || 'unknown'}, expected ${expectedCodec()}`);
}

async function checkRecord(page, recDir, serverLines) {
  doing('connecting with camera and microphone');
  const c = await page.evaluate(connect, { send: 'only', codec: opts.codec });
  if (c.error) fail(c.error);
  log(`201, Location ${c.location}, answer's first video codec ${c.answerVideoCodec}`);
  await waitConnected(check, page);
  doing('sending for 4.5 s');
  await sleep(4500);
  const stats = await page.evaluate(rtpStats);
  log(`sent: ${JSON.stringify(stats.out)}, ${stats.codecs.join(', ')}`);
  checkCodecs(stats, 'out');
  await deleteSession(page);
  doing('waiting for both recordings to be finished');
  const until = Date.now() + 10000;
  const finished = () => serverLines.filter((l) => l.includes('recording finished')).length;
  while (finished() < 2) {
    if (Date.now() > until) fail(`${finished()} of 2 recordings finished 10 s after DELETE`);
    await sleep(100);
  }
  const files = fs.readdirSync(recDir).sort();
  const video = files.find((f) => f.endsWith(opts.codec === 'vp8' ? '.ivf' : '.h264'));
  const audio = files.find((f) => f.endsWith('.ogg'));
  if (!video || !audio) fail(`recorded files: ${files.join(', ') || 'none'}; expected a video and an .ogg`);
  const v = probe(path.join(recDir, video));
  const a = probe(path.join(recDir, audio));
  log(`ffprobe: ${video}: ${v.codec} ${v.frames} frames; ${audio}: ${a.codec} ${a.duration.toFixed(2)} s, ${a.frames} frames`);
  if (v.frames < 60) fail(`ffprobe decodes ${v.frames} video frames from ${video}, expected >= 60`);
  if (!(a.duration >= 2)) fail(`ffprobe finds ${a.duration} s of audio in ${audio}, expected >= 2`);
  return `record ${opts.codec}: ${v.codec} ${v.frames} frames decodable, opus ${a.duration.toFixed(2)} s (${a.frames} packets)`;
}

async function checkPlay(page) {
  doing('connecting receive-only');
  const c = await page.evaluate(connect, { send: null, codec: opts.codec });
  if (c.error) fail(c.error);
  log(`201, answer's first video codec ${c.answerVideoCodec}`);
  await waitConnected(check, page);
  doing('waiting for 60 decoded video frames');
  const until = Date.now() + 12000;
  let stats;
  for (;;) {
    stats = await page.evaluate(rtpStats);
    if (stats.video.framesDecoded >= 60) break;
    if (Date.now() > until) fail(`inbound video framesDecoded ${stats.video.framesDecoded} after 12 s (packets ${stats.video.packetsReceived}), expected >= 60`);
    await sleep(200);
  }
  checkCodecs(stats, 'in');
  const audioBefore = stats.audio.packetsReceived;
  await sleep(1000);
  const later = await page.evaluate(rtpStats);
  if (!(later.audio.packetsReceived > audioBefore)) fail(`inbound audio packetsReceived stuck at ${audioBefore}`);
  await deleteSession(page);
  return `play ${opts.codec}: framesDecoded ${stats.video.framesDecoded}, audio packetsReceived ${audioBefore} -> ${later.audio.packetsReceived} in 1 s (${later.codecs.join(', ')})`;
}

async function checkReflect(page) {
  doing('connecting with camera and microphone, sendrecv');
  const c = await page.evaluate(connect, { send: 'recv', codec: opts.codec });
  if (c.error) fail(c.error);
  log(`201, answer's first video codec ${c.answerVideoCodec}`);
  await waitConnected(check, page);
  doing('waiting for 30 decoded reflected frames');
  const until = Date.now() + 12000;
  let stats;
  for (;;) {
    stats = await page.evaluate(rtpStats);
    if (stats.video.framesDecoded >= 30) break;
    if (Date.now() > until) fail(`inbound video framesDecoded ${stats.video.framesDecoded} after 12 s (packets ${stats.video.packetsReceived}, sent ${stats.out.framesEncoded} frames)`);
    await sleep(200);
  }
  checkCodecs(stats, 'in');
  await sleep(1000);
  const later = await page.evaluate(rtpStats);
  if (!(later.video.framesDecoded > stats.video.framesDecoded)) fail(`framesDecoded stuck at ${stats.video.framesDecoded}`);
  await deleteSession(page);
  return `reflect ${opts.codec}: framesDecoded ${stats.video.framesDecoded} -> ${later.video.framesDecoded} in 1 s, audio in ${later.audio.packetsReceived} packets (${later.codecs.join(', ')})`;
}

// -------------------------------------------------------------------- main --
await check.run(async () => {
  const workDir = opts.out ? path.resolve(opts.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'media-check-'));
  if (!opts.out) check.atFinish(() => fs.rmSync(workDir, { recursive: true, force: true }));
  fs.mkdirSync(workDir, { recursive: true });
  let extra;
  const recDir = path.join(workDir, 'recorded');
  if (opts.mode === 'record') {
    fs.rmSync(recDir, { recursive: true, force: true });
    extra = ['--record', recDir];
  } else if (opts.mode === 'play') {
    doing('encoding the files to play with ffmpeg');
    const [video, audio] = makeMedia(workDir);
    extra = ['--play', video, '--play', audio];
  } else {
    extra = ['--reflect'];
  }
  doing('starting rtcpeer serve');
  const { base, lines } = await startServer(check, extra);
  const page = await openPage(check, opts.browser, opts.mdns, FAKE_MEDIA);
  doing(`opening ${base}/`);
  await page.goto(`${base}/`);
  if (opts.mode === 'record') return checkRecord(page, recDir, lines);
  if (opts.mode === 'play') return checkPlay(page);
  return checkReflect(page);
});

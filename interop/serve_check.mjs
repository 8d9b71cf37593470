#!/usr/bin/env node
// Checks `rtcpeer serve` with a real headless browser: its demo page, or WHIP.
//
//   node serve_check.mjs --browser chromium|firefox [--mdns on|off] [--mode page|whip]
//                        [--out DIR] [--timeout SECONDS] [--leave-wait SECONDS]
//
// Starts `$RTCPEER_BIN serve --listen 127.0.0.1:0` and reads the address it prints.
//   page: opens the server's page and uses it like a person: clicks Connect, waits
//         for the page to show the connection connected and the channel open, types
//         a message, clicks Send, waits for the echo and the greeting on the page,
//         takes a screenshot (DIR/page.png), sends one binary message through the
//         page's channel, clicks Disconnect.
//   whip: from a blank page served by this process on another origin, POSTs an
//         offer to /whip (201 + Location), trickles a candidate with PATCH (204),
//         echoes 3 messages byte-exact, DELETEs the session (200) and waits for
//         the channel to close and the connection to leave `connected`.
// The last stderr line is `PASS …` or `FAIL <why>`; exit 0 on pass, non-zero otherwise.
// Run it inside ns.sh like every interop cell. See interop/README.md.
import http from 'node:http';
import path from 'node:path';
import { fail, openPage, sleep, startCheck, startServer } from './lib/serve.mjs';

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: serve_check.mjs --browser chromium|firefox [--mdns on|off] [--mode page|whip] ` +
      `[--out DIR] [--timeout S] [--leave-wait S]\n`,
  );
  process.exit(64);
}

function parseArgs(argv) {
  const o = { browser: null, mdns: 'on', mode: 'page', out: null, timeout: 30, leaveWait: 40 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--browser') o.browser = val();
    else if (a === '--mdns') o.mdns = val();
    else if (a === '--mode') o.mode = val();
    else if (a === '--out') o.out = val();
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--leave-wait') o.leaveWait = Number(val());
    else usage(`unknown argument ${a}`);
  }
  if (!['chromium', 'firefox'].includes(o.browser)) usage('--browser must be chromium or firefox');
  if (!['on', 'off'].includes(o.mdns)) usage('--mdns must be on or off');
  if (!['page', 'whip'].includes(o.mode)) usage('--mode must be page or whip');
  if (!(o.timeout > 0)) usage('--timeout must be positive');
  if (!(o.leaveWait > 0)) usage('--leave-wait must be positive');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const check = startCheck(`[serve-${opts.mode} ${opts.browser} mdns-${opts.mdns}]`, opts.timeout);
const { log, doing } = check;

// ----------------------------------------------------------------- browser --
/** Evaluates `fn(arg)` in the page every 100 ms until it returns a truthy value; fails after `ms`. */
async function waitFor(page, what, ms, fn, arg) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > until) fail(`${what} not seen within ${ms / 1000} s`);
    await sleep(100);
  }
}

// -------------------------------------------------------------- page mode --
async function checkPage(page, base) {
  doing(`opening ${base}/`);
  const response = await page.goto(`${base}/`);
  if (!response || response.status() !== 200) fail(`GET / answered ${response ? response.status() : 'nothing'}`);
  const title = await page.title();
  if (title !== 'rtcpeer echo') fail(`the page's title is ${JSON.stringify(title)}`);

  doing('clicking Connect');
  await page.click('#connect');
  const state = (id) => page.evaluate((i) => document.getElementById(i).textContent, id);
  doing('waiting for the page to show connected and chat open');
  const until = Date.now() + 15000;
  for (;;) {
    const [conn, chat] = [await state('connection'), await state('chat-state')];
    if (conn === 'connected' && chat === 'open') break;
    if (conn === 'failed' || conn === 'closed') {
      const errors = await page.evaluate(() => [...document.querySelectorAll('#log .error')].map((e) => e.textContent));
      fail(`the page shows connection ${conn}${errors.length ? `: ${errors.join('; ')}` : ''}`);
    }
    if (Date.now() > until) fail(`the page shows connection ${conn}, chat ${chat} after 15 s`);
    await sleep(100);
  }
  log(`page shows ICE ${await state('ice')}, connection connected, chat open`);

  const message = `hello from ${opts.browser} at ${Date.now()} ✓`;
  doing('typing a message and clicking Send');
  await page.type('#message', message);
  await page.click('#send');
  const echoLine = `echo ${JSON.stringify(message)}`;
  doing('waiting for the echo on the page');
  await waitFor(
    page,
    'the echo of the typed message',
    10000,
    (line) => [...document.querySelectorAll('#log .echo')].some((e) => e.textContent.endsWith(line)),
    echoLine,
  );
  const sentShown = await page.evaluate(
    (line) => [...document.querySelectorAll('#log .sent')].some((e) => e.textContent.endsWith(line)),
    `sent ${JSON.stringify(message)}`,
  );
  if (!sentShown) fail('the page does not show the sent message');
  const inputLeft = await page.evaluate(() => document.getElementById('message').value);
  if (inputLeft !== '') fail(`the input still holds ${JSON.stringify(inputLeft)} after Send`);
  doing('waiting for the greeting on the page');
  await waitFor(
    page,
    'the greeting "hello from rtcpeer"',
    10000,
    () => [...document.querySelectorAll('#log .greeting')].some((e) => e.textContent.endsWith('rtcpeer says "hello from rtcpeer"')),
  );

  // The page keeps its channel in a top-level `let chat`, reachable from evaluate.
  doing('sending one binary message through the page\'s channel');
  const binary = await page.evaluate(async () => {
    if (typeof chat === 'undefined' || !chat) return { skipped: 'the page does not expose its channel' };
    const sent = new Uint8Array(1500).map((_, j) => (131 + 17 * j + (j >> 8)) & 0xff);
    const echoed = new Promise((resolve) => {
      const onMessage = (e) => {
        if (typeof e.data === 'string') return;
        chat.removeEventListener('message', onMessage);
        resolve(new Uint8Array(e.data));
      };
      chat.addEventListener('message', onMessage);
    });
    chat.send(sent);
    const got = await Promise.race([echoed, new Promise((r) => setTimeout(() => r(null), 10000))]);
    if (!got) return { error: 'no binary echo within 10 s' };
    if (got.length !== sent.length) return { error: `binary echo has ${got.length} bytes, sent ${sent.length}` };
    const at = got.findIndex((b, j) => b !== sent[j]);
    if (at >= 0) return { error: `binary echo differs at byte ${at}` };
    return { bytes: got.length };
  });
  let binaryNote;
  if (binary.error) fail(binary.error);
  else if (binary.skipped) binaryNote = `binary skipped: ${binary.skipped}`;
  else {
    // What a person sees: the page logs the echo with its size.
    await waitFor(
      page,
      'the binary echo on the page',
      5000,
      (n) => [...document.querySelectorAll('#log .echo')].some((e) => e.textContent.includes(`echo ${n} bytes [`)),
      binary.bytes,
    );
    binaryNote = `binary ${binary.bytes} B echoed byte-exact`;
  }

  if (opts.out) {
    const shot = path.join(opts.out, 'page.png');
    await page.screenshot({ path: shot });
    log(`screenshot in ${shot}`);
  }

  doing('clicking Disconnect');
  await page.click('#disconnect');
  await waitFor(page, 'connection closed on the page after Disconnect', 5000, () => {
    const t = (id) => document.getElementById(id).textContent;
    return t('connection') === 'closed' && t('chat-state') === 'closed' && !document.getElementById('connect').disabled;
  });
  return `page: connected, typed message echoed, greeting shown, ${binaryNote}, disconnected`;
}

// -------------------------------------------------------------- whip mode --
/** Serves one blank page on 127.0.0.1 (another origin than the server's); resolves to its URL. */
function startBlankPage() {
  const blank = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') res.writeHead(204).end();
    else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      res.end('<!doctype html><meta charset="utf-8"><title>whip client</title><p>whip client</p>');
    } else res.writeHead(404).end();
  });
  blank.keepAliveTimeout = 0;
  check.atFinish(() => blank.close());
  return new Promise((r) => blank.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${blank.address().port}/`)));
}

/** Runs in the page: POST the offer, PATCH a candidate; leaves the connection in `window.whip`. */
async function whipConnect(base) {
  const w = { candidates: [], gathered: false, states: [], greeting: null, received: [], closed: false };
  window.whip = w;
  const pc = new RTCPeerConnection();
  w.pc = pc;
  pc.addEventListener('icecandidate', (e) => {
    if (e.candidate && e.candidate.candidate) w.candidates.push(e.candidate);
    else if (!e.candidate) w.gathered = true;
  });
  pc.addEventListener('connectionstatechange', () => w.states.push(pc.connectionState));
  pc.addEventListener('datachannel', (e) => {
    if (e.channel.label !== 'rtcpeer') return;
    e.channel.addEventListener('message', (m) => {
      w.greeting = typeof m.data === 'string' ? m.data : `(binary ${m.data.byteLength ?? m.data.size} B)`;
    });
  });
  const dc = pc.createDataChannel('chat');
  dc.binaryType = 'arraybuffer';
  w.dc = dc;
  dc.addEventListener('message', (e) => w.received.push(e.data));
  dc.addEventListener('close', () => (w.closed = true));
  await pc.setLocalDescription();
  const offer = pc.localDescription.sdp;
  const post = await fetch(`${base}/whip`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
  const answer = await post.text();
  if (post.status !== 201) return { error: `POST /whip answered ${post.status}: ${answer.slice(0, 200)}` };
  const location = post.headers.get('Location');
  if (!location) return { error: 'POST /whip answered 201 without a readable Location header' };
  const type = post.headers.get('Content-Type') || '';
  if (!type.startsWith('application/sdp')) return { error: `POST /whip answered Content-Type ${type}` };
  w.resource = new URL(location, `${base}/`).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });

  // Trickle the first candidate the browser gathered (wait up to 5 s for one).
  const until = Date.now() + 5000;
  while (!w.candidates.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (!w.candidates.length) return { error: 'the browser gathered no candidate within 5 s' };
  const c = w.candidates[0];
  const ufrag = /^a=ice-ufrag:(.*)$/m.exec(offer)[1].trim();
  const pwd = /^a=ice-pwd:(.*)$/m.exec(offer)[1].trim();
  const mline = /^m=.*$/m.exec(offer)[0].trim();
  const frag = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, mline, `a=mid:${c.sdpMid}`, `a=${c.candidate}`, ''].join(
    '\r\n',
  );
  const patch = await fetch(w.resource, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' },
    body: frag,
  });
  const patchBody = await patch.text();
  if (patch.status !== 204) return { error: `PATCH ${location} answered ${patch.status}: ${patchBody.slice(0, 200)}` };
  return { location, trickled: c.candidate.split(' ').slice(4, 8).join(' ') };
}

/** Runs in the page: sends 3 messages (text, binary, text) and checks their echoes byte-exact and in order. */
async function whipEcho() {
  const w = window.whip;
  const bytes = new Uint8Array(4096).map((_, j) => (131 * 3 + 17 * j + (j >> 8)) & 0xff);
  const long = Array.from({ length: 20000 }, (_, j) => 'abcdefghijklmnopqrstuvwxyz0123456789'[(7 * j) % 36]).join('');
  const sent = [`whip 0: héllo ✓ ${Date.now()}`, bytes, `2:${long}`];
  w.received.length = 0;
  for (const m of sent) w.dc.send(m);
  const until = Date.now() + 10000;
  while (w.received.length < sent.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (w.received.length < sent.length) return { error: `${w.received.length} of ${sent.length} echoes within 10 s` };
  for (let i = 0; i < sent.length; i++) {
    const s = sent[i];
    const g = w.received[i];
    if (typeof s === 'string') {
      if (typeof g !== 'string') return { error: `echo ${i} is binary, sent text` };
      if (g !== s) return { error: `echo ${i} differs (${g.length} chars, sent ${s.length})` };
    } else {
      if (typeof g === 'string') return { error: `echo ${i} is text, sent binary` };
      const b = new Uint8Array(g);
      if (b.length !== s.length || b.some((x, j) => x !== s[j])) return { error: `binary echo ${i} differs` };
    }
  }
  if (w.received.length > sent.length) return { error: `${w.received.length} echoes for ${sent.length} messages` };
  return { sizes: sent.map((m) => (typeof m === 'string' ? new TextEncoder().encode(m).length : m.length)) };
}

async function checkWhip(page, base) {
  const pageUrl = await startBlankPage();
  doing(`opening the blank page ${pageUrl}`);
  await page.goto(pageUrl);
  doing(`POST ${base}/whip and PATCH one candidate`);
  const connected = await page.evaluate(whipConnect, base);
  if (connected.error) fail(connected.error);
  log(`201, Location ${connected.location}; PATCH of ${connected.trickled} → 204`);

  doing('waiting for connected and the channel open');
  await waitFor(page, 'connection connected and channel chat open', 15000, () => {
    const w = window.whip;
    return w.pc.connectionState === 'connected' && w.dc.readyState === 'open';
  });
  doing('echoing 3 messages');
  const echoed = await page.evaluate(whipEcho);
  if (echoed.error) fail(echoed.error);
  log(`echoes byte-exact: ${echoed.sizes.join(', ')} B`);
  const greeting = await waitFor(page, 'the greeting on channel rtcpeer', 5000, () => window.whip.greeting);
  if (greeting !== 'hello from rtcpeer') fail(`the greeting is ${JSON.stringify(greeting)}`);

  const sessions = async () => (await (await fetch(`${base}/sessions`)).json()).sessions;
  const before = await sessions();
  if (before !== 1) fail(`GET /sessions says ${before} while connected, expected 1`);
  doing(`DELETE ${connected.location}`);
  const status = await page.evaluate(async () => (await fetch(window.whip.resource, { method: 'DELETE' })).status);
  if (status !== 200) fail(`DELETE answered ${status}`);
  const after = await sessions();
  if (after !== 0) fail(`GET /sessions says ${after} after DELETE, expected 0`);
  const deleted = Date.now();

  doing('waiting for the channel to close');
  await waitFor(page, 'channel chat closed after DELETE', 10000, () => window.whip.closed);
  const closedAfter = ((Date.now() - deleted) / 1000).toFixed(1);
  // Within --leave-wait, but no longer than the overall timeout leaves (the channel has closed: that passes).
  const leaveWait = Math.max(1, Math.min(opts.leaveWait, opts.timeout - (Date.now() - check.t0) / 1000 - 3));
  doing(`waiting up to ${leaveWait.toFixed(1)} s for the connection to leave connected`);
  const left = await page
    .evaluate(async (ms) => {
      const pc = window.whip.pc;
      const until = Date.now() + ms;
      while (pc.connectionState === 'connected' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      return pc.connectionState;
    }, leaveWait * 1000)
    .catch((e) => `unknown (${e.message})`);
  const leftAfter = ((Date.now() - deleted) / 1000).toFixed(1);
  const leaving =
    left === 'connected'
      ? `connection still connected ${leftAfter} s after DELETE`
      : `connection ${left} ${leftAfter} s after DELETE`;
  return (
    `whip: 201 + Location, PATCH 204, 3 echoes byte-exact, greeting, DELETE 200, ` +
    `channel closed ${closedAfter} s after DELETE, ${leaving}`
  );
}

// -------------------------------------------------------------------- main --
await check.run(async () => {
  doing('starting rtcpeer serve');
  const { base } = await startServer(check);
  log(`rtcpeer serves ${base}`);
  const page = await openPage(check, opts.browser, opts.mdns);
  return opts.mode === 'page' ? checkPage(page, base) : checkWhip(page, base);
});

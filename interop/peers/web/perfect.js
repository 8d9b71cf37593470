// The `perfect-negotiation` scenario in the browser: the W3C "perfect negotiation" example
// (webrtc-pc §10.7) on this page's RTCPeerConnection, with the harness's rounds around it.
//
// Role `offerer` plays the impolite peer and leads the rounds, role `answerer` the polite one
// (`rtcpeer negotiate` is the other side; the line protocol is described in
// crates/rtcpeer-cli/src/negotiate.rs and interop/README.md). Every line goes through the
// driver: `GET /in` for the next line from stdin, `POST /out` for a line to stdout.
// Uses peer.js's helpers (post, log, input, rtcConfig, watchStates, sleep).
'use strict';

async function perfectNegotiation(cfg) {
  const polite = cfg.role === 'answerer';
  const me = polite ? 'polite' : 'impolite';
  const rounds = cfg.rounds || 5;
  const started = performance.now();
  const pc = new RTCPeerConnection(rtcConfig(cfg));
  watchStates(pc);

  // Lines leave in the order they were written: a candidate never overtakes its description.
  let outChain = Promise.resolve();
  const send = (msg) => (outChain = outChain.then(() => post('/out', msg)));
  let failure = null;
  const fail = (what, err) => {
    failure = failure || `${what}: ${err && err.message ? err.message : err}`;
    log(`FAILURE ${failure}`);
  };

  // ---- the W3C example ----
  let makingOffer = false;
  let ignoreOffer = false;
  let collisions = 0;
  let offers = 0;
  pc.onnegotiationneeded = async () => {
    try {
      makingOffer = true;
      await pc.setLocalDescription();
      send({ description: pc.localDescription });
      offers++;
      log(`negotiationneeded: ${pc.localDescription.type} sent`);
    } catch (err) {
      fail('negotiationneeded', err);
    } finally {
      makingOffer = false;
    }
  };
  pc.onicecandidate = ({ candidate }) => send({ candidate });

  async function onSignal({ description, candidate }) {
    try {
      if (description) {
        const offerCollision = description.type === 'offer' && (makingOffer || pc.signalingState !== 'stable');
        ignoreOffer = !polite && offerCollision;
        if (ignoreOffer) {
          collisions++;
          log('offer collision: ignored the peer\'s offer (impolite)');
          return;
        }
        if (offerCollision) {
          collisions++;
          log('offer collision: rolling our offer back for the peer\'s (polite)');
        }
        await pc.setRemoteDescription(description);
        if (description.type === 'offer') {
          await pc.setLocalDescription();
          send({ description: pc.localDescription });
          log('answered the peer\'s offer');
        }
      } else if (candidate) {
        try {
          await pc.addIceCandidate(candidate);
        } catch (err) {
          if (!ignoreOffer) throw err;
        }
      }
    } catch (err) {
      fail('signaling', err);
    }
  }
  // ---- end of the W3C example ----

  // Channels: ours greet once open and wait for the echo; the peer's echo everything.
  const open = new Map(); // label -> open?
  const own = new Set();
  const echoed = new Set();
  let byeSent = false;
  const watch = (ch, ours) => {
    ch.binaryType = 'arraybuffer';
    const greeting = `hello on ${ch.label}`;
    open.set(ch.label, ch.readyState === 'open');
    const greet = () => {
      open.set(ch.label, true);
      if (ours) ch.send(greeting);
    };
    if (ch.readyState === 'open') greet();
    else ch.onopen = greet;
    ch.onmessage = (e) => {
      if (!ours) ch.send(e.data);
      else if (e.data === greeting) echoed.add(ch.label);
    };
    // Once the impolite peer has said bye, the polite one may close at any time.
    ch.onclose = () => byeSent || fail('channel', `${ch.label} closed`);
  };
  pc.ondatachannel = (e) => watch(e.channel, false);

  let roundsStarted = 0;
  // Round 0 adds only the first data channel: Chromium cannot roll back a first offer whose
  // data section is not at the mid the peer's offer gives it ("Failed to start SCTP transport"
  // on the answer), and with a transceiver in the same offer it is at mid 1. Later rounds add
  // a channel (no negotiation once the data section exists) and an audio transceiver.
  const change = (round) => {
    const label = `${me}-${round}`;
    own.add(label);
    watch(pc.createDataChannel(label), true);
    if (round > 0) pc.addTransceiver('audio');
    roundsStarted = round + 1;
    log(`round ${round}: added channel ${label}${round > 0 ? ' and an audio transceiver' : ''}`);
  };

  // Settled: stable, every transceiver negotiated, every channel of the first `n` rounds open
  // both ways and the greeting on each of ours echoed.
  const settled = (n) => {
    if (pc.signalingState !== 'stable') return false;
    const ts = pc.getTransceivers();
    if (ts.length !== 2 * (n - 1) || ts.some((t) => t.mid === null || t.currentDirection === null)) return false;
    for (let r = 0; r < n; r++) {
      for (const who of ['polite', 'impolite']) {
        const label = `${who}-${r}`;
        if (!open.get(label)) return false;
        if (who === me && !echoed.has(label)) return false;
      }
    }
    return true;
  };
  const check = () => {
    if (failure) throw new Error(failure);
    if (pc.connectionState === 'failed' && !byeSent) throw new Error('connection failed');
  };
  const waitSettled = async (n, ms) => {
    const deadline = performance.now() + ms;
    while (!settled(n)) {
      check();
      if (performance.now() > deadline)
        throw new Error(`round ${n - 1} not settled: ${pc.signalingState}, ${pc.getTransceivers().length} transceivers, ` +
          `${[...open.values()].filter((o) => o).length}/${open.size} channels open, ${echoed.size}/${own.size} echoed`);
      await sleep(20);
    }
  };

  // Stdin lines, one at a time: the pattern's signals, and the rounds around them.
  const controls = [];
  let controlWaiter = null;
  (async () => {
    for (;;) {
      let msg;
      try {
        msg = await input();
      } catch (err) {
        fail('reading stdin', err);
        return;
      }
      if ('description' in msg || 'candidate' in msg) await onSignal(msg);
      else {
        controls.push(msg);
        if (controlWaiter) controlWaiter();
      }
    }
  })();
  const nextControl = async () => {
    while (!controls.length) {
      check();
      await new Promise((r) => {
        controlWaiter = r;
        setTimeout(r, 50);
      });
    }
    return controls.shift();
  };

  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  if (!polite) {
    for (let round = 0; round < rounds; round++) {
      await send({ round });
      change(round);
      await waitSettled(round + 1, 20000);
      log(`round ${round} settled at ${seconds()} s: ${pc.getTransceivers().length} transceivers, ${open.size} channels open`);
      await sleep(200);
    }
    const transceivers = pc.getTransceivers().length;
    byeSent = true;
    await send({ bye: { transceivers, channels: open.size } });
    let ack;
    while (!(ack = (await nextControl()).ack));
    if (!ack.ok) throw new Error(`the polite peer failed: ${ack.why}`);
    if (ack.transceivers !== transceivers || ack.channels !== open.size)
      throw new Error(`we have ${transceivers} transceivers and ${open.size} channels, the polite peer ${ack.transceivers} and ${ack.channels}`);
    if (collisions === 0 && !ack.collisions) throw new Error(`no offer collided in ${rounds} rounds: no glare to resolve`);
    pc.close();
    return `${rounds} rounds in ${seconds()} s: both stable with ${transceivers} transceivers and ${open.size} channels ` +
      `open, every channel echoed; offers ignored here ${collisions}, rolled back there ${ack.collisions}; ${offers} offers sent`;
  }
  for (;;) {
    const msg = await nextControl();
    if ('round' in msg) {
      if (msg.round !== roundsStarted) throw new Error(`round ${msg.round} came after round ${roundsStarted}`);
      change(msg.round);
    } else if (msg.bye) {
      let why = '';
      try {
        const deadline = performance.now() + 10000;
        for (;;) {
          await waitSettled(roundsStarted, deadline - performance.now());
          if (pc.getTransceivers().length === msg.bye.transceivers && open.size === msg.bye.channels) break;
          await sleep(20);
        }
      } catch (err) {
        why = String(err.message || err);
      }
      const transceivers = pc.getTransceivers().length;
      await send({ ack: { ok: !why, why, transceivers, channels: open.size, collisions } });
      await sleep(300);
      if (why) throw new Error(why);
      pc.close();
      return `${roundsStarted} rounds in ${seconds()} s: stable with ${transceivers} transceivers and ${open.size} ` +
        `channels open, every channel echoed; rolled back ${collisions} times; ${offers} offers sent`;
    } else {
      throw new Error(`unexpected line ${JSON.stringify(msg).slice(0, 80)}`);
    }
  }
}

// The softphone page: SIP over WebSocket (RFC 7118) to the switchboard that
// serves it, through SIP.js's SessionManager. Sign in with the SIP user and
// password (the exchange's digest challenge), then call, answer, hang up,
// mute, hold, send DTMF, transfer (blind REFER), and watch colleagues'
// busy lamps (RFC 4235 subscriptions the exchange answers). Media is
// WebRTC; the exchange's media relay bridges it to the desk phones' RTP.
import { Subscriber, UserAgent, Web } from "./node_modules/sip.js/lib/index.js";

const $ = (id) => document.getElementById(id);
// The SIP domain: ?domain=NAME in the page's address, else the address the
// page came from, port included (one of the exchange's own listen addresses).
const domain = new URLSearchParams(location.search).get("domain") || location.host;
let manager = null;
let session = null;
let analyser = null;
let credentials = null; // while signed in: the directory is read with them

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

function setStatus(text) {
  $("status").textContent = text;
}

function server() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
}

function target(text) {
  const t = text.trim();
  return t.startsWith("sip:") ? t : `sip:${t}@${domain}`;
}

// What an error from getUserMedia, the WebSocket or SIP means to the user.
function explain(error, doing) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError")
    return `Microphone permission was refused: cannot ${doing}. Allow the microphone for this page and try again.`;
  if (name === "NotFoundError")
    return `No microphone was found: cannot ${doing}.`;
  return `Cannot ${doing}: ${(error && error.message) || error}`;
}

function rejected(response, what) {
  const code = response.message.statusCode;
  const reason = response.message.reasonPhrase;
  if (code === 401 || code === 403 || code === 407)
    showError(`${what}: wrong user name or password (${code} ${reason})`);
  else
    showError(`${what}: ${code} ${reason}`);
}

// --- the call panel ---------------------------------------------------------

function showCall(s, state, incoming) {
  session = s;
  const id = s.remoteIdentity;
  $("peer").textContent = id.displayName ? `${id.displayName} (${id.uri.user})` : id.uri.user;
  $("call-state").textContent = state;
  $("answer").hidden = !incoming;
  $("decline").hidden = !incoming;
  $("call-panel").hidden = false;
  $("mute").setAttribute("aria-pressed", "false");
  $("hold").setAttribute("aria-pressed", "false");
}

function meter(s) {
  const stream = manager.getRemoteMediaStream(s);
  if (!stream) return;
  const ctx = new AudioContext();
  analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  ctx.createMediaStreamSource(stream).connect(analyser);
}

// The remote audio's level (RMS, 0..1): what the tests read through DevTools.
window.phoneLevel = () => {
  if (!analyser) return 0;
  const a = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(a);
  let sum = 0;
  for (const v of a) sum += v * v;
  return Math.sqrt(sum / a.length);
};

// The call's WebRTC connection, for the tests and the curious.
window.phoneMedia = () => {
  const pc = session && session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
  return pc ? { ice: pc.iceConnectionState, connection: pc.connectionState,
                local: pc.localDescription && pc.localDescription.sdp,
                remote: pc.remoteDescription && pc.remoteDescription.sdp } : null;
};

// The remote audio's loudest frequency in Hz (0: silence): what the tests
// compare with the tone the other phone plays.
window.phoneTone = () => {
  if (!analyser) return 0;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return bins[best] > -80 ? (best * analyser.context.sampleRate) / analyser.fftSize : 0;
};

// --- busy lamps --------------------------------------------------------------
// Each watched colleague is a SUBSCRIBE to the dialog event package; each
// NOTIFY's dialog-info document (full state, or what changed) updates
// their dialogs; the lamp shows the busiest: on the phone, ringing, idle.
// A second SUBSCRIBE, to presence (RFC 3856), says whether they are there
// at all (offline: no phone registered, or they said so) and what they
// published ("away", a note).

const WATCHED = "switchboard.watched"; // the names, kept in this browser
const lamps = new Map(); // name -> { subscriber, presence, dialogs: Map(id -> state), seen, row }

function watchedNames() {
  try {
    return JSON.parse(localStorage.getItem(WATCHED)) || [];
  } catch {
    return [];
  }
}

function lampOf(l) {
  let lamp = l.seen && !l.seen.present ? "offline" : "idle";
  for (const state of l.dialogs.values()) {
    if (state === "confirmed") return "busy";
    lamp = "ringing"; // trying, proceeding, early
  }
  return lamp;
}

const LAMP_TEXT = { offline: "offline", idle: "idle", ringing: "ringing", busy: "on the phone" };

function showLamp(name) {
  const l = lamps.get(name);
  const lamp = lampOf(l);
  const said = lamp === "idle" && l.seen ? [l.seen.activity, l.seen.note].filter(Boolean) : [];
  l.row.querySelector(".lamp").dataset.state = lamp;
  l.row.querySelector(".lamp-text").textContent = [LAMP_TEXT[lamp], ...said].join(" · ");
}

// A PIDF document (RFC 3863): present when a tuple is open; the first
// RPID activity and note of a person.
function onPresence(name, body) {
  const l = lamps.get(name);
  const doc = new DOMParser().parseFromString(body || "", "application/xml");
  if (!l || doc.documentElement.localName !== "presence") return;
  const basics = [...doc.getElementsByTagNameNS("*", "basic")].map((b) => b.textContent.trim());
  const acts = doc.getElementsByTagNameNS("*", "activities")[0];
  const activity = acts && acts.firstElementChild ? acts.firstElementChild.localName : "";
  const note = doc.getElementsByTagNameNS("*", "note")[0];
  l.seen = {
    present: basics.includes("open"),
    activity: activity === "on-the-phone" ? "" : activity.replace(/-/g, " "),
    note: note ? note.textContent.trim() : "",
  };
  showLamp(name);
}

function onDialogInfo(name, body) {
  const l = lamps.get(name);
  const doc = new DOMParser().parseFromString(body || "", "application/xml");
  const root = doc.documentElement;
  if (!l || root.localName !== "dialog-info") return;
  if (root.getAttribute("state") === "full") l.dialogs.clear();
  for (const d of root.getElementsByTagNameNS("*", "dialog")) {
    const state = d.getElementsByTagNameNS("*", "state")[0];
    const id = d.getAttribute("id");
    if (!state || state.textContent === "terminated") l.dialogs.delete(id);
    else l.dialogs.set(id, state.textContent);
  }
  showLamp(name);
}

function lampRow(name) {
  const row = document.createElement("li");
  row.innerHTML = '<span class="lamp" data-state="idle"></span> <strong></strong> ' +
    '<span class="lamp-text">…</span> <button type="button" class="call">Call</button> ' +
    '<button type="button" class="unwatch" aria-label="Stop watching">×</button>';
  row.querySelector("strong").textContent = name;
  row.querySelector(".call").addEventListener("click", () => {
    $("dial").value = name;
    $("dial-form").requestSubmit();
  });
  row.querySelector(".unwatch").addEventListener("click", () => unwatch(name));
  $("lamps").appendChild(row);
  return row;
}

function watch(name) {
  if (!manager || !name || lamps.has(name)) return;
  const uri = UserAgent.makeURI(target(name));
  if (!uri) return showError(`Cannot watch ${name}: not a SIP address`);
  const subscriber = new Subscriber(manager.userAgent, uri, "dialog", {
    expires: 600,
    extraHeaders: ["Accept: application/dialog-info+xml"],
  });
  const presence = new Subscriber(manager.userAgent, uri, "presence", {
    expires: 600,
    extraHeaders: ["Accept: application/pidf+xml"],
  });
  lamps.set(name, { subscriber, presence, dialogs: new Map(), seen: null, row: lampRow(name) });
  subscriber.delegate = {
    onNotify: (notification) => {
      notification.accept();
      onDialogInfo(name, notification.request.body);
    },
  };
  presence.delegate = {
    onNotify: (notification) => {
      notification.accept();
      onPresence(name, notification.request.body);
    },
  };
  subscriber.subscribe().catch((error) => showError(explain(error, `watch ${name}`)));
  presence.subscribe().catch((error) => showError(explain(error, `watch ${name}'s presence`)));
  const names = watchedNames();
  if (!names.includes(name)) localStorage.setItem(WATCHED, JSON.stringify([...names, name]));
}

function unwatch(name) {
  const l = lamps.get(name);
  if (l) {
    l.subscriber.unsubscribe().catch(() => {});
    l.presence.unsubscribe().catch(() => {});
    l.row.remove();
    lamps.delete(name);
  }
  localStorage.setItem(WATCHED, JSON.stringify(watchedNames().filter((n) => n !== name)));
}

// --- the office directory -----------------------------------------------------
// GET /directory from the exchange that serves this page, behind HTTP Digest
// with the user's SIP credentials (the browser answers the challenge:
// XMLHttpRequest with a user and password); each person and group with the
// extensions that reach them, to find and dial by name.

function fetchDirectory(user, password) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", "/directory", true, user, password);
    xhr.responseType = "json";
    xhr.onload = () =>
      xhr.status === 200 && xhr.response
        ? resolve(xhr.response)
        : reject(new Error(`the exchange answered ${xhr.status}`));
    xhr.onerror = () => reject(new Error("the exchange could not be reached"));
    xhr.send();
  });
}

function directoryRow(entry, group) {
  const row = document.createElement("li");
  row.dataset.name = entry.name;
  row.dataset.find = [entry.name, ...entry.extensions].join(" ").toLowerCase();
  row.innerHTML = '<strong></strong> <span class="ext"></span> ' +
    '<button type="button" class="call">Call</button> ' +
    '<button type="button" class="watch">Watch</button>';
  row.querySelector("strong").textContent = entry.name;
  const ext = entry.extensions.join(", ");
  row.querySelector(".ext").textContent =
    group ? `${ext ? ext + " · " : ""}group: ${entry.members.join(", ")}` : ext;
  row.querySelector(".call").addEventListener("click", () => {
    $("dial").value = entry.name;
    $("dial-form").requestSubmit();
  });
  row.querySelector(".watch").addEventListener("click", () => watch(entry.name));
  if (group) row.querySelector(".watch").remove(); // a group has no lamp
  return row;
}

function showDirectory(d) {
  const list = $("people");
  list.replaceChildren(...d.people.map((p) => directoryRow(p, false)),
    ...d.groups.map((g) => directoryRow(g, true)));
  filterDirectory();
}

function filterDirectory() {
  const words = $("find").value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const row of $("people").children)
    row.hidden = !words.every((w) => row.dataset.find.includes(w));
}

async function loadDirectory(user, password) {
  try {
    showDirectory(await fetchDirectory(user, password));
  } catch (error) {
    showError(`Cannot read the office directory: ${error.message}`);
  }
}

$("find").addEventListener("input", filterDirectory);

// The directory's entries that show now: for the tests.
window.phoneDirectory = () =>
  [...$("people").children].filter((r) => !r.hidden).map((r) => r.dataset.name);

// Each watched colleague's lamp ("offline", "idle", "ringing", "busy"): for
// the tests.
window.phoneLamps = () => Object.fromEntries([...lamps].map(([n, l]) => [n, lampOf(l)]));

window.phoneState = () => ({
  status: $("status").textContent,
  call: $("call-panel").hidden ? "" : $("call-state").textContent,
  error: $("error").hidden ? "" : $("error").textContent,
});

const delegate = {
  onServerConnect: () => setStatus("connected"),
  onServerDisconnect: (error) => {
    setStatus("disconnected");
    if (error) showError(`The connection to the exchange dropped (${error.message}); reconnecting…`);
  },
  onRegistered: () => {
    setStatus("registered");
    showError("");
    for (const name of watchedNames()) watch(name);
    if (credentials && !$("people").children.length)
      loadDirectory(credentials.user, credentials.password);
  },
  onUnregistered: () => setStatus("not registered"),
  onCallReceived: (s) => showCall(s, "incoming call from", true),
  onCallAnswered: (s) => {
    showCall(s, "in call with", false);
    meter(s);
  },
  onCallHangup: () => {
    session = null;
    analyser = null;
    $("call-panel").hidden = true;
  },
  onCallHold: (s, held) => $("hold").setAttribute("aria-pressed", String(held)),
};

// --- signing in -------------------------------------------------------------

async function signIn(user, password) {
  showError("");
  credentials = { user, password };
  manager = new Web.SessionManager(server(), {
    aor: `sip:${user}@${domain}`,
    delegate,
    media: { constraints: { audio: true, video: false }, remote: { audio: $("remote-audio") } },
    reconnectionAttempts: 5,
    reconnectionDelay: 3,
    sendDTMFUsingSessionDescriptionHandler: true, // RFC 4733 in the media
    registererOptions: { expires: 300 },
    userAgentOptions: {
      authorizationUsername: user,
      authorizationPassword: password,
      displayName: user,
      logLevel: "warn",
    },
  });
  $("me").textContent = user;
  $("signin-form").hidden = true;
  $("phone").hidden = false;
  try {
    await manager.connect();
  } catch (error) {
    showError(`Cannot reach the exchange at ${server()}: ${error.message}`);
    return;
  }
  await manager.register({
    requestDelegate: { onReject: (response) => rejected(response, "Not signed in") },
  });
}

async function signOut() {
  for (const name of [...lamps.keys()]) {
    lamps.get(name).row.remove();
    lamps.delete(name); // still watched at the next sign-in
  }
  if (manager) {
    await manager.unregister().catch(() => {});
    await manager.disconnect().catch(() => {});
  }
  manager = null;
  credentials = null;
  $("people").replaceChildren();
  $("phone").hidden = true;
  $("signin-form").hidden = false;
}

// --- the buttons --------------------------------------------------------------

async function act(doing, fn) {
  try {
    showError("");
    await fn();
  } catch (error) {
    showError(explain(error, doing));
  }
}

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  signIn($("user").value.trim(), $("password").value);
});
$("signout").addEventListener("click", () => signOut());

$("dial-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const to = $("dial").value;
  act("call", async () => {
    await manager.call(target(to), undefined, {
      requestDelegate: { onReject: (response) => rejected(response, `Calling ${to}`) },
    });
    $("peer").textContent = to;
    $("call-state").textContent = "calling";
    $("answer").hidden = $("decline").hidden = true;
    $("call-panel").hidden = false;
  });
});

$("answer").addEventListener("click", () => act("answer", () => manager.answer(session)));
$("decline").addEventListener("click", () => act("decline", () => manager.decline(session)));
$("hangup").addEventListener("click", () => act("hang up", () => manager.hangup(session)));

$("mute").addEventListener("click", () => {
  const muted = manager.isMuted(session);
  if (muted) manager.unmute(session);
  else manager.mute(session);
  $("mute").setAttribute("aria-pressed", String(!muted));
});

$("hold").addEventListener("click", () =>
  act("hold", () => (manager.isHeld(session) ? manager.unhold(session) : manager.hold(session))));

for (const tone of "123456789*0#") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = tone;
  b.addEventListener("click", () => act("send a tone", () => manager.sendDTMF(session, tone)));
  $("keypad").appendChild(b);
}

$("watch-form").addEventListener("submit", (e) => {
  e.preventDefault();
  watch($("watch-name").value.trim());
  $("watch-name").value = "";
});

$("transfer-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const to = $("transfer-target").value;
  act("transfer", () => manager.transfer(session, target(to)));
});

window.addEventListener("beforeunload", () => {
  if (manager) manager.disconnect();
});

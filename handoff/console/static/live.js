// The live console (handoff/console/live_views.py streams it with Server-Sent Events):
// - every console page: new handoffs arrive within a second, with a browser notification (permission is
//   asked on a click), an optional sound (off unless switched on) and an unread count in the title;
// - the queue: rows appear, change and leave without a reload; "new" badges until the handoff is opened;
//   relative waiting times;
// - a handoff: status, conversation, call-backs and the customer's typing, live; the reply is sent by
//   fetch (Enter sends, Shift+Enter is a new line); the agent's typing reaches a web chat customer;
// - keyboard shortcuts (listed on the page, "?" shows them) and local times for every <time datetime>.
// EventSource reconnects by itself (with Last-Event-ID); a stream that answers 401 means the session
// ended, and the page goes to the login.
(function () {
  "use strict";
  const live = document.getElementById("live");
  if (!live) return;
  const store = window.localStorage;
  const baseTitle = document.title;
  const SEEN_KEY = "attune-seen-handoffs";
  const SOUND_KEY = "attune-sound";
  const ORDER_KEY = "attune-queue-order";

  // --- times: the browser's locale and time zone; relative in the queue ------------------------------
  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const shortTime = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  function since(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 60) return relative.format(seconds, "second");
    if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
    if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
    return relative.format(Math.round(seconds / 86400), "day");
  }
  function renderTime(node) {
    const date = new Date(node.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    node.title = timeFormat.format(date);
    if (node.classList.contains("relative")) node.textContent = since(date);
    else if (node.classList.contains("short")) node.textContent = shortTime.format(date);
    else node.textContent = timeFormat.format(date);
  }
  function renderTimes() {
    for (const node of document.querySelectorAll("time[datetime]")) renderTime(node);
  }
  function timeNode(iso, kind) {
    const node = document.createElement("time");
    node.setAttribute("datetime", iso);
    if (kind) node.className = kind;
    renderTime(node);
    return node;
  }
  renderTimes();
  setInterval(renderTimes, 30000);

  // --- unread, notifications, sound ----------------------------------------------------------------
  function seen() {
    try { return new Set(JSON.parse(store.getItem(SEEN_KEY) || "[]")); } catch (e) { return new Set(); }
  }
  function markSeen(id) {
    const ids = [...seen(), id].slice(-500);
    store.setItem(SEEN_KEY, JSON.stringify(ids));
  }
  const open = new Map();  // id -> row data, the open handoffs as the stream last said
  function unread() {
    const ids = seen();
    return [...open.values()].filter((row) => row.status === "queued" && !ids.has(row.id)).length;
  }
  function updateTitle() {
    const count = unread();
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
    const badge = document.getElementById("unread-count");
    if (badge) { badge.textContent = String(count); badge.hidden = count === 0; }
  }

  const soundSwitch = document.getElementById("sound");
  if (soundSwitch) {
    soundSwitch.checked = store.getItem(SOUND_KEY) === "on";
    soundSwitch.addEventListener("change", () => store.setItem(SOUND_KEY, soundSwitch.checked ? "on" : "off"));
  }
  let audio = null;
  function chime() {
    if (!soundSwitch || !soundSwitch.checked) return;
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio on this device */ }
  }
  const notifyButton = document.getElementById("notify");
  function syncNotify() {
    if (!notifyButton) return;
    const state = "Notification" in window ? Notification.permission : "unsupported";
    notifyButton.hidden = state !== "default";
    const note = document.getElementById("notify-state");
    if (note) {
      note.textContent = state === "granted" ? "Notifications on" :
        state === "denied" ? "Notifications blocked in this browser" :
        state === "unsupported" ? "This browser shows no notifications" : "";
    }
  }
  if (notifyButton) {
    notifyButton.addEventListener("click", () => {
      // Browsers ask only in answer to a click, never on load.
      if ("Notification" in window) Notification.requestPermission().then(syncNotify);
    });
    syncNotify();
  }
  function announce(row) {
    chime();
    const status = document.getElementById("live-news");
    if (status) status.textContent = "New handoff: " + label(row.reason) + ", " + row.priority + " priority";
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const note = new Notification("New handoff · " + row.priority + " priority", {
      body: label(row.reason) + (row.summary ? ": " + row.summary : ""),
      tag: "handoff-" + row.id,
    });
    note.onclick = () => { window.focus(); window.location.href = row.url; };
  }
  function label(reason) { return String(reason || "").replace(/_/g, " "); }

  // --- the queue stream (every console page) ---------------------------------------------------------
  const table = document.getElementById("queue");
  const body = table ? table.querySelector("tbody") : null;
  const liveState = document.getElementById("live-state");
  function setLive(text) { if (liveState) liveState.textContent = text; }

  function cell(content, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.append(content); else td.textContent = content;
    return td;
  }
  // The latest frustration/distress as the server-rendered queue shows it: two decimals, "–" when absent.
  function score(value) { return typeof value === "number" ? value.toFixed(2) : "–"; }
  function queueRow(row) {
    const tr = document.createElement("tr");
    tr.className = "priority-" + row.priority;
    tr.dataset.handoff = row.id;
    tr.dataset.url = row.url;
    const link = document.createElement("a");
    link.href = row.url;
    link.textContent = "Open";
    link.addEventListener("click", () => markSeen(row.id));
    const status = document.createElement("span");
    status.textContent = row.status + (row.mine ? " (you)" : "");
    if (row.status === "queued" && !seen().has(row.id)) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "new";
      status.append(" ", badge);
    }
    tr.append(
      cell(row.priority),
      cell(timeNode(row.created_at, "relative")),
      cell(label(row.reason)),
      cell(status, "status"),
      cell(score(row.frustration), "score frustration"),
      cell(score(row.distress), "score distress"),
      cell(row.summary, "summary"),
      cell(link),
    );
    return tr;
  }
  function renderQueue() {
    updateTitle();
    const rows = [...open.values()];
    store.setItem(ORDER_KEY, JSON.stringify(rows.map((r) => [r.id, r.url])));
    if (!body) return;
    const selected = body.querySelector("tr.selected");
    const keep = selected ? selected.dataset.handoff : null;
    body.replaceChildren(...rows.map(queueRow));
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = rows.length > 0;
    if (keep) select(body.querySelector('tr[data-handoff="' + CSS.escape(keep) + '"]'));
  }
  const rank = { urgent: 2, high: 1, normal: 0 };
  function sortOpen() {
    const rows = [...open.values()].sort((a, b) =>
      (rank[b.priority] || 0) - (rank[a.priority] || 0) || a.created_at.localeCompare(b.created_at));
    open.clear();
    for (const row of rows) open.set(row.id, row);
  }
  let first = true;
  function onQueue(kind, data) {
    if (kind === "snapshot") {
      const before = new Set(open.keys());
      open.clear();
      for (const row of data.handoffs) open.set(row.id, row);
      // After a reconnect, a handoff that arrived meanwhile is news too.
      if (!first) for (const row of data.handoffs) if (!before.has(row.id) && row.status === "queued") announce(row);
      first = false;
    } else if (kind === "closed") {
      open.delete(data.id);
    } else {
      const known = open.has(data.id);
      open.set(data.id, data);
      if (kind === "queued" && data.new && !known) announce(data);
    }
    sortOpen();
    renderQueue();
  }
  const queueStream = new EventSource(live.dataset.queueEvents);
  for (const kind of ["snapshot", "queued", "claimed", "closed"]) {
    queueStream.addEventListener(kind, (event) => onQueue(kind, JSON.parse(event.data)));
  }
  queueStream.addEventListener("logout", () => { window.location.href = live.dataset.login; });
  queueStream.onopen = () => setLive("Live");
  queueStream.onerror = () => {
    if (queueStream.readyState === EventSource.CLOSED) {
      // Refused (401 after a logout, or the instance is full): the page itself will say which.
      setLive("Not live: reload the page");
    } else {
      setLive("Reconnecting…");
    }
  };

  // --- keyboard shortcuts -------------------------------------------------------------------------
  function select(tr) {
    if (!body || !tr) return;
    for (const other of body.querySelectorAll("tr.selected")) other.classList.remove("selected");
    tr.classList.add("selected");
    tr.scrollIntoView({ block: "nearest" });
    const link = tr.querySelector("a");
    if (link) link.focus({ preventScroll: true });
  }
  function step(direction) {
    if (body) {
      const rows = [...body.querySelectorAll("tr")];
      const at = rows.findIndex((tr) => tr.classList.contains("selected"));
      select(rows[Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + direction))]);
      return;
    }
    // On a handoff: the next or previous one in the queue as it was last shown.
    let order = [];
    try { order = JSON.parse(store.getItem(ORDER_KEY) || "[]"); } catch (e) { order = []; }
    const here = order.findIndex(([id]) => id === live.dataset.handoff);
    const next = order[here + direction];
    if (next) window.location.href = next[1];
  }
  const help = document.getElementById("shortcuts");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const reply = document.getElementById("reply-text");
    const actions = {
      j: () => step(1),
      k: () => step(-1),
      o: () => { const tr = body && body.querySelector("tr.selected"); if (tr) { markSeen(tr.dataset.handoff); window.location.href = tr.dataset.url; } },
      c: () => { const claim = document.getElementById("claim"); if (claim) claim.click(); },
      r: () => { if (reply) reply.focus(); },
      u: () => { window.location.href = live.dataset.queue; },
      "?": () => { if (help) { help.open = !help.open; if (help.open) help.querySelector("summary").focus(); } },
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });

  // --- one handoff --------------------------------------------------------------------------------
  const transcript = document.getElementById("transcript");
  if (!transcript || !live.dataset.handoffEvents) return;
  markSeen(live.dataset.handoff);
  updateTitle();
  const statusNode = document.getElementById("status");
  const typing = document.getElementById("typing");
  let typingTimer = null;
  let hiddenNews = 0;
  let lastCount = null;

  function messageItem(m) {
    const item = document.createElement("li");
    item.className = m.speaker;
    const who = document.createElement("span");
    who.textContent = m.speaker;
    item.append(who, " " + m.text);
    if (m.at) item.append(" ", timeNode(m.at, "short"));
    return item;
  }
  function showMessages(messages) {
    const following = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 60;
    transcript.replaceChildren(...messages.map(messageItem));
    if (following || lastCount === null) transcript.scrollTop = transcript.scrollHeight;
    if (lastCount !== null && messages.length > lastCount && document.hidden) {
      hiddenNews += messages.slice(lastCount).filter((m) => m.speaker === "customer").length;
      document.title = (hiddenNews ? "(" + hiddenNews + " new) " : "") + baseTitle;
    }
    lastCount = messages.length;
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) { hiddenNews = 0; updateTitle(); }
  });
  function showTyping(data) {
    if (!typing || data.who !== "customer") return;
    clearTimeout(typingTimer);
    typing.hidden = data.active === false;
    typing.textContent = "The customer is typing…";
    if (!typing.hidden) typingTimer = setTimeout(() => { typing.hidden = true; }, 6000);
  }
  function showCalls(data) {
    const calls = document.getElementById("calls");
    if (!calls) return;
    for (const call of data.calls) {
      const row = calls.querySelector('tr[data-call="' + CSS.escape(String(call.id)) + '"]');
      if (!row) continue;
      row.querySelector(".call-status").textContent = call.status;
      row.querySelector(".call-attempts").textContent = String(call.attempts);
      const details = row.querySelector(".call-details");
      if (call.error) details.textContent = call.error;
      else if (call.status === "pending" && call.next_attempt_at) details.textContent = "next attempt " + call.next_attempt_at;
    }
  }
  const shownStatus = live.dataset.status;
  const shownMine = live.dataset.mine === "1";
  function showStatus(data) {
    if (statusNode) statusNode.textContent = data.status;
    if (data.status === shownStatus && data.mine === shownMine) return;
    // Claimed, released or resolved elsewhere (a colleague, a timeout): the page's buttons no longer
    // fit.  Reloaded at once, unless that would throw away a reply being written.
    const reply = document.getElementById("reply-text");
    if (!reply || !reply.value.trim()) { window.location.reload(); return; }
    const state = document.getElementById("reply-state");
    if (state) state.textContent = "This handoff is now " + data.status + (data.mine ? "" : " and not yours") + ": reload the page.";
  }
  const handoffStream = new EventSource(live.dataset.handoffEvents);
  handoffStream.addEventListener("messages", (event) => showMessages(JSON.parse(event.data).messages));
  handoffStream.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
  handoffStream.addEventListener("calls", (event) => showCalls(JSON.parse(event.data)));
  handoffStream.addEventListener("typing", (event) => showTyping(JSON.parse(event.data)));
  handoffStream.addEventListener("logout", () => { window.location.href = live.dataset.login; });

  // --- the reply box: fetch, Enter sends, Shift+Enter is a new line; the agent's typing -----------
  const form = document.getElementById("reply-form");
  const box = document.getElementById("reply-text");
  if (!form || !box) return;
  const replyState = document.getElementById("reply-state");
  const csrf = form.querySelector('input[name="csrf_token"]').value;
  async function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({ csrf_token: csrf, ...fields }),
    });
  }
  // Replies go out one after another in the order written; the box is free again at once, so a second
  // message can be written while the first is on its way.  A reply that fails comes back into the box.
  let queue = Promise.resolve();
  async function deliver(text, pending) {
    replyState.textContent = "Sending…";
    try {
      const response = await post(form.dataset.send, { text: text });
      if (response.ok) {
        pending.classList.remove("pending");
        replyState.textContent = "Sent";
        return;
      }
      const problem = await response.json().catch(() => ({}));
      replyState.textContent = problem.detail || "The reply was not sent. Try again.";
    } catch (error) {
      replyState.textContent = "The reply was not sent: the console is offline. Try again.";
    }
    pending.remove();
    if (!box.value.trim()) box.value = text;
  }
  function send() {
    const text = box.value.trim();
    if (!text) return;
    box.value = "";
    stopTyping();
    const pending = messageItem({ speaker: "agent", text: text });
    pending.classList.add("pending");
    transcript.append(pending);
    transcript.scrollTop = transcript.scrollHeight;
    queue = queue.then(() => deliver(text, pending));
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
  box.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;  // the canned list's keys, an IME's
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); send(); }
  });
  // Typing reaches the customer only on the web chat (SMS and WhatsApp have no indicator).
  const typingUrl = form.dataset.typing;
  let typingSent = 0;
  let idle = null;
  function stopTyping() {
    clearTimeout(idle);
    if (typingSent && typingUrl) post(typingUrl, { active: "0" }).catch(() => {});
    typingSent = 0;
  }
  if (typingUrl) {
    box.addEventListener("input", () => {
      const now = Date.now();
      if (box.value.trim() && now - typingSent > 3000) {
        typingSent = now;
        post(typingUrl, { active: "1" }).catch(() => {});
      }
      clearTimeout(idle);
      idle = setTimeout(stopTyping, 4000);
    });
  }
})();

// Attune web chat: a small Socket.IO (Engine.IO v4, WebSocket only) client for Rasa's socketio channel,
// so the page needs no third-party script.  Protocol: "0" open, "40{auth}" connect, "2"/"3" ping/pong,
// "42[event, data]" events.
// The session id is the server's: session_request carries the signed id stored from an earlier
// session_confirm (or none), and the server answers with the id to use (a new one if it did not issue
// the one sent).  That signed id is also the proof the emotion switch (/chat/consent) needs.  A page a
// site signed in (data-identity-token) sends its token in the CONNECT packet; it keeps its own session,
// so an anonymous visit in the same browser is never the signed-in customer.
// Rasa's socket.io channel sends a response's text first and then its custom data as a second
// bot_uttered; the data of a handoff notice ({notice}) or a person's reply ({agent, agent_message})
// describes the text just shown, so that bubble becomes the notice or the person's message (each
// shown once).  Incoming messages are li.bot; a person's are li.bot.agent, with their name.
// Every message shows the local time it was sent or received.  While a person has the conversation, the
// page tells the handoff service when the customer types (/chat/typing) and shows when the person types
// (a Server-Sent Events stream, /chat/events); both need the signed session id.
(function () {
  const root = document.getElementById("chat");
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const input = document.getElementById("message");
  const emotion = document.getElementById("emotion-switch");
  const emotionToggle = document.getElementById("emotion-toggle");
  const typingNote = document.getElementById("typing");
  const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
  const token = root.dataset.identityToken || "";
  const key = token ? "attune-signed-session:signed-in" : "attune-signed-session";
  let sessionId = localStorage.getItem(key);
  let socket = null;
  let ready = false;
  const pending = [];
  // The bubbles of the bot's text messages since anything else arrived: what custom data describes.
  let recentText = [];
  let lastNotice = "";  // "agent_joined:<name>" or "agent_left": the same notice twice in a row is one

  // Follows the conversation: the log scrolls to a new message unless the reader has scrolled up
  // (their own messages always scroll it).
  function atEnd() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function append(item, force) {
    const following = force || atEnd();
    list.append(item);
    if (following) list.scrollTop = list.scrollHeight;
  }

  function replace(old, item) {  // a bubble that grows must not push the newest out of view
    const following = atEnd();
    old.replaceWith(item);
    if (following) list.scrollTop = list.scrollHeight;
  }

  function disableButtons(scope) {
    for (const button of scope.querySelectorAll(".buttons button")) button.disabled = true;
  }

  function buttonRow(buttons) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.title;
      button.addEventListener("click", () => {
        if (button.disabled) return;
        disableButtons(row);  // a choice is made once
        button.classList.add("chosen");
        send(b.payload, b.title);
      });
      row.append(button);
    }
    return row;
  }

  function stamp(item) {  // the local time, as <time datetime>; not part of the message's text
    const now = new Date();
    const node = document.createElement("time");
    node.setAttribute("datetime", now.toISOString());
    node.textContent = clock.format(now);
    item.append(node);
  }

  function show(text, speaker, buttons) {
    const item = document.createElement("li");
    item.className = speaker;
    item.textContent = text;
    item.dataset.text = text;
    if (speaker !== "notice") stamp(item);
    if (buttons && buttons.length) item.append(buttonRow(buttons));
    append(item, speaker === "customer");
    return item;
  }

  // The last bubbles of recentText whose texts are ``parts`` (Rasa splits a text at blank lines),
  // taken out of the log; none when they are not what the data describes.
  function takeText(parts) {
    const wanted = parts.filter((part) => part.trim());
    const taken = recentText.slice(-wanted.length);
    if (!wanted.length || taken.length !== wanted.length) return [];
    if (taken.some((item, i) => item.dataset.text !== wanted[i])) return [];
    recentText = recentText.slice(0, -wanted.length);
    return taken;
  }

  function showNotice(data) {
    const kind = data.notice === "agent_joined" ? "agent_joined:" + (data.agent || "") : "agent_left";
    const [item] = recentText.length ? [recentText[recentText.length - 1]] : [];
    recentText = [];
    if (kind === lastNotice) {  // already told: its text goes too
      if (item && !item.querySelector(".buttons")) item.remove();
      return;
    }
    lastNotice = kind;
    withPerson = kind !== "agent_left";
    if (withPerson) listen(); else hideTyping();
    const told = item && !item.querySelector(".buttons") &&
      (data.notice !== "agent_joined" || !data.agent || item.textContent.includes(data.agent));
    if (told) {  // the text just shown is the notice
      item.className = "notice";
      return;
    }
    show(data.notice === "agent_joined"
      ? (data.agent || "A person") + " from the team has joined the chat."
      : "The person has left; you're back with Pip.", "notice");
  }

  function showAgentMessage(data) {
    const name = String(data.agent || "A person");
    const message = String(data.agent_message || "");
    const taken = takeText((name + ": " + message).trim().split("\n\n"));
    recentText = [];
    const item = document.createElement("li");
    item.className = "bot agent";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = name;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = message;
    item.append(author, body);
    stamp(item);
    hideTyping();
    withPerson = true;
    listen();
    if (taken.length) {
      for (const extra of taken.slice(1)) extra.remove();
      replace(taken[0], item);
    } else {
      append(item);
    }
    lastNotice = "";
  }

  // --- typing, both ways, while a person has the conversation -------------------------------------
  let events = null;
  let withPerson = false;  // a person from the team has the conversation (their notice or message came)
  let typingTimer = null;
  function hideTyping() {
    clearTimeout(typingTimer);
    if (typingNote) typingNote.hidden = true;
  }
  function listen() {
    if (events || !sessionId || !root.dataset.eventsUrl) return;
    events = new EventSource(root.dataset.eventsUrl + "?session_id=" + encodeURIComponent(sessionId));
    events.addEventListener("typing", (event) => {
      const data = JSON.parse(event.data);
      if (!typingNote || data.who !== "agent") return;
      if (data.active === false) { hideTyping(); return; }
      typingNote.textContent = (data.name || "The person") + " is typing…";
      typingNote.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(hideTyping, 6000);
    });
  }
  let typedAt = 0;
  input.addEventListener("input", () => {
    // Only while a person is there (they see it); at most one hint every 3 seconds.
    if (!withPerson || !sessionId || !input.value.trim()) return;
    if (Date.now() - typedAt < 3000) return;
    typedAt = Date.now();
    fetch(root.dataset.typingUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: sessionId }),
    }).catch(() => {});
  });

  function emit(event, data) {
    const packet = "42" + JSON.stringify([event, data]);
    if (ready) socket.send(packet); else pending.push(packet);
  }

  function send(message, shownAs) {
    if (shownAs !== null) show(shownAs || message, "customer");
    emit("user_uttered", { message: message, session_id: sessionId });
  }

  function confirmed(payload) {
    const signed = typeof payload === "string" ? payload : payload && payload.session_id;
    if (typeof signed !== "string" || !signed) return;
    const fresh = signed !== sessionId;
    sessionId = signed;
    localStorage.setItem(key, signed);
    // Messages queued for an old session belong to that conversation no more; send them in this one.
    for (let i = 0; i < pending.length; i++) {
      const [event, data] = JSON.parse(pending[i].slice(2));
      if (data && "session_id" in data) data.session_id = sessionId;
      pending[i] = "42" + JSON.stringify([event, data]);
    }
    ready = true;
    status.textContent = "Connected";
    while (pending.length) socket.send(pending.shift());
    if (fresh || emotion.disabled) loadConsent();
  }

  function onBot(data) {
    if (!data || typeof data !== "object") return;
    if (data.notice === "agent_joined" || data.notice === "agent_left") { showNotice(data); return; }
    if (typeof data.agent_message === "string") { showAgentMessage(data); return; }
    if (typeof data.text !== "string" || !data.text) return;
    disableButtons(list);  // the conversation has moved on: older choices no longer apply
    const buttons = data.quick_replies || data.buttons;
    const item = show(data.text, "bot", buttons);
    recentText = buttons && buttons.length ? [] : [...recentText, item];
  }

  function connect() {
    const base = root.dataset.socketUrl.replace(/^http/, "ws").replace(/\/$/, "");
    socket = new WebSocket(base + "/socket.io/?EIO=4&transport=websocket");
    socket.onmessage = (message) => {
      const data = String(message.data);
      if (data[0] === "0") { socket.send("40" + (token ? JSON.stringify({ token: token }) : "")); return; }
      if (data === "2") { socket.send("3"); return; }
      if (data.startsWith("40")) {
        socket.send("42" + JSON.stringify(["session_request", sessionId ? { session_id: sessionId } : {}]));
        return;
      }
      if (data.startsWith("44")) { status.textContent = "The chat refused this page's connection."; return; }
      if (data.startsWith("42")) {
        const [event, payload] = JSON.parse(data.slice(2));
        if (event === "session_confirm") {
          confirmed(payload);
        } else if (event === "bot_uttered") {
          onBot(payload);
        } else if (event === "input_error") {
          show("Sorry, that message could not be sent. Please reload the page.", "notice");
        }
      }
    };
    socket.onclose = () => {
      ready = false;
      status.textContent = "Reconnecting…";
      setTimeout(connect, 1500);
    };
  }

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send(text);
    input.value = "";
  });
  // The switch records the customer's choice with the service (GET shows it, POST changes it); it
  // applies from the next message, on every channel linked to this customer.  It needs the signed
  // session id, so it is enabled once the server has confirmed one.
  function loadConsent() {
    const consentUrl = root.dataset.consentUrl + "?session_id=" + encodeURIComponent(sessionId);
    fetch(consentUrl, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (data) emotion.checked = data.emotion_processing === "on";
        emotion.disabled = false;
        syncToggle();
      })
      .catch(() => { emotion.disabled = false; syncToggle(); });
  }
  // The greeting's button works the switch (off, or back on), once the switch can be used.
  function syncToggle() {
    emotionToggle.disabled = emotion.disabled;
    emotionToggle.textContent = emotion.checked ? "Turn it off" : "Turn it back on";
  }
  emotionToggle.addEventListener("click", () => { if (!emotion.disabled) emotion.click(); });
  emotion.addEventListener("change", async () => {
    const choice = emotion.checked ? "on" : "off";
    syncToggle();
    try {
      const response = await fetch(root.dataset.consentUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ session_id: sessionId, emotion_processing: choice }),
      });
      if (!response.ok) throw new Error(String(response.status));
      show(choice === "on"
        ? "Emotion-aware replies are on: Pip adapts to how the conversation is going."
        : "Emotion-aware replies are off: from your next message nothing about your mood is analysed or stored.",
        "notice");
    } catch (error) {
      emotion.checked = !emotion.checked;
      syncToggle();
      show("Sorry, that setting could not be saved just now. Please try again.", "notice");
    }
  });
  connect();
})();

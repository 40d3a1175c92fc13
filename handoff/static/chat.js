// Attune web chat: a small Socket.IO (Engine.IO v4, WebSocket only) client for Rasa's socketio channel,
// so the page needs no third-party script.  Protocol: "0" open, "40" connect, "2"/"3" ping/pong,
// "42[event, data]" events.  The conversation id survives reloads (localStorage).
(function () {
  const root = document.getElementById("chat");
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const input = document.getElementById("message");
  const emotion = document.getElementById("emotion-switch");
  const key = "attune-session-id";
  let sessionId = localStorage.getItem(key);
  if (!sessionId) {
    sessionId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, "");
    localStorage.setItem(key, sessionId);
  }
  let socket = null;
  let ready = false;
  const pending = [];

  function show(text, speaker, buttons) {
    const item = document.createElement("li");
    item.className = speaker;
    item.textContent = text;
    if (buttons && buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", () => send(b.payload, b.title));
        row.append(button);
      }
      item.append(row);
    }
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }

  function emit(event, data) {
    const packet = "42" + JSON.stringify([event, data]);
    if (ready) socket.send(packet); else pending.push(packet);
  }

  function send(message, shownAs) {
    if (shownAs !== null) show(shownAs || message, "customer");
    emit("user_uttered", { message: message, session_id: sessionId });
  }

  function onBot(data) {
    if (data && data.notice === "agent_joined") { show((data.agent || "A person") + " from the team has joined the chat.", "notice"); return; }
    if (data && data.notice === "agent_left") { show("The person has left; you're back with Pip.", "notice"); return; }
    if (data && data.text) show(data.text, "bot", data.quick_replies || data.buttons);
  }

  function connect() {
    const base = root.dataset.socketUrl.replace(/^http/, "ws").replace(/\/$/, "");
    socket = new WebSocket(base + "/socket.io/?EIO=4&transport=websocket");
    socket.onmessage = (message) => {
      const data = String(message.data);
      if (data[0] === "0") { socket.send("40"); return; }
      if (data === "2") { socket.send("3"); return; }
      if (data.startsWith("40")) {
        socket.send("42" + JSON.stringify(["session_request", { session_id: sessionId }]));
        return;
      }
      if (data.startsWith("42")) {
        const [event, payload] = JSON.parse(data.slice(2));
        if (event === "session_confirm") {
          ready = true;
          status.textContent = "Connected";
          while (pending.length) socket.send(pending.shift());
        } else if (event === "bot_uttered") {
          onBot(payload);
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
  // applies from the next message, on every channel linked to this customer.
  const consentUrl = "/chat/consent?session_id=" + encodeURIComponent(sessionId);
  fetch(consentUrl, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((data) => { if (data) emotion.checked = data.emotion_processing === "on"; })
    .catch(() => {});
  emotion.addEventListener("change", async () => {
    const choice = emotion.checked ? "on" : "off";
    try {
      const response = await fetch("/chat/consent", {
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
      show("Sorry, that setting could not be saved just now. Please try again.", "notice");
    }
  });
  connect();
})();

// Keeps the conversation live while the agent holds it, and tells the service the console is still open
// (a console that stops checking in loses its claim after the timeout).
(function () {
  const list = document.getElementById("transcript");
  if (!list || list.dataset.live !== "1") return;
  const url = list.dataset.url;  // built from the route's name by the page
  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      list.replaceChildren(...data.messages.map((m) => {
        const item = document.createElement("li");
        item.className = m.speaker;
        const who = document.createElement("span");
        who.textContent = m.speaker;
        item.append(who, " " + m.text);
        return item;
      }));
      if (data.status !== "claimed") document.getElementById("status").textContent = data.status;
    } catch (error) { /* the next tick tries again */ }
  }
  refresh();
  setInterval(refresh, 2000);
})();

// Call-back status, live for everyone looking at the handoff (Twilio's status callbacks move it on).
(function () {
  const table = document.getElementById("calls");
  if (!table) return;
  const url = table.dataset.url;
  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      for (const call of data.calls) {
        const row = table.querySelector('tr[data-call="' + call.id + '"]');
        if (!row) continue;
        row.querySelector(".call-status").textContent = call.status;
        row.querySelector(".call-attempts").textContent = String(call.attempts);
        const details = row.querySelector(".call-details");
        if (call.error) details.textContent = call.error;
        else if (call.status === "pending" && call.next_attempt_at) details.textContent = "next attempt " + call.next_attempt_at;
      }
    } catch (error) { /* the next tick tries again */ }
  }
  setInterval(refresh, 2000);
})();

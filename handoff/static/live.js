// Keeps the conversation live while the agent holds it, and tells the service the console is still open
// (a console that stops checking in loses its claim after the timeout).
(function () {
  const list = document.getElementById("transcript");
  if (!list || list.dataset.live !== "1") return;
  const url = "/console/handoffs/" + list.dataset.handoff + "/messages";
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

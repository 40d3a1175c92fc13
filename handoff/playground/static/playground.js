// The designer's playground (handoff/playground/): turns in, scores out; the policy edited in the page
// and saved only on "Save the policy".  Text is always put in with textContent, never as HTML.
"use strict";

(function () {
  const root = document.getElementById("playground");
  if (!root) return;
  const csrf = document.getElementById("csrf-token").value;
  const form = document.getElementById("policy-form");
  const inputs = Array.from(form.querySelectorAll("input[type=number]"));
  const turns = [];
  let version = root.dataset.version;
  let timer = null;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function status(id, text, isError) {
    const node = document.getElementById(id);
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  }

  function edits() {
    const found = {};
    for (const input of inputs) {
      const edited = input.value !== "" && Number(input.value) !== Number(input.dataset.saved);
      input.classList.toggle("edited", edited);
      if (edited) found[input.name] = Number(input.value);
    }
    return found;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ csrf_token: csrf, ...body }),
    });
    const data = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) throw new Error(data.detail || data.error || String(response.status));
    return data;
  }

  function number(value) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(3);
  }

  function signalTable(score, caption) {
    const table = el("table");
    table.appendChild(el("caption", caption));
    const head = el("tr");
    for (const name of ["signal", "value", "× weight", "= contribution"]) head.appendChild(el("th", name, name === "signal" ? "" : "number"));
    table.appendChild(head);
    for (const row of score.signals) {
      if (row.value === 0 && row.contribution === 0) continue;
      const tr = el("tr");
      tr.appendChild(el("td", row.name));
      tr.appendChild(el("td", number(row.value), "number"));
      tr.appendChild(el("td", number(row.weight), "number"));
      tr.appendChild(el("td", number(row.contribution), "number"));
      table.appendChild(tr);
    }
    return table;
  }

  function renderTurn(turn) {
    const item = el("li");
    item.dataset.turn = turn.turn;
    item.appendChild(el("p", turn.text, "message"));
    const reading = el("p", "", "summary");
    const intents = turn.intents.map((i) => `${i.name} ${Number(i.confidence).toFixed(2)}`).join(", ");
    reading.appendChild(el("span", `intents: ${intents || "–"}`));
    const emotions = Object.entries(turn.emotions).map(([k, v]) => `${k} ${Number(v).toFixed(2)}`).join(", ");
    reading.appendChild(el("span", `emotions: ${emotions || "–"}`));
    item.appendChild(reading);
    const summary = el("p", "", "summary");
    if (turn.frustration) {
      const f = turn.frustration;
      summary.appendChild(el("span", `frustration ${number(f.score)} (this turn ${number(f.instant)} + carried ${number(f.carried)})`, "frustration"));
      summary.appendChild(el("span", `distress ${number(turn.distress.score)}`, "distress"));
    } else {
      summary.appendChild(el("span", "not scored: the customer opted out"));
    }
    summary.appendChild(el("span", `tone ${turn.tone.tone}`, "tone"));
    const reasons = turn.decision.reasons.length ? ` — ${turn.decision.reasons.join("; ")}` : "";
    summary.appendChild(el("span", `decision ${turn.decision.kind} (${turn.decision.priority})${reasons}`, "decision"));
    item.appendChild(summary);
    if (turn.frustration) {
      item.appendChild(signalTable(turn.frustration, "Frustration signals"));
      item.appendChild(signalTable(turn.distress, "Distress signals"));
    }
    if (turn.unavailable.length) item.appendChild(el("p", `unavailable: ${turn.unavailable.join(", ")}`, "legend"));
    return item;
  }

  function renderTrajectory(points, thresholds) {
    const svg = document.getElementById("trajectory");
    const ns = "http://www.w3.org/2000/svg";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const width = 400, height = 120, pad = 10;
    const x = (i) => pad + (points.length < 2 ? 0 : (i * (width - 2 * pad)) / (points.length - 1));
    const y = (v) => height - pad - v * (height - 2 * pad);
    const line = (value, colour) => {
      const rule = document.createElementNS(ns, "line");
      rule.setAttribute("x1", pad); rule.setAttribute("x2", width - pad);
      rule.setAttribute("y1", y(value)); rule.setAttribute("y2", y(value));
      rule.setAttribute("stroke", colour); rule.setAttribute("stroke-dasharray", "4 3");
      svg.appendChild(rule);
    };
    line(thresholds.offer_human, "#a61b0f");
    line(thresholds.frustration, "#b7950b");
    for (const [key, colour] of [["frustration", "#c0392b"], ["distress", "#1a5fb4"]]) {
      const values = points.map((p, i) => [i, p[key]]).filter(([, v]) => v !== null);
      if (!values.length) continue;
      const path = document.createElementNS(ns, "polyline");
      path.setAttribute("points", values.map(([i, v]) => `${x(i)},${y(v)}`).join(" "));
      path.setAttribute("fill", "none"); path.setAttribute("stroke", colour); path.setAttribute("stroke-width", "2");
      path.setAttribute("class", key);
      svg.appendChild(path);
    }
  }

  async function rescore() {
    const list = document.getElementById("turns");
    if (!turns.length) {
      list.replaceChildren();
      renderTrajectory([], { offer_human: 0, frustration: 0 });
      status("score-status", "");
      return;
    }
    status("score-status", "Scoring…");
    try {
      const result = await post(root.dataset.scoreUrl, {
        turns, edits: edits(), opted_out: document.getElementById("opted-out").checked,
      });
      list.replaceChildren(...result.turns.map(renderTurn));
      renderTrajectory(result.trajectory, result.thresholds);
      status("score-status", `Scored ${result.turns.length} turn(s) with ${Object.keys(edits()).length ? "your draft" : "the saved policy"} (re-score ${result.rescore_ms} ms).`);
    } catch (error) {
      status("score-status", `Could not score: ${error.message}`, true);
    }
  }

  function draftChanged() {
    const count = Object.keys(edits()).length;
    document.getElementById("save-policy").disabled = count === 0;
    status("draft-state", count ? `${count} change(s), not saved.` : "No changes.");
    clearTimeout(timer);
    timer = setTimeout(rescore, 150);
  }

  document.getElementById("turn-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = document.getElementById("turn-text");
    const failed = Number(document.getElementById("turn-failed").value) || 0;
    if (!text.value.trim()) return;
    turns.push({ text: text.value.trim(), failed_before: failed });
    text.value = "";
    text.focus();
    rescore();
  });
  document.getElementById("clear-turns").addEventListener("click", () => { turns.length = 0; rescore(); });
  document.getElementById("opted-out").addEventListener("change", rescore);
  form.addEventListener("input", draftChanged);
  document.getElementById("reset-policy").addEventListener("click", () => {
    for (const input of inputs) input.value = input.dataset.saved;
    draftChanged();
  });

  document.getElementById("save-policy").addEventListener("click", async () => {
    status("save-status", "Saving…");
    try {
      const result = await post(root.dataset.saveUrl, { edits: edits(), version });
      for (const input of inputs) input.dataset.saved = Number(input.value).toFixed(2);
      version = result.version;
      document.getElementById("policy-version").textContent = version;
      status("save-status", `Saved: version ${version}. Action servers on this host read it within a second.`);
      draftChanged();
    } catch (error) {
      status("save-status", `Not saved: ${error.message}`, true);
    }
  });

  function sampleRow(cells) {
    const tr = el("tr");
    for (const cell of cells) tr.appendChild(el("td", cell));
    return tr;
  }

  document.getElementById("run-samples").addEventListener("click", async () => {
    const dev = document.getElementById("with-dev");
    status("samples-status", "Re-scoring the samples (the first run reads them with Rasa)…");
    try {
      const result = await post(root.dataset.samplesUrl, { edits: edits(), dev: Boolean(dev && dev.checked) });
      const box = document.getElementById("samples");
      const counts = result.tests.counts;
      const table = el("table", null, "samples-table");
      table.appendChild(sampleRow(["", "saved", "draft"]));
      const labels = { turns: "customer turns", frustrated: "over the frustration threshold", toned: "not neutral tone", offers: "escalation decisions" };
      for (const key of Object.keys(labels)) table.appendChild(sampleRow([labels[key], counts[key][0], counts[key][1]]));
      if (result.dev) {
        table.appendChild(sampleRow([`AUC (${result.dev.file}, ${result.dev.saved.turns} rated turns)`, number(result.dev.saved.auc), number(result.dev.draft.auc)]));
        table.appendChild(sampleRow([`F1 at the threshold`, number(result.dev.saved.f1), number(result.dev.draft.f1)]));
      }
      const changed = el("ul");
      for (const row of result.tests.changed) {
        changed.appendChild(el("li", `${row.sample}, turn ${row.turn} “${row.text}”: frustration ${number(row.frustration[0])} → ${number(row.frustration[1])}, tone ${row.tone[0]} → ${row.tone[1]}, decision ${row.decision[0]} → ${row.decision[1]}`, "changed"));
      }
      box.replaceChildren(table, el("p", result.tests.changed.length ? "Turns whose tone or decision the draft changes:" : "The draft changes no tone or decision in the samples."), changed);
      status("samples-status", `${result.tests.conversations} conversations re-scored in ${result.rescore_ms} ms.`);
    } catch (error) {
      status("samples-status", `Could not re-score: ${error.message}`, true);
    }
  });
})();

// Canned responses in the reply box: type "/" and a shortcut, choose with the arrow keys and Enter
// (or a click), Escape closes.  The server fills the slots ({order_number}, {first_name}) from the
// handoff; a slot it has no value for stays in the text, selected, so the agent replaces it.
// The reply box itself (sending, Enter to send) is live.js's; while the list is open, this script
// takes the keys it needs first (a capture listener) and lets every other key through.
(function () {
  "use strict";
  var box = document.getElementById("reply-text");
  var panel = document.getElementById("workspace");
  if (!box || !panel) return;
  var searchUrl = panel.getAttribute("data-canned-search");
  var handoff = panel.getAttribute("data-handoff");

  var list = document.createElement("ul");
  list.id = "canned-suggestions";
  list.className = "canned-suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Canned responses");
  list.hidden = true;
  box.parentNode.insertBefore(list, box.nextSibling);
  box.setAttribute("aria-controls", list.id);
  box.setAttribute("aria-autocomplete", "list");

  var found = [];
  var active = -1;
  var pending = null;
  var asked = 0;

  // The "/word" the caret is in, if any: [start, end, query].
  function slashWord() {
    var end = box.selectionStart;
    var before = box.value.slice(0, end);
    var match = /(^|\s)\/([^\s\/]{0,64})$/.exec(before);
    if (!match) return null;
    return [end - match[2].length - 1, end, match[2]];
  }

  function close() {
    list.hidden = true;
    list.textContent = "";
    found = [];
    active = -1;
    box.removeAttribute("aria-activedescendant");
  }

  function mark(index) {
    active = index;
    Array.prototype.forEach.call(list.children, function (item, i) {
      item.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) box.setAttribute("aria-activedescendant", "canned-" + index);
  }

  function show(responses) {
    list.textContent = "";
    found = responses;
    if (!responses.length) { close(); return; }
    responses.forEach(function (r, i) {
      var item = document.createElement("li");
      item.id = "canned-" + i;
      item.setAttribute("role", "option");
      var name = document.createElement("strong");
      name.textContent = "/" + r.shortcut + " ";
      item.appendChild(name);
      item.appendChild(document.createTextNode(r.title + (r.missing.length ? " (fill in: " + r.missing.join(", ") + ")" : "")));
      item.addEventListener("mousedown", function (event) { event.preventDefault(); insert(i); });
      list.appendChild(item);
    });
    list.hidden = false;
    mark(0);
  }

  function search() {
    var word = slashWord();
    if (!word) { close(); return; }
    var ticket = ++asked;
    var url = searchUrl + "?q=" + encodeURIComponent(word[2]) + "&handoff=" + encodeURIComponent(handoff);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { responses: [] }; })
      .then(function (body) { if (ticket === asked) show(body.responses || []); })
      .catch(function () { close(); });
  }

  function insert(index) {
    var chosen = found[index];
    var word = slashWord();
    if (!chosen || !word) { close(); return; }
    box.value = box.value.slice(0, word[0]) + chosen.text + box.value.slice(word[1]);
    var caret = word[0] + chosen.text.length;
    close();
    box.focus();
    // Select the first slot left unfilled, so typing replaces it.
    var gap = chosen.missing.length ? box.value.indexOf("{" + chosen.missing[0] + "}", word[0]) : -1;
    if (gap >= 0) box.setSelectionRange(gap, gap + chosen.missing[0].length + 2);
    else box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  box.addEventListener("input", function () {
    clearTimeout(pending);
    pending = setTimeout(search, 120);
  });
  box.addEventListener("keydown", function (event) {
    if (list.hidden) return;
    var keys = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in keys) {
      mark((active + keys[event.key] + found.length) % found.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      insert(active);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);
  box.addEventListener("blur", function () { setTimeout(close, 150); });
})();

// Mounts the rasa-webchat widget the way its README shows, with the settings from the page's fragment.
(function () {
  "use strict";
  var settings = new URLSearchParams(window.location.hash.slice(1));
  var token = settings.get("token");
  // What the socket went through, for the test to read (the widget only logs it to the console).
  var socketEvents = (window.socketEvents = []);
  function record(name) {
    return function (detail) {
      socketEvents.push({ event: name, detail: detail && detail.message ? detail.message : null });
    };
  }
  window.WebChat.default(
    {
      socketUrl: settings.get("socketUrl"),
      socketPath: "/socket.io/",
      // Sent as the first message of a new conversation only (the widget remembers it started one).
      initPayload: "/greet",
      customData: token ? { identity_token: token } : {},
      embedded: true,
      title: "Parcelpine",
      params: { storage: "local" },
      // Not session_confirm: the widget's own handler of it would be replaced.
      onSocketEvent: { connect: record("connect"), connect_error: record("connect_error") }
    },
    document.getElementById("webchat")
  );
})();

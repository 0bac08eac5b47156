// The self-check page: a student runs the automatic check on their own client. It shows
// the run's prompts and verdicts only; the server never sends this page any frames.
// Everything from the server is put on the page with textContent, never as HTML.
(() => {
  "use strict";

  const root = document.getElementById("self-check");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const RENEW_MS = 10000; // the run ends when no page has watched it for a while
  let run = null;
  let link = null;

  function say(text, kind) {
    $("console-status").textContent = text;
    $("console-status").dataset.kind = kind || "";
  }

  async function command(cmd, fields, okText) {
    const reply = await link.request({ cmd, ...fields }).catch(() => ({ ok: false, error: "not connected" }));
    if (reply.ok) {
      if (okText) say(okText, "ok");
    } else {
      say(reply.error, "error");
    }
    return reply;
  }

  function showRun(state) {
    run = state;
    if (!state) return;
    const box = $("run");
    box.hidden = false;
    const active = state.status === "running";
    // The state as data too, for tests and styles: what the run waits for now.
    Object.assign(box.dataset, { step: state.step, status: state.status, asks: state.asks || "", bot: state.bot || "" });
    $("run-login-shown").textContent = state.login;
    $("run-step").textContent = active ? state.step : state.status;
    $("run-prompt").textContent = active ? state.prompt : "";
    $("run-done").hidden = !(active && state.asks === "done");
    $("run-yes").hidden = !(active && state.asks === "yesno");
    $("run-no").hidden = !(active && state.asks === "yesno");
    $("run-skip").hidden = !active;
    $("run-stop").hidden = !active;
    $("run-start").disabled = active;
    window.runPanel.showResults($("run-results"), state.results);
    $("run-report").hidden = active;
    $("run-report").querySelector("a").href = state.report_url;
  }

  // Replies to this page's requests settle in socket.js; ref 0 is the server's own "watch"
  // on connect, and events carry the run as it moves.
  function handle(message) {
    if (message.kind === "reply" && message.ref === 0 && message.ok) {
      say("Ready.", "ok");
      showRun(message.data && message.data.run);
    } else if (message.kind === "events" && "run" in message) {
      showRun(message.run);
    }
  }

  setInterval(() => {
    if (link.open) link.send({ cmd: "watch" });
  }, RENEW_MS);
  window.runPanel.keepCountdown($("run-countdown"), () => run);

  $("run-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const options = window.runPanel.timingOptions(event.target);
    const reply = await command("run.start", { login: $("run-login").value, options }, "Check started.");
    if (reply.ok) showRun(reply.data);
  });
  for (const button of root.querySelectorAll("[data-answer]")) {
    button.addEventListener("click", () => command("run.answer", { answer: button.dataset.answer }));
  }
  $("run-skip").addEventListener("click", () => command("run.skip", {}, "Step skipped."));
  $("run-stop").addEventListener("click", () => command("run.stop", {}, "Stopping the check…"));

  link = window.reconnectingSocket({
    url: root.dataset.wsPath,
    onFrame: handle,
    onStatus(state) {
      if (state === "reconnecting") say("Connection lost; retrying…", "error");
    },
  });
})();

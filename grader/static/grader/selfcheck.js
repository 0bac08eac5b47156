// The self-check page: a student runs the automatic check on their own client. It shows
// the run's prompts and verdicts only; the server never sends this page any frames.
// Everything from the server is put on the page with textContent, never as HTML.
(() => {
  "use strict";

  const root = document.getElementById("self-check");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const RENEW_MS = 10000; // the run ends when no page has watched it for a while
  const pending = new Map();
  let socket = null;
  let nextRef = 1;
  let run = null;

  function say(text, kind) {
    $("console-status").textContent = text;
    $("console-status").dataset.kind = kind || "";
  }

  function send(command) {
    return new Promise((resolve) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        resolve({ ok: false, error: "not connected" });
        return;
      }
      const ref = nextRef++;
      pending.set(ref, resolve);
      socket.send(JSON.stringify({ ...command, ref }));
    });
  }

  async function command(cmd, fields, okText) {
    const reply = await send({ cmd, ...fields });
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
    const results = $("run-results");
    results.replaceChildren();
    for (const r of state.results || []) {
      const item = document.createElement("li");
      const badge = document.createElement("span");
      badge.className = `badge ${r.status}`;
      badge.textContent = r.status.replace("_", " ");
      item.append(badge, ` ${r.code} ${r.title}: ${r.summary}`);
      results.append(item);
    }
    $("run-report").hidden = active;
    $("run-report").querySelector("a").href = state.report_url;
  }

  function handle(message) {
    if (message.kind === "reply") {
      const resolve = pending.get(message.ref);
      if (resolve) {
        pending.delete(message.ref);
        resolve(message);
      }
      if (message.ref === 0 && message.ok) {
        say("Ready.", "ok");
        showRun(message.data && message.data.run);
      }
    } else if (message.kind === "events" && "run" in message) {
      showRun(message.run);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      for (const resolve of pending.values()) resolve({ ok: false, error: "connection closed" });
      pending.clear();
      say("Connection lost; retrying…", "error");
      setTimeout(connect, 2000);
    });
  }

  setInterval(() => send({ cmd: "watch" }), RENEW_MS);
  setInterval(() => {
    const countdown = $("run-countdown");
    countdown.textContent = run && run.deadline && run.status === "running"
      ? `(${Math.max(0, Math.round(run.deadline - Date.now() / 1000))} s left)` : "";
  }, 500);

  $("run-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const options = {};
    for (const input of event.target.querySelectorAll(".options input")) {
      if (input.value !== "") options[input.name] = Number(input.value);
    }
    const reply = await command("run.start", { login: $("run-login").value, options }, "Check started.");
    if (reply.ok) showRun(reply.data);
  });
  for (const button of root.querySelectorAll("[data-answer]")) {
    button.addEventListener("click", () => command("run.answer", { answer: button.dataset.answer }));
  }
  $("run-skip").addEventListener("click", () => command("run.skip", {}, "Step skipped."));
  $("run-stop").addEventListener("click", () => command("run.stop", {}, "Stopping the check…"));
  connect();
})();

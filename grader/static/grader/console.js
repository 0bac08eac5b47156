// The grader console: live connections and frames, controls, the check run. No framework.
// Everything that comes from the chat is put on the page with textContent, never as HTML.
(() => {
  "use strict";

  const root = document.getElementById("console");
  if (!root) return;

  const MAX_FRAMES = 1500;
  const RENEW_MS = 10000;
  const ANSWER_MS = 5000;
  const $ = (id) => document.getElementById(id);
  const statusLine = $("console-status");
  const framesList = $("frames");
  const typeFilter = $("filter-type");
  const seenTypes = new Set();
  let link = null; // the reconnecting socket (courseware/socket.js), opened at the end
  let lastSeq = 0;
  let epoch = null;
  let run = null;
  let paused = [];

  // -- small helpers --------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clock(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function pretty(text) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.dataset.kind = kind || "";
  }

  // -- the socket -------------------------------------------------------------------------------

  // Why a command failed, in the words the status line shows (and the lease renewal checks).
  const FAILURES = {
    not_connected: "the console is not connected",
    timeout: "the chat server did not answer",
    closed: "connection closed",
    stopped: "connection closed",
  };

  function send(command) {
    return link.request({ ...command }, { timeout: ANSWER_MS }).catch((error) => ({
      ok: false,
      error: FAILURES[error.reason] || error.message,
    }));
  }

  async function command(cmd, fields, okText) {
    const reply = await send({ cmd, ...fields });
    if (reply.ok) {
      if (okText) say(okText, "ok");
    } else {
      say(`${cmd}: ${reply.error}`, "error");
    }
    return reply;
  }

  function onOpen() {
    say("Connected; waiting for the chat server…");
    setTimeout(() => {
      if (statusLine.textContent.startsWith("Connected; waiting")) {
        say("The chat server does not answer. Is it running (with the same REDIS_URL)?", "error");
      }
    }, ANSWER_MS);
  }

  function onClose(event) {
    if (event.code === 4403) {
      link.stop();
      say("Only mentors and admins may use the chat console.", "error");
    }
  }

  function onStatus(state, detail) {
    if (state === "reconnecting") {
      const seconds = Math.max(1, Math.round(detail.delay / 1000));
      say(`Console connection lost; retrying in ${seconds} s…`, "error");
    }
  }

  function handle(message) {
    if (message.kind === "hello") {
      root.dataset.mode = message.mode;
      return;
    }
    if (message.kind === "reply") {
      // Replies to this page's requests settle their promises in socket.js; ref 0 is the
      // server's own "watch" on connect, and a late reply to a timed-out request is dropped.
      if (message.ref === 0) {
        if (message.ok) {
          say(root.dataset.mode === "redis" ? "Live, over Redis." : "Live.", "ok");
          apply(message.data);
        } else {
          say(`The chat server did not answer: ${message.error}`, "error");
        }
      }
      return;
    }
    if (message.kind === "events") apply(message);
  }

  function apply(update) {
    if (update.epoch && update.epoch !== epoch) {
      epoch = update.epoch; // a new chat server (or a restarted one): sequence numbers restart
      lastSeq = 0;
    }
    if (update.presence) showPresence(update.presence);
    if ("run" in update) showRun(update.run);
    if ("bot" in update) showBot(update.bot);
    if (update.frames) addFrames(update.frames);
    if (update.unsent) {
      const note = $("unsent");
      note.hidden = false;
      note.textContent = `${update.unsent} frame(s) came too fast to be shown.`;
    }
  }

  // -- presence ---------------------------------------------------------------------------------

  function showPresence(presence) {
    const body = $("conns");
    body.replaceChildren();
    const logins = new Set();
    for (const c of presence.conns) {
      const row = el("tr");
      row.append(el("td", "", c.conn));
      const who = el("td", "", c.login === null ? "not logged in" : c.login);
      if (c.bot) who.append(el("span", "tag", "bot"));
      row.append(who, el("td", "", c.since ? clock(c.since) : "—"));
      const actions = el("td", "actions");
      if (c.login !== null && !c.bot) {
        logins.add(c.login);
        const check = el("button", "link-button", "Check");
        check.type = "button";
        check.addEventListener("click", () => {
          $("run-login").value = c.login;
          $("run-login").focus();
        });
        actions.append(check);
      }
      const kick = el("button", "link-button", "Disconnect");
      kick.type = "button";
      kick.setAttribute("aria-label", `Disconnect connection ${c.conn}`);
      kick.addEventListener("click", () => command("kick", { conn: c.conn }, `Connection ${c.conn} closed.`));
      actions.append(kick);
      row.append(actions);
      body.append(row);
    }
    $("conns-count").textContent = `(${presence.total} open, ${presence.users.length} logged in)`;
    const list = $("online-logins");
    list.replaceChildren(...[...logins].sort().map((login) => {
      const option = el("option");
      option.value = login;
      return option;
    }));
    const down = $("down");
    down.hidden = !presence.down_for;
    down.textContent = presence.down_for ? `The server plays “down” for ${presence.down_for} s more.` : "";
  }

  // -- the check run ----------------------------------------------------------------------------

  const STEPS = {
    starting: "starting",
    login: "waiting for the login",
    bot: "the bot joins",
    counter: "the unread counter (6.12)",
    open: "open the dialogue (8.2)",
    click: "click the history (8.2)",
    "open-message": "a message into the open dialogue (8.2)",
    edited: "the edited mark (6.13)",
    actions: "send, edit, delete, empty message",
    delivery: "delivery after a reconnect",
    reload: "reload the client (8.1)",
    loss: "connection loss",
    report: "judging",
    done: "done",
  };

  function showRun(state) {
    run = state;
    const box = $("run");
    if (!state) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const active = state.status === "running";
    $("run-title-shown").textContent = active ? "Check of" : "Last check, of";
    $("run-login-shown").textContent = state.login;
    $("run-step").textContent = active ? STEPS[state.step] || state.step : `${state.status}; the report is saved`;
    $("run-prompt").textContent = state.prompt;
    $("run-prompt").hidden = !state.prompt;
    $("run-done").hidden = state.asks !== "done";
    $("run-yes").hidden = state.asks !== "yesno";
    $("run-no").hidden = state.asks !== "yesno";
    $("run-skip").hidden = !active;
    $("run-stop").hidden = !active;
    $("run-start").disabled = active;
    window.runPanel.showResults($("run-results"), state.results);
    const link = $("run-report");
    link.hidden = active;
    link.querySelector("a").href = state.report_url;
  }

  window.runPanel.keepCountdown($("run-countdown"), () => run);

  $("run-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const options = window.runPanel.timingOptions(event.target);
    const student = $("run-student").value;
    const reply = await command("run.start", {
      login: $("run-login").value,
      student_id: student ? Number(student) : null,
      options,
    }, "Check started.");
    if (reply.ok) {
      // A new run starts from a clean view: no earlier verdicts, no earlier frames.
      $("run-results").replaceChildren();
      framesList.replaceChildren();
      showRun(reply.data);
    }
  });
  for (const [id, answer] of [["run-done", "done"], ["run-yes", "yes"], ["run-no", "no"]]) {
    $(id).addEventListener("click", () => command("run.answer", { answer }, "Answer noted."));
  }
  $("run-skip").addEventListener("click", () => command("run.skip", {}, "Step skipped."));
  $("run-stop").addEventListener("click", () => command("run.stop", {}, "Stopping the check…"));

  // -- controls ---------------------------------------------------------------------------------

  $("loss-form").addEventListener("submit", (event) => {
    event.preventDefault();
    command("loss", { outage: Number($("loss-outage").value || 0) }, "Connection loss simulated.");
  });

  function showBot(bot) {
    $("bot-state").textContent = bot && bot.connected ? `Connected as ${bot.login} (connection ${bot.conn}).` : "Not connected.";
  }

  for (const button of document.querySelectorAll("[data-bot]")) {
    button.addEventListener("click", async () => {
      const cmd = button.dataset.bot;
      const peer = $("bot-peer").value;
      const text = $("bot-text").value;
      const fields = {
        "bot.connect": {},
        "bot.disconnect": {},
        "bot.send": { to: peer, text },
        "bot.edit": { to: peer, text },
        "bot.delete": { to: peer },
        "bot.read": { peer },
        "bot.history": { peer },
      }[cmd];
      const reply = await command(cmd, fields, `${button.textContent}: done.`);
      if (reply.ok && (cmd === "bot.connect" || cmd === "bot.disconnect")) showBot(reply.data);
      if (reply.ok && cmd === "bot.read") say(`The bot read ${reply.data.read} message(s).`, "ok");
      if (reply.ok && cmd === "bot.history") say(`History: ${reply.data.messages.length} message(s).`, "ok");
    });
  }

  // -- frames -----------------------------------------------------------------------------------

  const ARROWS = { in: "→", out: "←", open: "＋", close: "×", kick: "⨯", refused: "⊘", mark: "•" };

  function frameNode(f) {
    const item = el("li", `frame dir-${f.dir}${f.bot ? " bot" : ""}`);
    item.dataset.login = f.login || "";
    item.dataset.type = f.type || "";
    item.dataset.dir = f.dir === "in" || f.dir === "out" ? f.dir : "events";
    const head = el("div", "frame-head");
    head.append(el("span", "time", clock(f.t)), el("span", "arrow", ARROWS[f.dir] || f.dir));
    if (f.conn !== null && f.conn !== undefined) head.append(el("span", "conn", `#${f.conn}`));
    if (f.login) head.append(el("span", "login", f.login));
    if (f.bot) head.append(el("span", "tag", "bot"));
    if (f.type) head.append(el("span", "type", f.type));
    if (f.dir === "mark" || f.dir === "open" || f.dir === "close" || f.dir === "kick" || f.dir === "refused") {
      head.append(el("span", "note", f.text || { open: "connected", close: "disconnected", kick: "closed by the server", refused: "connection refused (server down)" }[f.dir] || ""));
    } else {
      item.append(head, el("pre", "frame-json", pretty(f.text)));
      if (f.info && f.info.cut) item.append(el("p", "meta", `(cut from ${f.info.cut} characters)`));
      return item;
    }
    item.append(head);
    return item;
  }

  function visible(node) {
    const user = $("filter-user").value.trim();
    const type = typeFilter.value;
    const dir = $("filter-dir").value;
    return (!user || node.dataset.login === user) && (!type || node.dataset.type === type) && (!dir || node.dataset.dir === dir);
  }

  function addFrames(frames) {
    if ($("pause").checked) {
      paused.push(...frames);
      return;
    }
    const fresh = frames.filter((f) => f.seq > lastSeq);
    if (!fresh.length) return;
    lastSeq = fresh[fresh.length - 1].seq;
    const fragment = document.createDocumentFragment();
    for (const f of fresh) {
      if (f.type && !seenTypes.has(f.type)) {
        seenTypes.add(f.type);
        const option = el("option", "", f.type);
        option.value = f.type;
        typeFilter.append(option);
      }
      const node = frameNode(f);
      node.hidden = !visible(node);
      fragment.append(node);
    }
    framesList.append(fragment);
    while (framesList.childElementCount > MAX_FRAMES) framesList.firstElementChild.remove();
    if ($("follow").checked) framesList.scrollTop = framesList.scrollHeight;
  }

  function refilter() {
    for (const node of framesList.children) node.hidden = !visible(node);
  }

  $("filter-user").addEventListener("input", refilter);
  typeFilter.addEventListener("change", refilter);
  $("filter-dir").addEventListener("change", refilter);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("pause").addEventListener("change", () => {
    if (!$("pause").checked) {
      const held = paused;
      paused = [];
      addFrames(held);
    }
  });
  $("frames-clear").addEventListener("click", () => framesList.replaceChildren());

  // Renew the console's lease on the recorder; the chat server stops recording without it.
  setInterval(async () => {
    if (link.open) {
      const reply = await send({ cmd: "watch" });
      if (reply.ok) {
        apply(reply.data);
        if (statusLine.dataset.kind === "error" && statusLine.textContent.startsWith("The chat server")) {
          say("Live.", "ok");
        }
      } else if (reply.error === "the chat server did not answer") {
        say("The chat server does not answer. Is it running (with the same REDIS_URL)?", "error");
      }
    }
  }, RENEW_MS);

  link = window.reconnectingSocket({
    url: root.dataset.wsPath,
    initialDelay: 1000,
    maxDelay: 15000,
    onOpen,
    onFrame: handle,
    onClose,
    onStatus,
  });
})();

// The live attempt page: autosave over a WebSocket, the server's clock, takeover by
// another tab, reconnect after a drop. The server decides everything; without this
// script (or without a socket) the form still saves and submits on its own.
(function () {
  "use strict";

  const form = document.getElementById("attempt-form");
  if (!form) return;

  const TAKEN_OVER = 4409;
  const FINISHED = 4410;
  const total = Number(form.dataset.total);
  const $ = (id) => document.getElementById(id);
  const progress = $("attempt-progress");
  const progressText = $("attempt-progress-text");
  const timeEl = $("attempt-time");
  const liveEl = $("attempt-live");
  const notice = $("attempt-notice");
  const noticeText = $("attempt-notice-text");
  const continueButton = $("attempt-continue");
  const resultLink = $("attempt-result-link");
  const dialog = $("attempt-confirm");
  // Unsent choices survive a reload, a closed tab and an ended session (attempt-store.js).
  const store = window.attemptStore(form.dataset.attempt);
  const session = window.sessionWatch(form.dataset.sessionUrl, $("attempt-session"));

  let link = null; // the reconnecting socket (courseware/socket.js), made once all is set up
  let stopped = false; // taken over or finished: no reconnecting
  let leaving = false; // the form is being submitted
  let deadlineAt = null; // performance.now() when time runs out, from the server's clock
  let reloadTimer = null;
  let resendTimer = null; // the server refused frames for coming too fast: send again soon
  // position -> {options, ref}: chosen here and not yet acknowledged; ref is that of the
  // latest frame sent for it, the only one whose reply settles it.
  const pending = new Map();
  const announced = new Set();

  function say(text) {
    liveEl.textContent = text;
  }

  function inputs(position) {
    return Array.from(form.querySelectorAll(`input[name="q${position}"]`));
  }

  function positions() {
    const seen = new Set();
    form.querySelectorAll('input[name^="q"]').forEach((input) => {
      const match = /^q(\d+)$/.exec(input.name);
      if (match) seen.add(Number(match[1]));
    });
    return Array.from(seen).sort((a, b) => a - b);
  }

  function chosen(position) {
    return inputs(position)
      .filter((input) => input.checked)
      .map((input) => input.value) // the attempt's random option values, never ids
      .sort();
  }

  function setWas(position, ids) {
    const was = form.querySelector(`input[name="was${position}"]`);
    if (was) was.value = ids.join(",");
  }

  function showProgress() {
    let answered = 0;
    for (const position of positions()) {
      const done = chosen(position).length > 0;
      if (done) answered += 1;
      const link = document.querySelector(`.attempt-nav a[data-position="${position}"]`);
      if (link) {
        link.classList.toggle("answered", done);
        const state = link.querySelector(".state");
        if (state) state.textContent = done ? " (answered)" : " (not answered)";
      }
    }
    progress.value = answered;
    progress.textContent = `${answered} of ${total}`;
    progressText.textContent = `${answered} of ${total}`;
  }

  function sendAnswer(position) {
    if (!link.open) return false;
    const entry = pending.get(position);
    const frame = { type: "answer", question: position, options: entry.options };
    // The reply ("saved" or "error") goes through handle() like any frame; a request the
    // closing socket drops needs nothing: the choice stays pending and is sent again.
    link.request(frame).then(handle, () => {});
    entry.ref = frame.ref;
    return true;
  }

  function sendPending() {
    for (const position of pending.keys()) sendAnswer(position);
  }

  function saveAnswer(position) {
    pending.set(position, { options: chosen(position), ref: null });
    store.put(position, inputs(position));
    showProgress();
    if (sendAnswer(position)) {
      say("Saving…");
    } else if (session.ended) {
      say("Kept in this browser: log in again to save it.");
    } else {
      say("Not connected: this answer is kept here and saved when the connection returns. You can also press Save answers.");
    }
  }

  function applyState(answers) {
    for (const position of positions()) {
      if (pending.has(position)) continue; // a choice made here while offline wins
      const ids = answers[String(position)] || [];
      inputs(position).forEach((input) => {
        input.checked = ids.includes(input.value);
      });
      setWas(position, ids);
    }
    sendPending();
    showProgress();
  }

  function onSaved(frame) {
    // An earlier frame may carry the same choice as the latest and still be followed by
    // another choice: only the reply to the latest frame means the page and server agree.
    const mine = pending.get(frame.question);
    if (mine && frame.ref === mine.ref) {
      pending.delete(frame.question);
      store.drop(frame.question);
    }
    setWas(frame.question, frame.options);
    say(pending.size ? "Saving…" : "All answers saved.");
  }

  function setEnabled(enabled) {
    form.querySelectorAll("input, button").forEach((element) => {
      if (element.type !== "hidden") element.disabled = !enabled;
    });
  }

  function showNotice(text, action) {
    noticeText.textContent = text;
    continueButton.hidden = action !== continueButton;
    resultLink.hidden = action !== resultLink;
    notice.hidden = false;
    action.focus();
  }

  function takenOver(message) {
    stopped = true;
    setEnabled(false);
    say("");
    showNotice(message || "This attempt was opened in another tab or on another device.", continueButton);
  }

  function finished(frame) {
    stopped = true;
    clearTimeout(reloadTimer);
    // Choices the server never confirmed are lost with the attempt: say so, never hide it.
    const unsent = pending.size;
    pending.clear();
    store.clear();
    setEnabled(false);
    if (frame.result_url) resultLink.href = frame.result_url;
    if (timeEl && frame.status === "expired") timeEl.textContent = "0:00";
    say("");
    const count = unsent === 1 ? "1 answer" : `${unsent} answers`;
    const lost = unsent ? ` ${count} chosen on this page could not be saved.` : "";
    showNotice((frame.message || "This attempt is over.") + lost, resultLink);
  }

  continueButton.addEventListener("click", () => {
    notice.hidden = true;
    stopped = false;
    setEnabled(true);
    say("Continuing here…");
    link.start();
  });

  // The clock: the server sends the remaining time; the page counts down between frames.
  function setRemaining(seconds) {
    if (typeof seconds !== "number") return;
    deadlineAt = performance.now() + seconds * 1000;
    tick();
  }

  function format(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = String(seconds % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function tick() {
    if (deadlineAt === null || !timeEl || stopped) return;
    const left = Math.max(0, Math.ceil((deadlineAt - performance.now()) / 1000));
    timeEl.textContent = format(left);
    for (const mark of [300, 60]) {
      if (left <= mark && left > 0 && !announced.has(mark)) {
        announced.add(mark);
        say(mark === 60 ? "One minute left." : "Five minutes left.");
      }
    }
    if (left === 0 && reloadTimer === null) {
      say("Time is up: the server is grading your attempt…");
      setEnabled(false);
      // The socket normally brings the result link; without it the page itself asks.
      reloadTimer = setTimeout(() => {
        leaving = true;
        window.location.reload();
      }, 5000);
    }
  }

  function handle(frame) {
    switch (frame.type) {
      case "state":
        setRemaining(frame.remaining);
        applyState(frame.answers || {});
        say(pending.size ? "Connected; saving…" : "Connected: answers are saved as you choose them.");
        break;
      case "saved":
        onSaved(frame);
        break;
      case "time":
        setRemaining(frame.remaining);
        break;
      case "error":
        const refused = typeof frame.question === "number" && pending.get(frame.question);
        if (frame.code === "bad_answer" && refused && frame.ref === refused.ref) {
          pending.delete(frame.question);
          store.drop(frame.question); // refused for good: the message below says why
          link.send({ type: "sync" });
        }
        if (frame.code === "rate_limited") {
          // Quick clicking can outrun the server's frame budget; the refused choices are
          // still pending here, so send the latest of each once the budget has refilled.
          clearTimeout(resendTimer);
          resendTimer = setTimeout(sendPending, 1000);
          say("Saving…");
          break;
        }
        if (frame.code !== "closed") say(frame.message);
        break;
      case "taken_over":
        takenOver(frame.message);
        break;
      case "finished":
        if (!leaving) finished(frame); // this page's own submit is already on its way

        break;
      default:
        break;
    }
  }

  function onClose(event) {
    if (stopped || leaving) {
      link.stop();
    } else if (event.code === TAKEN_OVER) {
      link.stop();
      takenOver();
    } else if (event.code === FINISHED) {
      link.stop();
      finished({ result_url: resultLink.getAttribute("href") });
    }
  }

  function onStatus(state, detail) {
    if (state !== "reconnecting" || session.ended) return;
    say("Connection lost; reconnecting… Your answers are kept on this page.");
    // A refused handshake (no session) and a server that is down look the same here;
    // ask the server which one it is. Down: the retries go on until it is back.
    if (!detail.opened) session.check(() => !stopped && !leaving).then((ended) => ended && say(""));
  }

  form.addEventListener("change", (event) => {
    const match = /^q(\d+)$/.exec(event.target.name || "");
    if (match && !stopped) saveAnswer(Number(match[1]));
  });

  function addHidden(name, value) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function unansweredNumbers() {
    return positions()
      .filter((position) => chosen(position).length === 0)
      .map((position) => position + 1);
  }

  function submitNow() {
    addHidden("action", "submit");
    addHidden("confirm", "1");
    leaving = true;
    form.submit();
  }

  form.addEventListener("submit", (event) => {
    const submitter = event.submitter;
    if (!submitter || submitter.value !== "submit") {
      leaving = true;
      return;
    }
    const missing = unansweredNumbers();
    if (missing.length === 0) {
      addHidden("confirm", "1");
      leaving = true;
      return;
    }
    event.preventDefault();
    const which = missing.length === 1 ? `Question ${missing[0]} is` : `Questions ${missing.join(", ")} are`;
    const text = `${which} not answered (${missing.length} of ${total}).`;
    if (typeof dialog.showModal !== "function") {
      if (window.confirm(`${text} Submit anyway?`)) submitNow();
      return;
    }
    $("attempt-confirm-text").textContent = text;
    dialog.showModal();
    $("attempt-confirm-no").focus();
  });

  $("attempt-confirm-yes").addEventListener("click", () => {
    dialog.close();
    submitNow();
  });

  $("attempt-confirm-no").addEventListener("click", () => {
    dialog.close();
    const first = unansweredNumbers()[0];
    const input = first ? form.querySelector(`input[name="q${first - 1}"]`) : null;
    if (input) input.focus();
  });

  // The form carries every choice: once it is sent, kept copies do not count as lost
  // (the time-up reload sends nothing).
  window.addEventListener("pagehide", () => leaving && reloadTimer === null && store.posted());
  window.addEventListener("beforeunload", (event) => {
    if (pending.size && !leaving && !stopped && !(session.following && store.available)) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  $("attempt-nojs").hidden = true;
  // Choices an earlier visit kept and the server never confirmed: sent once connected,
  // under the server's usual rules (deadline, rate limit).
  for (const position of store.restore(inputs)) {
    pending.set(position, { options: chosen(position), ref: null });
  }
  showProgress();
  if (form.dataset.remaining !== undefined) setRemaining(Number(form.dataset.remaining));
  setInterval(tick, 1000);
  link = window.reconnectingSocket({
    url: form.dataset.wsPath,
    initialDelay: 1000,
    maxDelay: 10000,
    onOpen: () => session.resume(), // logged in again (say, in another tab): carry on here
    onFrame: handle,
    onClose,
    onStatus,
  });
})();

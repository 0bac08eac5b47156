// The mentors' live view: keeps the table of attempts in progress current over a WebSocket.
// The server sends a snapshot on connect, then one "progress" event per change; both
// carry the same fields (see quizzes/live.py and mentors/consumers.py).
(() => {
  "use strict";
  const table = document.getElementById("live-table");
  if (!table) return;
  const tbody = document.getElementById("live-rows");
  const empty = document.getElementById("live-empty");
  const connection = document.getElementById("live-connection");
  const announce = document.getElementById("live-announce");
  const template = document.getElementById("live-row");
  const quizzes = JSON.parse(document.getElementById("live-quizzes").textContent);
  // Newest server time applied to each attempt, so a late event never undoes a newer state.
  const applied = new Map();

  const urlFor = (pattern, id) => pattern.replace("/0/", `/${id}/`);
  const two = (n) => String(n).padStart(2, "0");
  const clock = (date) => `${two(date.getHours())}:${two(date.getMinutes())}`;

  function timeLeft(cell) {
    const deadline = cell.dataset.deadline;
    if (!deadline) return;
    const left = Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
    cell.textContent = left > 0 ? `${Math.floor(left / 60)}:${two(left % 60)} left` : "time is up";
  }

  function statusText(event) {
    if (event.status === "submitted") return `Submitted: ${event.score} of ${event.max_score}`;
    if (event.status === "expired") return `Time ran out: ${event.score} of ${event.max_score}`;
    if (event.event === "offline") return "In progress (page closed)";
    return "In progress";
  }

  function rowFor(event) {
    const found = tbody.querySelector(`tr[data-attempt="${event.attempt}"]`);
    if (found) return found;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.attempt = event.attempt;
    const student = row.querySelector("a.student");
    student.href = urlFor(table.dataset.studentUrl, event.user);
    student.textContent = event.username;
    const quiz = row.querySelector("a.quiz");
    quiz.href = urlFor(table.dataset.attemptUrl, event.attempt);
    quiz.textContent = quizzes[String(event.quiz)] || `Test ${event.quiz}`;
    row.querySelector(".number").textContent = `attempt ${event.number}`;
    const started = row.querySelector("time.started");
    started.dateTime = event.started_at;
    started.textContent = clock(new Date(event.started_at));
    row.querySelector("progress").setAttribute("aria-label", `Questions answered by ${event.username}`);
    tbody.append(row);
    return row;
  }

  function render(event) {
    const row = rowFor(event);
    const progress = row.querySelector("progress");
    progress.max = event.total;
    progress.value = event.answered;
    row.querySelector(".answered").textContent = `${event.answered} of ${event.total} answered`;
    const left = row.querySelector(".time-left");
    if (event.status !== "open") {
      delete left.dataset.deadline;
      left.textContent = "—";
    } else if (event.deadline) {
      left.dataset.deadline = event.deadline;
      timeLeft(left);
    } else {
      left.textContent = "no limit";
    }
    row.querySelector(".status").textContent = statusText(event);
    row.classList.toggle("finished", event.status !== "open");
  }

  function apply(event, at) {
    const time = Date.parse(at || event.at || "") || 0;
    if ((applied.get(event.attempt) || 0) > time) return;
    applied.set(event.attempt, time);
    render(event);
    if (event.event === "started" || event.status !== "open") {
      announce.textContent = `${event.username}: ${statusText(event)}`;
    }
  }

  function snapshot(message) {
    const open = new Set(message.attempts.map((a) => String(a.attempt)));
    // Rows of attempts no longer open and not finished here (closed while we were away) go.
    for (const row of tbody.querySelectorAll("tr[data-attempt]")) {
      if (!open.has(row.dataset.attempt) && !row.classList.contains("finished")) row.remove();
    }
    for (const attempt of message.attempts) apply(attempt, message.at);
  }

  function refreshEmpty() {
    empty.hidden = tbody.querySelector("tr[data-attempt]") !== null;
  }

  // The reconnecting socket is courseware/socket.js; the server sends a fresh snapshot on
  // every connect, so nothing needs resuming here.
  const link = window.reconnectingSocket({
    url: table.dataset.socket,
    initialDelay: 1000,
    maxDelay: 30000,
    onOpen() {
      connection.textContent = "Live: updates as students answer.";
      table.dataset.live = "connected";
    },
    onFrame(data) {
      if (data.type === "snapshot") snapshot(data);
      else if (data.type === "progress") apply(data);
      refreshEmpty();
    },
    onClose(event) {
      table.dataset.live = "closed";
      if (event.code === 4403) {
        link.stop();
        connection.textContent = "Not allowed: log in as a mentor.";
      }
    },
    onStatus(state, detail) {
      if (state === "reconnecting") {
        connection.textContent = `Disconnected; retrying in ${(detail.delay / 1000).toFixed(1)} s.`;
      }
    },
  });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) link.send({ type: "refresh" });
  });
  setInterval(() => tbody.querySelectorAll(".time-left[data-deadline]").forEach(timeLeft), 1000);
})();

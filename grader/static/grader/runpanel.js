// What the grader console and the student's self-check page show alike of a check run: its
// verdicts, the countdown of the step it waits on, and the timing options of its start form.
// Everything from the server is put on the page with textContent, never as HTML.
(function () {
  "use strict";

  // One line per verdict: a badge with its status, then code, title and summary.
  function showResults(list, results) {
    list.replaceChildren();
    for (const r of results || []) {
      const item = document.createElement("li");
      const badge = document.createElement("span");
      badge.className = `badge ${r.status}`;
      badge.textContent = r.status.replace("_", " ");
      item.append(badge, ` ${r.code} ${r.title}: ${r.summary}`);
      list.append(item);
    }
  }

  // Keeps `countdown` at the seconds left of the run `currentRun()` returns, while it runs.
  function keepCountdown(countdown, currentRun) {
    setInterval(() => {
      const run = currentRun();
      countdown.textContent = run && run.deadline && run.status === "running"
        ? `(${Math.max(0, Math.round(run.deadline - Date.now() / 1000))} s left)` : "";
    }, 500);
  }

  // The form's filled-in timing fields (inputs under .options) as numbers by name.
  function timingOptions(form) {
    const options = {};
    for (const input of form.querySelectorAll(".options input")) {
      if (input.value !== "") options[input.name] = Number(input.value);
    }
    return options;
  }

  window.runPanel = { showResults, keepCountdown, timingOptions };
})();

// A live countdown for "you can start at ...": data-countdown holds the seconds left by
// the server's clock. At zero the page reloads and the server decides again.
(function () {
  "use strict";

  function format(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    return `${m}:${String(s).padStart(2, "0")}`;
  }

  document.querySelectorAll("[data-countdown]").forEach((element) => {
    const endsAt = performance.now() + Number(element.dataset.countdown) * 1000;
    function tick() {
      const left = Math.max(0, Math.ceil((endsAt - performance.now()) / 1000));
      element.textContent = format(left);
      if (left === 0) {
        clearInterval(timer);
        element.textContent = element.dataset.countdownDone || "now";
        setTimeout(() => window.location.reload(), 1000);
      }
    }
    const timer = setInterval(tick, 1000);
    tick();
  });
})();

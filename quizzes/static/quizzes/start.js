// Start when a new attempt would replace the student's counted score: ask first. The
// server refuses an unconfirmed start anyway (and then asks on a page of its own), so
// this only saves a round trip; it also keeps a double click to one request.
(function () {
  "use strict";

  document.querySelectorAll("form.quiz-start-form").forEach((form) => {
    let sent = false;
    form.addEventListener("submit", (event) => {
      if (sent) {
        event.preventDefault();
        return;
      }
      const question = form.dataset.confirm;
      if (question) {
        if (!window.confirm(question)) {
          event.preventDefault();
          return;
        }
        const field = document.createElement("input");
        field.type = "hidden";
        field.name = "replace";
        field.value = "confirmed";
        form.append(field);
      }
      sent = true;
    });
    // Back to this page from the browser's cache: the earlier click is over.
    window.addEventListener("pageshow", () => {
      sent = false;
    });
  });
})();

// Two helpers for the live attempt page (attempt.js loads after this file):
// - attemptStore(id): the answers chosen on the page and not yet saved by the server,
//   kept in localStorage under the attempt's id, so that a reload, a closed tab or an
//   ended session loses none of them. Only the student's own choices are stored.
//   The result page says how many kept choices never reached the server.
// - sessionWatch(url, notice): asks the server whether this browser is logged out, and
//   if so shows the notice with its log-in link. A browser never sees a refused WebSocket
//   handshake's 403, so the page asks after a failed reconnect; a network error means the
//   server is down, not that the session ended.
(function () {
  "use strict";

  function attemptStore(attemptId) {
    const key = `courseware.attempt.${attemptId}.unsent`;
    const postedKey = `${key}.posted`; // the page's form (which carries every choice) was sent
    let storage = null;
    try {
      storage = window.localStorage;
      storage.setItem(`${key}.probe`, "1");
      storage.removeItem(`${key}.probe`);
    } catch (error) {
      storage = null; // blocked or full: the page still works, it just cannot keep them
    }

    function read() {
      if (!storage) return {};
      try {
        const value = JSON.parse(storage.getItem(key) || "{}");
        return value && typeof value === "object" && !Array.isArray(value) ? value : {};
      } catch (error) {
        return {};
      }
    }

    function write(entries) {
      if (!storage) return false;
      try {
        if (Object.keys(entries).length) storage.setItem(key, JSON.stringify(entries));
        else storage.removeItem(key);
        return true;
      } catch (error) {
        return false;
      }
    }

    return {
      available: storage !== null,
      // Keeps the values of a question's checked inputs (position -> values).
      put(position, boxes) {
        const entries = read();
        entries[String(position)] = boxes.filter((box) => box.checked).map((box) => box.value);
        return write(entries);
      },
      // Checks the kept choices again on the page; inputs(position) gives a question's
      // inputs. Returns the positions restored; anything the page no longer has is dropped.
      restore(inputs) {
        const entries = read();
        if (storage) storage.removeItem(postedKey);
        const restored = [];
        for (const [position, values] of Object.entries(entries)) {
          const boxes = inputs(Number(position));
          const known = Array.isArray(values) && values.every((v) => boxes.some((b) => b.value === v));
          if (!boxes.length || !known) {
            delete entries[position];
            continue;
          }
          boxes.forEach((box) => {
            box.checked = values.includes(box.value);
          });
          restored.push(Number(position));
        }
        write(entries);
        return restored;
      },
      drop(position) {
        const entries = read();
        delete entries[String(position)];
        write(entries);
      },
      clear() {
        write({});
        if (storage) storage.removeItem(postedKey);
      },
      posted() {
        if (storage && Object.keys(read()).length) storage.setItem(postedKey, "1");
      },
      // How many kept choices were neither confirmed nor posted; forgets them all.
      settle() {
        const lost = storage && !storage.getItem(postedKey) ? Object.keys(read()).length : 0;
        this.clear();
        return lost;
      },
    };
  }

  async function loggedOut(url) {
    try {
      const response = await fetch(url, {
        cache: "no-store",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return false;
      const body = await response.json();
      return body.authenticated === false;
    } catch (error) {
      return false; // unreachable: the server is down or restarting
    }
  }

  function sessionWatch(url, notice) {
    const link = notice.querySelector("a");
    const watch = {
      ended: false,
      following: false, // the student is on the way to the login page
      // Resolves to true (and shows the notice) when the session has ended and
      // stillWanted() agrees; to false otherwise.
      async check(stillWanted) {
        if (watch.ended) return true;
        if (!(await loggedOut(url)) || !stillWanted()) return false;
        watch.ended = true;
        notice.hidden = false;
        link.focus();
        return true;
      },
      resume() {
        watch.ended = false;
        notice.hidden = true;
      },
    };
    link.addEventListener("click", () => {
      watch.following = true;
    });
    return watch;
  }

  window.attemptStore = attemptStore;
  window.sessionWatch = sessionWatch;

  // The result page: answers kept here for an attempt that ended before they were sent.
  const unsent = document.getElementById("attempt-unsent");
  if (unsent) {
    const lost = attemptStore(unsent.dataset.attempt).settle();
    if (lost) {
      unsent.querySelector(".count").textContent = lost === 1 ? "1 answer" : `${lost} answers`;
      unsent.hidden = false;
    }
  }
})();

// One reconnecting WebSocket for every live page (attempt, mentor live view, grader console).
// window.reconnectingSocket(options) returns a link that connects at once and:
// - reconnects after a drop, waiting longer each time (doubling, capped) with random jitter,
//   so a restarted server is not hit by every open page at the same instant;
// - matches replies to requests by their `ref`, and rejects the ones still waiting when the
//   socket closes (or a reply is late), so no caller waits forever;
// - calls onOpen after each (re)connect: the page's hook to resume (send what is unsent);
// - reports its state through onStatus, for the page's "Connected / reconnecting…" text;
// - stops for good on stop() (a page may call it from onClose, say on a "forbidden" code).
// Options: url (a path on this host, or a ws:// URL), onOpen(link), onFrame(frame),
// onClose(event, {opened}), onStatus(state, detail), initialDelay, maxDelay, jitter (ms, ms,
// 0..1), replyTimeout (ms, 0 = none). States: "connecting", "open", "reconnecting"
// ({delay, attempt, code, opened}) and "stopped".
(function () {
  "use strict";

  function socketUrl(url) {
    const resolved = new URL(url, window.location.href);
    if (resolved.protocol === "http:") resolved.protocol = "ws:";
    if (resolved.protocol === "https:") resolved.protocol = "wss:";
    return resolved.href;
  }

  // The wait before reconnect attempt n (1, 2, …): the doubled delay, capped, minus up to
  // `jitter` of itself. With jitter <= 0.5 each wait is still at least the previous one.
  function backoff(attempt, { initialDelay, maxDelay, jitter }) {
    const nominal = Math.min(maxDelay, initialDelay * 2 ** Math.min(attempt - 1, 30));
    return Math.round(nominal * (1 - jitter * Math.random()));
  }

  function failure(reason, message) {
    const error = new Error(message);
    error.reason = reason; // "not_connected", "timeout", "closed" or "stopped"
    return error;
  }

  function reconnectingSocket(options) {
    const settings = { initialDelay: 1000, maxDelay: 15000, jitter: 0.3, replyTimeout: 0, ...options };
    const noop = () => {};
    const onStatus = settings.onStatus || noop;
    const waiting = new Map(); // ref -> {resolve, reject, timer}
    let socket = null;
    let attempt = 0; // failed connections since the last open one
    let retryTimer = null;
    let stopped = false;
    let nextRef = 1; // never reset, so a late reply can never settle a newer request

    function settleAll(reason, message) {
      for (const entry of waiting.values()) {
        clearTimeout(entry.timer);
        entry.reject(failure(reason, message));
      }
      waiting.clear();
    }

    function connect() {
      clearTimeout(retryTimer);
      if (socket || stopped) return;
      const ws = new WebSocket(socketUrl(settings.url));
      socket = ws;
      let opened = false;
      onStatus("connecting", { attempt });
      ws.addEventListener("open", () => {
        opened = true;
        attempt = 0;
        onStatus("open", {});
        if (settings.onOpen) settings.onOpen(link);
      });
      ws.addEventListener("message", (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return; // not ours to read: every server here speaks JSON
        }
        const entry = frame && frame.ref !== undefined ? waiting.get(frame.ref) : undefined;
        if (entry) {
          waiting.delete(frame.ref);
          clearTimeout(entry.timer);
          entry.resolve(frame);
        } else if (settings.onFrame) {
          settings.onFrame(frame); // pushed frames, and replies nobody waits for any more
        }
      });
      ws.addEventListener("close", (event) => {
        if (socket !== ws) return;
        socket = null;
        settleAll("closed", "the connection closed before the reply");
        if (settings.onClose) settings.onClose(event, { opened });
        if (stopped) return; // onClose (or an earlier call) stopped the link
        attempt += 1;
        const delay = backoff(attempt, settings);
        retryTimer = setTimeout(connect, delay);
        onStatus("reconnecting", { delay, attempt, code: event.code, opened });
      });
    }

    const link = {
      get open() {
        return socket !== null && socket.readyState === WebSocket.OPEN;
      },
      // Connects now (again after stop()), with the backoff starting over.
      start() {
        stopped = false;
        attempt = 0;
        connect();
      },
      // No more reconnecting; closes the socket if one is open or opening.
      stop() {
        const wasStopped = stopped;
        stopped = true;
        clearTimeout(retryTimer);
        settleAll("stopped", "the connection was stopped");
        if (socket) {
          const ws = socket;
          socket = null;
          ws.close(1000);
        }
        if (!wasStopped) onStatus("stopped", {});
      },
      // Sends a frame as JSON if connected; says whether it went.
      send(frame) {
        if (!link.open) return false;
        socket.send(JSON.stringify(frame));
        return true;
      },
      // Sends a frame with a fresh `ref` (set on the frame itself, for the caller to keep) and
      // resolves with the frame that carries the same ref back.
      request(frame, { timeout = settings.replyTimeout } = {}) {
        frame.ref = nextRef++;
        return new Promise((resolve, reject) => {
          if (!link.send(frame)) {
            reject(failure("not_connected", "not connected"));
            return;
          }
          const entry = { resolve, reject, timer: null };
          if (timeout > 0) {
            entry.timer = setTimeout(() => {
              waiting.delete(frame.ref);
              reject(failure("timeout", "no reply in time"));
            }, timeout);
          }
          waiting.set(frame.ref, entry);
        });
      },
    };

    connect();
    return link;
  }

  window.reconnectingSocket = reconnectingSocket;
})();

// A small Fun Chat client for the test suite, with switches in the page's query string
// that turn on the behaviours students' clients have. tests/chat_variants.py lists the
// variants and the verdicts the automatic check must give each. The defaults are a
// correct client.
//   server=ws://…           the chat server (required)
//   read=auto|scroll|send   when a message in the open dialogue is marked read
//   reconnect=backoff|storm|none, relogin=1|0, empty=block|allow,
//   edited=mark|none        whether an edited message shows an "edited" mark
//   counter=live|stale      stale: a deletion does not lower the unread counter
//   lists=full|lazy         lazy: no per-user history request after login (no counters)
(() => {
  "use strict";

  const params = new URLSearchParams(location.search);
  const opt = (name, fallback) => params.get(name) || fallback;
  const READ = opt("read", "auto");
  const RECONNECT = opt("reconnect", "backoff");
  const RELOGIN = opt("relogin", "1") === "1";
  const EMPTY = opt("empty", "block");
  const EDITED_MARK = opt("edited", "mark") === "mark";
  const STALE_COUNTER = opt("counter", "live") === "stale";
  const LAZY = opt("lists", "full") === "lazy";
  const $ = (id) => document.getElementById(id);

  let ws = null;
  let me = null; // {login, password} once the person logged in
  let loggedIn = false;
  let wantLogin = false; // the person pressed "Log in" and no login has answered yet
  let delay = 300;
  let nextId = 1;
  const pending = new Map(); // request id -> [type, peer]
  const users = new Map(); // login -> online
  const messages = new Map(); // peer -> [message]
  const ghosts = new Map(); // peer -> deleted unread messages a stale counter still counts
  let peer = null;
  let divider = false;

  function request(type, payload, peerName) {
    const id = `v${nextId++}`;
    pending.set(id, [type, peerName || null]);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ id, type, payload }));
  }

  function status(text) {
    $("status").textContent = text;
  }

  // -- the connection -------------------------------------------------------------------------

  function connect() {
    ws = new WebSocket(params.get("server"));
    ws.onopen = () => {
      delay = 300;
      status("Connected");
      if (me && (RELOGIN || wantLogin)) {
        request("USER_LOGIN", { user: { login: me.login, password: me.password } });
      } else {
        showLogin();
      }
    };
    ws.onmessage = (event) => onFrame(JSON.parse(event.data));
    ws.onclose = (event) => {
      loggedIn = false;
      status(`Connection lost (${event.code})`);
      if (RECONNECT === "none") return;
      const wait = RECONNECT === "storm" ? 100 : delay;
      delay = Math.min(delay * 2, 2000);
      setTimeout(connect, wait);
    };
  }

  function showLogin() {
    $("login-form").hidden = false;
    $("chat").hidden = true;
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    me = { login: $("login").value, password: $("password").value };
    wantLogin = true;
    if (ws && ws.readyState === WebSocket.OPEN) {
      request("USER_LOGIN", { user: { login: me.login, password: me.password } });
    } else if (!ws || ws.readyState === WebSocket.CLOSED) {
      connect();
    }
  });

  // -- frames from the server -----------------------------------------------------------------

  function onFrame(frame) {
    const { type, payload } = frame;
    const asked = frame.id ? pending.get(frame.id) : null;
    if (frame.id) pending.delete(frame.id);
    if (type === "ERROR") {
      status(`Error: ${payload.error}`);
    } else if (type === "USER_LOGIN" && asked) {
      loggedIn = true;
      wantLogin = false;
      $("login-form").hidden = true;
      $("chat").hidden = false;
      status(`Logged in as ${me.login}`);
      // How many logins this page made: a test waits for the next one, however short.
      $("status").dataset.logins = String(Number($("status").dataset.logins || 0) + 1);
      users.clear();
      request("USER_ACTIVE", null);
      request("USER_INACTIVE", null);
    } else if (type === "USER_ACTIVE" || type === "USER_INACTIVE") {
      for (const user of payload.users) {
        if (user.login === me.login) continue;
        users.set(user.login, user.isLogined);
        if (!LAZY) request("MSG_FROM_USER", { user: { login: user.login } }, user.login);
      }
      render();
    } else if (type === "USER_EXTERNAL_LOGIN" || type === "USER_EXTERNAL_LOGOUT") {
      const login = payload.user.login;
      const known = users.has(login);
      users.set(login, payload.user.isLogined);
      if (!known && !LAZY) request("MSG_FROM_USER", { user: { login } }, login);
      render();
    } else if (type === "MSG_FROM_USER" && asked) {
      messages.set(asked[1], payload.messages);
      if (asked[1] === peer && READ === "auto" && !divider) readAll();
      render();
    } else if (type === "MSG_SEND") {
      const message = payload.message;
      const other = message.from === me.login ? message.to : message.from;
      if (!messages.has(other)) messages.set(other, []);
      messages.get(other).push(message);
      // An incoming message in the open dialogue: a careful client reads it at once (8.2).
      if (!frame.id && other === peer && READ === "auto" && !divider) readAll();
      render();
    } else if (["MSG_DELETE", "MSG_EDIT", "MSG_READ", "MSG_DELIVER"].includes(type)) {
      update(type, payload.message);
      render();
    }
  }

  function update(type, change) {
    for (const [other, list] of messages) {
      const index = list.findIndex((m) => m.id === change.id);
      if (index < 0) continue;
      const message = list[index];
      if (type === "MSG_DELETE") {
        if (message.from === other && !message.status.isReaded) {
          ghosts.set(other, (ghosts.get(other) || 0) + 1);
        }
        list.splice(index, 1);
      } else {
        Object.assign(message.status, change.status);
        if (type === "MSG_EDIT") message.text = change.text;
      }
    }
  }

  function unread(other) {
    return (messages.get(other) || []).filter((m) => m.from === other && !m.status.isReaded);
  }

  function readAll() {
    divider = false;
    for (const message of unread(peer || "")) {
      message.status.isReaded = true;
      request("MSG_READ", { message: { id: message.id } });
    }
    ghosts.set(peer, 0);
  }

  // -- the screen -----------------------------------------------------------------------------

  function render() {
    const list = $("users");
    list.replaceChildren();
    for (const [login, online] of users) {
      const item = document.createElement("li");
      item.dataset.login = login;
      const count = unread(login).length + (STALE_COUNTER ? ghosts.get(login) || 0 : 0);
      item.textContent = `${online ? "●" : "○"} ${login} `;
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = String(count);
      item.append(badge);
      item.addEventListener("click", () => openDialogue(login));
      list.append(item);
    }
    const box = $("messages");
    box.replaceChildren();
    let first = true;
    for (const message of messages.get(peer) || []) {
      const item = document.createElement("li");
      item.dataset.id = message.id;
      const mine = message.from === me.login;
      item.className = mine ? "msg mine" : "msg";
      if (divider && first && !mine && !message.status.isReaded) {
        item.classList.add("divider");
        first = false;
      }
      const text = document.createElement("div");
      text.className = "text";
      text.textContent = message.text;
      const meta = document.createElement("div");
      meta.className = "meta";
      const marks = [];
      if (EDITED_MARK && message.status.isEdited) marks.push("edited");
      if (mine) marks.push(message.status.isReaded ? "read" : message.status.isDelivered ? "delivered" : "sent");
      meta.textContent = marks.join(" · ");
      item.append(text, meta);
      if (mine) {
        for (const [label, act] of [["Edit", editMessage], ["Delete", deleteMessage]]) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = label;
          button.addEventListener("click", () => act(message));
          item.append(button);
        }
      }
      box.append(item);
    }
    $("send").disabled = EMPTY === "block" && $("text").value === "";
  }

  function openDialogue(login) {
    peer = login;
    divider = unread(login).length > 0;
    $("peer").textContent = login;
    request("MSG_FROM_USER", { user: { login } }, login);
    render();
  }

  // Clicking or scrolling the history reads what waits (6.8), unless reading is on send only.
  for (const kind of ["click", "wheel"]) {
    $("messages").addEventListener(kind, () => {
      if (READ !== "send" && peer) {
        readAll();
        render();
      }
    });
  }

  let editing = null;

  function editMessage(message) {
    editing = message.id;
    $("text").value = message.text;
    render();
  }

  function deleteMessage(message) {
    request("MSG_DELETE", { message: { id: message.id } });
  }

  $("text").addEventListener("input", render);
  $("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!peer || (EMPTY === "block" && text === "")) return;
    if (editing) {
      request("MSG_EDIT", { message: { id: editing, text } });
      editing = null;
    } else {
      request("MSG_SEND", { message: { to: peer, text } });
    }
    $("text").value = "";
    readAll(); // sending a message reads the dialogue (every read mode)
    render();
  });

  connect();
})();

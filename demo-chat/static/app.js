// The chat page: joins rooms over STOMP (stomp.js) and renders what the server sends.
// User data only ever reaches the page through textContent, never innerHTML.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
  const MAX_RENDERED = 500;
  const WS_URL = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  // Several instances behind one RabbitMQ (demo-chat --relay) or one Redis (--redis) each
  // publish their own member and room lists, tagged with `instance`, every 5 s; an instance
  // not heard from for this long is forgotten (it stopped).
  const INSTANCE_STALE_MS = 16000;
  // Secure mode (demo-chat --jwt-secret): accounts with passwords, and a token from
  // POST /login on CONNECT. The server marks the page's <body data-auth="secure">.
  const SECURE = document.body.dataset.auth === "secure";
  const RELOGIN = "Your login expired: enter your password and press Log in to continue.";

  const state = {
    name: "",
    room: "",
    client: null,
    wanted: false, // the user wants to be connected (false after a refusal)
    reconnectDelay: 1000,
    reconnectTimer: null,
    roomSubs: [],
    roomEpoch: 0, // bumps on every room change; late callbacks of older rooms are ignored
    seen: new Set(),
    liveBuffer: null, // messages that arrived while the history was loading
    instanceMembers: new Map(), // relay mode: instance id -> { list, at } for the current room
    instanceRooms: new Map(), // relay mode: instance id -> { list, at }
    token: null, // secure mode: the bearer token from POST /login
    tokenExpiresAt: 0, // ms since the epoch, a little before the server's expiry
  };

  // ---- rendering -------------------------------------------------------------------------

  function setStatus(kind, text) {
    const status = $("status");
    status.dataset.state = kind;
    status.textContent = text || kind;
  }

  function setComposer(enabled) {
    $("message").disabled = !enabled;
    $("send").disabled = !enabled;
    $("message").placeholder = enabled ? "Message #" + state.room : "Join a room to chat";
  }

  function showError(text) {
    const li = document.createElement("li");
    li.textContent = text;
    const list = $("errors");
    list.prepend(li);
    while (list.children.length > 5) list.lastChild.remove();
    setTimeout(() => li.remove(), 15000);
  }

  function formatTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function nearBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function append(li) {
    const list = $("messages");
    const stick = nearBottom(list);
    list.append(li);
    while (list.children.length > MAX_RENDERED) list.firstChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function addMessage(message) {
    if (!message || state.seen.has(message.id)) return;
    state.seen.add(message.id);
    const li = document.createElement("li");
    li.className = "message" + (message.sender === state.name ? " mine" : "");
    li.dataset.id = message.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender;
    const time = document.createElement("time");
    time.dateTime = new Date(message.timestamp).toISOString();
    time.textContent = formatTime(message.timestamp);
    meta.append(sender, time);
    const content = document.createElement("div");
    content.className = "content";
    content.textContent = message.content;
    li.append(meta, content);
    append(li);
  }

  function addNotice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    append(li);
  }

  function addDivider(text) {
    const li = document.createElement("li");
    li.className = "history-divider";
    const span = document.createElement("span");
    span.textContent = text;
    li.append(span);
    append(li);
  }

  function renderMembers(names) {
    const list = $("members");
    list.replaceChildren();
    for (const name of names) {
      const li = document.createElement("li");
      li.textContent = name;
      if (name === state.name) li.className = "me";
      list.append(li);
    }
  }

  function renderRooms(rooms) {
    const list = $("rooms");
    list.replaceChildren();
    for (const room of rooms) {
      const li = document.createElement("li");
      li.dataset.room = room.name;
      if (room.name === state.room) li.className = "current";
      const name = document.createElement("span");
      name.textContent = "#" + room.name;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(room.members);
      count.title = room.members === 1 ? "1 member" : room.members + " members";
      li.append(name, count);
      li.addEventListener("click", () => {
        if (state.client && state.client.connected) enterRoom(room.name);
      });
      list.append(li);
    }
  }

  // ---- lists of several instances (relay mode) --------------------------------------------

  /** The lists of `instances` heard from recently (older ones are dropped). */
  function freshLists(instances) {
    const now = Date.now();
    for (const [id, entry] of instances) if (now - entry.at > INSTANCE_STALE_MS) instances.delete(id);
    return [...instances.values()].map((entry) => entry.list);
  }

  function byName(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** A member list: replaces the shown one (embedded broker) or merges by instance (relay). */
  function onMembers(body) {
    if (!body.instance) return renderMembers(body.members || []);
    state.instanceMembers.set(body.instance, { list: body.members || [], at: Date.now() });
    renderMergedMembers();
  }

  function renderMergedMembers() {
    const names = new Set();
    for (const list of freshLists(state.instanceMembers)) for (const name of list) names.add(name);
    renderMembers([...names].sort(byName));
  }

  /** A room list: `[..]` from the embedded broker, `{instance, rooms}` with the relay. */
  function onRooms(body) {
    if (Array.isArray(body)) return renderRooms(body);
    if (!body || !body.instance) return;
    state.instanceRooms.set(body.instance, { list: body.rooms || [], at: Date.now() });
    renderMergedRooms();
  }

  function renderMergedRooms() {
    const counts = new Map();
    for (const list of freshLists(state.instanceRooms)) {
      for (const room of list) counts.set(room.name, (counts.get(room.name) || 0) + room.members);
    }
    const names = [...counts.keys()].sort(byName);
    renderRooms(names.map((name) => ({ name, members: counts.get(name) })));
  }

  setInterval(() => {
    if (state.instanceMembers.size) renderMergedMembers();
    if (state.instanceRooms.size) renderMergedRooms();
  }, 5000);

  function parse(frame) {
    try {
      return JSON.parse(frame.body);
    } catch (error) {
      console.warn("not JSON from " + frame.headers.destination, frame.body);
      return null;
    }
  }

  // ---- connection -----------------------------------------------------------------------

  async function fetchToken(name) {
    try {
      const response = await fetch("/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) return body.token || null;
      if (response.status === 400) throw Object.assign(new Error(body.error || "login refused"), { refused: true });
    } catch (error) {
      if (error.refused) throw error;
    }
    return null; // no /login or no network: try without a token, the server will say
  }

  // ---- accounts (secure mode) -------------------------------------------------------------

  function failure(message, status) {
    return Object.assign(new Error(message), { refused: true, status });
  }

  // POST /signup or /login; the JSON answer, or a failure that says what went wrong.
  async function account(path, payload) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
      });
    } catch (error) {
      throw failure("Cannot reach the server: " + error.message, "unreachable");
    }
    const body = await response.json().catch(() => ({}));
    if (response.ok) return body;
    const text = body.error || "HTTP " + response.status;
    if (response.status === 401) throw failure("Login failed: " + text + ".", "login failed");
    if (response.status === 429) throw failure("Rate limited: " + text + ".", "rate limited");
    if (response.status === 409) throw failure("Sign-up failed: " + text + ".", "name taken");
    if (response.status === 503) throw failure("Server busy: " + text + ".", "busy");
    throw failure((path === "/signup" ? "Sign-up" : "Login") + " refused: " + text, "rejected");
  }

  function refuse(error) {
    state.wanted = false;
    setStatus("rejected", error.status || "rejected");
    showError(error.message);
  }

  function loggedInAs(name) {
    return SECURE && state.token && state.name === name && Date.now() < state.tokenExpiresAt;
  }

  function forgetToken() {
    state.token = null;
    state.tokenExpiresAt = 0;
    updateAccountControls();
  }

  function updateAccountControls() {
    if (!SECURE) return;
    $("join").textContent = state.token ? "Join" : "Log in";
    $("logout").hidden = !state.token;
  }

  // Logs in; true when a token was stored.
  async function logIn(name, password) {
    setStatus("connecting", "logging in…");
    try {
      const body = await account("/login", { name, password });
      state.token = body.token;
      state.tokenExpiresAt = Date.now() + Math.max(0, body.expires_in - 5) * 1000;
      state.name = body.name || name;
      $("name").value = state.name;
      $("password").value = "";
      $("errors").replaceChildren(); // earlier failures are settled
      updateAccountControls();
      return true;
    } catch (error) {
      refuse(error);
      return false;
    }
  }

  // The token for CONNECT: secure mode's from login, default mode's from /login by name.
  async function connectToken() {
    if (!SECURE) return fetchToken(state.name);
    if (!state.token || Date.now() >= state.tokenExpiresAt) {
      const expired = Boolean(state.token);
      forgetToken();
      throw failure(expired ? RELOGIN : "Log in first: enter your password.", expired ? "login expired" : "logged out");
    }
    return state.token;
  }

  async function connect() {
    clearTimeout(state.reconnectTimer);
    state.wanted = true;
    setStatus(state.reconnectDelay > 1000 ? "reconnecting" : "connecting", "connecting…");
    let token;
    try {
      token = await connectToken();
    } catch (error) {
      refuse(error);
      return;
    }
    const headers = { login: state.name };
    if (token) headers.Authorization = "Bearer " + token;
    const client = new StompClient(WS_URL, { connectHeaders: headers, heartbeat: [10000, 10000] });
    state.client = client;
    client.onclose = (info) => onClose(client, info);
    client.onerror = (frame) => showError(frame.headers.message || frame.body);
    try {
      await client.connect();
    } catch (error) {
      if (error.frame && state.client === client) {
        // Refused by the server (bad name, bad token): retrying would not help.
        if (SECURE && /expired|revoked/.test(error.message)) {
          forgetToken();
          refuse(failure(RELOGIN + " (" + error.message + ")", "login expired"));
        } else {
          refuse(failure(error.message, "rejected"));
        }
      }
      return; // a plain connection failure is retried by onClose
    }
    if (state.client !== client) return;
    state.reconnectDelay = 1000;
    setStatus("connected", "connected as " + (client.connectedFrame.headers["user-name"] || state.name));
    client.subscribe("/user/queue/errors", (frame) => {
      const body = parse(frame);
      showError((body && body.error) || frame.body);
    });
    state.instanceRooms = new Map();
    client.subscribe("/topic/rooms", (frame) => onRooms(parse(frame) || []));
    client.request("/app/rooms").then((frame) => onRooms(parse(frame) || []), () => {});
    enterRoom(state.room);
  }

  function onClose(client, info) {
    if (state.client !== client) return;
    setComposer(false);
    state.roomSubs = [];
    if (!state.wanted) {
      if ($("status").dataset.state !== "rejected") setStatus("disconnected");
      return;
    }
    if (info.wasConnected && info.error) showError(info.error.message);
    const delay = Math.round(state.reconnectDelay * (0.8 + Math.random() * 0.4));
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 30000);
    setStatus("reconnecting", "reconnecting in " + Math.ceil(delay / 1000) + " s");
    state.reconnectTimer = setTimeout(connect, delay);
  }

  async function enterRoom(room) {
    const client = state.client;
    for (const sub of state.roomSubs) sub.unsubscribe();
    state.roomSubs = [];
    state.room = room;
    localStorage.setItem("demo-chat.room", room);
    $("room").value = room;
    $("current-room").textContent = "in #" + room;
    $("messages").replaceChildren();
    $("messages").dataset.empty = "No messages in #" + room + " yet. Say hello!";
    state.instanceMembers = new Map();
    renderMembers([]);
    for (const li of $("rooms").children) li.classList.toggle("current", li.dataset.room === room);
    state.seen = new Set();
    state.liveBuffer = [];
    const epoch = ++state.roomEpoch;
    const current = () => epoch === state.roomEpoch && state.client === client;

    // Members and notices first, so that our own join (triggered by the room subscription)
    // reaches us; then the live messages (buffered), then the history, then the buffer.
    const members = client.subscribe("/topic/chat/" + room + "/members", (frame) => {
      const body = parse(frame);
      if (current() && body) onMembers(body);
    });
    const events = client.subscribe("/topic/chat/" + room + "/events", (frame) => {
      const body = parse(frame);
      if (current() && body && body.user !== state.name) {
        addNotice(body.user + (body.type === "join" ? " joined" : " left") + " · " + formatTime(body.timestamp));
      }
    });
    state.roomSubs.push(members, events);
    try {
      await Promise.all([members.receipt, events.receipt]);
      if (!current()) return;
      const live = client.subscribe("/topic/chat/" + room, (frame) => {
        if (!current()) return;
        const message = parse(frame);
        if (state.liveBuffer) state.liveBuffer.push(message);
        else addMessage(message);
      });
      state.roomSubs.push(live);
      await live.receipt;
      const history = parse(await client.request("/app/chat/" + room + "/history")) || [];
      if (!current()) return;
      for (const message of history) addMessage(message);
      if (history.length > 0) addDivider("earlier messages above");
    } catch (error) {
      if (current()) showError("could not join #" + room + ": " + error.message);
    } finally {
      if (current()) {
        const buffered = state.liveBuffer || [];
        state.liveBuffer = null;
        for (const message of buffered) addMessage(message);
        setComposer(client.connected);
      }
    }
  }

  // ---- controls -------------------------------------------------------------------------

  // The name and room of the form, or null after saying what is wrong.
  function formInput() {
    const name = $("name").value.trim();
    const room = $("room").value.trim() || "general";
    if (!name) {
      showError("Pick a name first.");
      return null;
    }
    if (!ROOM_PATTERN.test(room)) {
      showError("Room names are 1 to 32 letters (A-Z, a-z), digits, _ or -.");
      return null;
    }
    localStorage.setItem("demo-chat.name", name);
    return { name, room };
  }

  function dropSession() {
    const old = state.client;
    state.client = null;
    if (old) old.disconnect();
  }

  // Joins `room` as `name`: in the current session if it is the same user, else a new one.
  function startSession(name, room) {
    const sameUser = state.client && state.client.connected && name === state.name;
    state.name = name;
    state.room = room;
    if (sameUser) {
      enterRoom(room);
      return;
    }
    dropSession();
    state.reconnectDelay = 1000;
    connect();
  }

  $("join-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = formInput();
    if (!input) return;
    if (SECURE && !loggedInAs(input.name)) {
      const password = $("password").value;
      if (!password) return showError("Enter your password to log in, or press Sign up to create an account.");
      if (!(await logIn(input.name, password))) return;
      dropSession(); // a new login is a new session, even under the same name
      input.name = state.name;
    }
    startSession(input.name, input.room);
  });

  $("signup").addEventListener("click", async () => {
    const input = formInput();
    if (!input) return;
    const password = $("password").value;
    setStatus("connecting", "signing up…");
    try {
      await account("/signup", { name: input.name, password });
    } catch (error) {
      refuse(error);
      return;
    }
    if (!(await logIn(input.name, password))) return;
    dropSession();
    startSession(state.name, input.room);
  });

  $("logout").addEventListener("click", () => {
    const token = state.token;
    forgetToken();
    state.wanted = false;
    clearTimeout(state.reconnectTimer);
    dropSession();
    setComposer(false);
    setStatus("disconnected", "logged out");
    if (token) {
      fetch("/logout", { method: "POST", headers: { authorization: "Bearer " + token } }).catch(() => {});
    }
  });

  $("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const client = state.client;
    if (!client || !client.connected) return;
    // The server validates (empty, too long) and answers on /user/queue/errors.
    client.send("/app/chat/" + state.room, JSON.stringify({ sender: state.name, content: $("message").value }), {
      "content-type": "application/json",
    });
    $("message").value = "";
    $("message").focus();
  });

  $("name").value = localStorage.getItem("demo-chat.name") || "";
  $("room").value = new URLSearchParams(location.search).get("room") || localStorage.getItem("demo-chat.room") || "general";
  if (SECURE) {
    for (const element of document.querySelectorAll(".secure-only")) element.hidden = false;
    $("messages").dataset.empty = "Sign up, or log in with your name and password, to join a room.";
  }
  updateAccountControls();
  setStatus("disconnected");
})();

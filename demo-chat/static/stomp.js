// stomp.js: a small STOMP 1.2 client over the browser's WebSocket, with no dependencies.
//
//   const client = new StompClient("ws://host/ws", {
//     connectHeaders: { login: "alice" },      // sent with CONNECT
//     heartbeat: [10000, 10000],               // [we send every, we expect every] (ms)
//   });
//   client.onclose = (info) => { ... };        // { wasConnected, error, code, reason }
//   await client.connect();                    // resolves with the CONNECTED frame
//   const sub = client.subscribe("/topic/x", (msg) => console.log(msg.body));
//   await sub.receipt;                         // the server confirmed the subscription
//   client.send("/app/x", JSON.stringify({ a: 1 }), { "content-type": "application/json" });
//   sub.unsubscribe();
//   await client.disconnect();                 // DISCONNECT, waits for its RECEIPT
//
// What it handles: several frames in one WebSocket message and frames split over several,
// heart-beats (a "\n" when we have been quiet; the connection is dropped when the server
// has been silent for too long), header escaping (STOMP 1.2: \\ \n \r \c; not in CONNECT
// and CONNECTED), content-length (in UTF-8 bytes, so bodies may contain NUL), receipts.
(function (global) {
  "use strict";

  const NUL = 0;
  const LF = 10;
  const CR = 13;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8");
  // Refuse to buffer more than this for one unfinished frame.
  const MAX_BUFFERED = 1024 * 1024;

  function escapeHeader(text) {
    return String(text)
      .replace(/\\/g, "\\\\")
      .replace(/\r/g, "\\r")
      .replace(/\n/g, "\\n")
      .replace(/:/g, "\\c");
  }

  function unescapeHeader(text) {
    return text.replace(/\\(.)/g, (match, c) => {
      switch (c) {
        case "\\": return "\\";
        case "r": return "\r";
        case "n": return "\n";
        case "c": return ":";
        default: throw new Error("undefined escape sequence " + match);
      }
    });
  }

  // Encodes one frame as a string (UTF-8 is applied by WebSocket.send).
  function encodeFrame(command, headers, body) {
    const escape = command === "CONNECT" || command === "STOMP" ? (t) => String(t) : escapeHeader;
    let text = command + "\n";
    for (const [name, value] of Object.entries(headers || {})) {
      if (value === undefined || value === null) continue;
      text += escape(name) + ":" + escape(value) + "\n";
    }
    body = body || "";
    if (body.length > 0 && !("content-length" in (headers || {}))) {
      text += "content-length:" + encoder.encode(body).length + "\n";
    }
    return text + "\n" + body + "\0";
  }

  // Incremental decoder: push() bytes in, get complete frames out.
  class FrameDecoder {
    constructor() {
      this.buffer = new Uint8Array(0);
    }

    // Returns { frames, heartbeats }: heart-beats are the bare EOLs between frames.
    push(chunk) {
      const merged = new Uint8Array(this.buffer.length + chunk.length);
      merged.set(this.buffer, 0);
      merged.set(chunk, this.buffer.length);
      this.buffer = merged;
      const frames = [];
      let heartbeats = 0;
      for (;;) {
        let start = 0;
        while (start < this.buffer.length && (this.buffer[start] === LF || this.buffer[start] === CR)) {
          if (this.buffer[start] === LF) heartbeats += 1;
          start += 1;
        }
        if (start > 0) this.buffer = this.buffer.subarray(start);
        if (this.buffer.length === 0) break;
        const frame = this.decodeOne();
        if (!frame) break;
        frames.push(frame);
      }
      if (this.buffer.length > MAX_BUFFERED) throw new Error("frame too large");
      return { frames, heartbeats };
    }

    // Decodes the frame at the start of the buffer, or returns null when incomplete.
    decodeOne() {
      const buf = this.buffer;
      // The header block ends at the first empty line.
      let lineStart = 0;
      const lines = [];
      let bodyStart = -1;
      for (let i = 0; i < buf.length; i++) {
        if (buf[i] !== LF) continue;
        let end = i;
        if (end > lineStart && buf[end - 1] === CR) end -= 1;
        if (end === lineStart) {
          bodyStart = i + 1;
          break;
        }
        lines.push(decoder.decode(buf.subarray(lineStart, end)));
        lineStart = i + 1;
      }
      if (bodyStart < 0) return null;
      const command = lines.shift();
      const raw = command === "CONNECTED";
      const headers = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon < 0) throw new Error("malformed header line: " + line);
        const name = raw ? line.slice(0, colon) : unescapeHeader(line.slice(0, colon));
        const value = raw ? line.slice(colon + 1) : unescapeHeader(line.slice(colon + 1));
        // Repeated headers: the first one wins (STOMP 1.2).
        if (!(name in headers)) headers[name] = value;
      }
      let bodyEnd;
      if ("content-length" in headers) {
        const length = parseInt(headers["content-length"], 10);
        if (!(length >= 0)) throw new Error("bad content-length: " + headers["content-length"]);
        bodyEnd = bodyStart + length;
        if (buf.length < bodyEnd + 1) return null;
        if (buf[bodyEnd] !== NUL) throw new Error("frame body longer than its content-length");
      } else {
        bodyEnd = buf.indexOf(NUL, bodyStart);
        if (bodyEnd < 0) return null;
      }
      const binaryBody = buf.slice(bodyStart, bodyEnd);
      this.buffer = buf.subarray(bodyEnd + 1);
      return { command, headers, binaryBody, body: decoder.decode(binaryBody) };
    }
  }

  class StompClient {
    constructor(url, options) {
      options = options || {};
      this.url = url;
      this.connectHeaders = options.connectHeaders || {};
      this.heartbeat = options.heartbeat || [10000, 10000];
      this.debug = options.debug || function () {};
      this.onclose = null; // ({ wasConnected, error, code, reason }) => void
      this.onerror = null; // (ERROR frame) => void, for ERROR frames after CONNECTED
      this.onunhandled = null; // (frame) => void, for MESSAGEs of unknown subscriptions
      this.connected = false;
      this.ws = null;
      this.nextId = 0;
      this.subscriptions = new Map();
      this.receipts = new Map();
      this.timers = [];
    }

    // Opens the WebSocket and sends CONNECT; resolves with the CONNECTED frame, rejects
    // with an Error (its `frame` is the ERROR frame when the server refused us).
    connect() {
      return new Promise((resolve, reject) => {
        let settled = false;
        const ws = new WebSocket(this.url, ["v12.stomp", "v11.stomp", "v10.stomp"]);
        ws.binaryType = "arraybuffer";
        this.ws = ws;
        this.decoder = new FrameDecoder();
        this.lastError = null;
        ws.onopen = () => {
          const headers = Object.assign(
            {
              "accept-version": "1.2,1.1,1.0",
              host: (typeof location !== "undefined" && location.hostname) || "localhost",
              "heart-beat": this.heartbeat.join(","),
            },
            this.connectHeaders
          );
          this.transmit("CONNECT", headers);
        };
        ws.onmessage = (event) => {
          this.lastReceived = Date.now();
          const chunk = typeof event.data === "string" ? encoder.encode(event.data) : new Uint8Array(event.data);
          let result;
          try {
            result = this.decoder.push(chunk);
          } catch (error) {
            this.debug("protocol error: " + error.message);
            ws.close(4000, "protocol error");
            return;
          }
          for (const frame of result.frames) {
            if (!settled && frame.command === "CONNECTED") {
              settled = true;
              this.connected = true;
              this.connectedFrame = frame;
              this.startHeartbeats(frame.headers["heart-beat"]);
              resolve(frame);
            } else if (!settled && frame.command === "ERROR") {
              settled = true;
              const error = new Error(frame.headers.message || frame.body || "connection refused");
              error.frame = frame;
              this.lastError = error;
              reject(error);
            } else {
              this.dispatch(frame);
            }
          }
        };
        ws.onclose = (event) => {
          const wasConnected = this.connected;
          this.connected = false;
          this.stopHeartbeats();
          for (const { reject: fail } of this.receipts.values()) fail(new Error("connection closed"));
          this.receipts.clear();
          this.subscriptions.clear();
          if (!settled) {
            settled = true;
            reject(new Error("connection closed before CONNECTED (" + event.code + ")"));
          }
          if (this.onclose) {
            this.onclose({ wasConnected, error: this.lastError, code: event.code, reason: event.reason });
          }
        };
      });
    }

    dispatch(frame) {
      switch (frame.command) {
        case "MESSAGE": {
          const sub = this.subscriptions.get(frame.headers.subscription);
          const callback = sub ? sub.callback : this.onunhandled;
          if (typeof callback !== "function") break;
          try {
            callback(frame);
          } catch (error) {
            // A failing callback must not stop the frames after it.
            console.error("subscription callback failed", error);
          }
          break;
        }
        case "RECEIPT": {
          const id = frame.headers["receipt-id"];
          const waiter = this.receipts.get(id);
          if (waiter) {
            this.receipts.delete(id);
            waiter.resolve(frame);
          }
          break;
        }
        case "ERROR": {
          const error = new Error(frame.headers.message || frame.body || "server error");
          error.frame = frame;
          this.lastError = error;
          const id = frame.headers["receipt-id"];
          if (id && this.receipts.has(id)) {
            this.receipts.get(id).reject(error);
            this.receipts.delete(id);
          }
          if (this.onerror) this.onerror(frame);
          break;
        }
        default:
          this.debug("unexpected frame " + frame.command);
      }
    }

    // Negotiates heart-beats per STOMP 1.1+: we send every max(cx, sy), the server promised
    // one every max(cy, sx); after twice that much silence the connection counts as dead.
    startHeartbeats(header) {
      const [sx, sy] = (header || "0,0").split(",").map((n) => parseInt(n, 10) || 0);
      const [cx, cy] = this.heartbeat;
      if (cx > 0 && sy > 0) {
        const every = Math.max(cx, sy);
        this.timers.push(setInterval(() => {
          if (Date.now() - this.lastSent >= every * 0.9 && this.ws.readyState === WebSocket.OPEN) {
            this.ws.send("\n");
            this.lastSent = Date.now();
          }
        }, every / 2));
      }
      if (cy > 0 && sx > 0) {
        const every = Math.max(cy, sx);
        this.timers.push(setInterval(() => {
          if (Date.now() - this.lastReceived > every * 2) {
            this.debug("no heart-beat from the server for " + (every * 2) + " ms");
            this.lastError = new Error("the server went silent (heart-beat timeout)");
            this.ws.close(4001, "heart-beat timeout");
          }
        }, every / 2));
      }
    }

    stopHeartbeats() {
      for (const timer of this.timers) clearInterval(timer);
      this.timers = [];
    }

    transmit(command, headers, body) {
      this.ws.send(encodeFrame(command, headers, body));
      this.lastSent = Date.now();
    }

    // Waits for the RECEIPT of a frame sent with `receipt: id`.
    awaitReceipt(id) {
      return new Promise((resolve, reject) => this.receipts.set(id, { resolve, reject }));
    }

    // Subscribes; returns { id, receipt (a promise), unsubscribe() }.
    subscribe(destination, callback, headers) {
      const id = "sub-" + this.nextId++;
      const receiptId = "r-" + id;
      this.subscriptions.set(id, { destination, callback });
      const receipt = this.awaitReceipt(receiptId);
      receipt.catch(() => {}); // a caller that does not wait must not see an unhandled rejection
      this.transmit("SUBSCRIBE", Object.assign({ id, destination, ack: "auto", receipt: receiptId }, headers || {}));
      return {
        id,
        receipt,
        unsubscribe: () => {
          if (!this.subscriptions.delete(id) || !this.connected) return;
          this.transmit("UNSUBSCRIBE", { id });
        },
      };
    }

    // Subscribes to a one-shot destination (a @SubscribeMapping): resolves with the single
    // reply, then unsubscribes.
    request(destination, timeoutMs) {
      return new Promise((resolve, reject) => {
        const sub = this.subscribe(destination, (frame) => {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(frame);
        });
        const timer = setTimeout(() => {
          sub.unsubscribe();
          reject(new Error("no reply from " + destination));
        }, timeoutMs || 10000);
        sub.receipt.catch((error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
    }

    send(destination, body, headers) {
      this.transmit("SEND", Object.assign({ destination }, headers || {}), body);
    }

    // Sends DISCONNECT and closes once the server confirmed it (or after a second).
    disconnect() {
      if (!this.ws) return Promise.resolve();
      const ws = this.ws;
      if (!this.connected) {
        ws.close();
        return Promise.resolve();
      }
      const receipt = this.awaitReceipt("disconnect");
      this.transmit("DISCONNECT", { receipt: "disconnect" });
      const timeout = new Promise((resolve) => setTimeout(resolve, 1000));
      return Promise.race([receipt, timeout]).catch(() => {}).then(() => ws.close(1000, "bye"));
    }
  }

  StompClient.FrameDecoder = FrameDecoder;
  StompClient.encodeFrame = encodeFrame;
  global.StompClient = StompClient;
})(typeof window !== "undefined" ? window : globalThis);

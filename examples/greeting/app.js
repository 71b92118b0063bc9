// The greeting page of Spring's STOMP guide, on stomp.js instead of @stomp/stompjs.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/gs-guide-websocket";
  let client = null;

  function setConnected(connected) {
    $("connect").disabled = connected;
    $("disconnect").disabled = !connected;
    $("send").disabled = !connected;
    $("conversation").hidden = !connected;
    $("status").dataset.state = connected ? "connected" : "disconnected";
    $("status").textContent = connected ? "connected" : "disconnected";
    if (!connected) $("greetings").replaceChildren();
  }

  function showGreeting(message) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    // The server escaped the name for HTML, as the guide does (its page appends the text as
    // HTML). Here the entities are decoded by an inert parser and shown with textContent, so
    // "<b>" reads as typed and nothing from the server is ever interpreted as markup.
    cell.textContent = new DOMParser().parseFromString(message, "text/html").documentElement.textContent;
    row.append(cell);
    $("greetings").append(row);
  }

  async function connect() {
    client = new StompClient(url);
    client.onclose = () => setConnected(false);
    try {
      await client.connect();
    } catch (error) {
      console.error("could not connect", error);
      return;
    }
    setConnected(true);
    client.subscribe("/topic/greetings", (frame) => showGreeting(JSON.parse(frame.body).content));
  }

  $("connect").addEventListener("click", connect);
  $("disconnect").addEventListener("click", () => client && client.disconnect());
  $("hello").addEventListener("submit", (event) => {
    event.preventDefault();
    client.send("/app/hello", JSON.stringify({ name: $("name").value }), { "content-type": "application/json" });
  });
})();

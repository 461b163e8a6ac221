"""The demo's one HTML page: a thread list and a "New chat" button.

Faithful to the incident, a failed request changes nothing on screen and logs
nothing from the page's own code: the failure is *silent*, so a monitor has to
catch it from the network (the browser itself may still report the failed
resource). Titles are inserted with textContent, never as HTML.

A Python string rather than a .html file, so it ships without package-data
configuration.
"""

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo chat</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #threads { padding-left: 1.2rem; }
</style>
</head>
<body>
<h1>Demo chat</h1>
<button type="button" id="new-chat">New chat</button>
<ul id="threads"></ul>
<script>
"use strict";
const list = document.getElementById("threads");

async function loadThreads() {
  const response = await fetch("/api/threads");
  if (!response.ok) return;  // silent on purpose: this is the incident
  const threads = await response.json();
  list.replaceChildren(...threads.map((thread) => {
    const item = document.createElement("li");
    item.className = "thread";
    item.textContent = thread.title;
    return item;
  }));
}

async function newChat() {
  const response = await fetch("/api/threads", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({title: "New chat"}),
  });
  if (!response.ok) return;  // silent on purpose: this is the incident
  await loadThreads();
}

document.getElementById("new-chat").addEventListener("click", () => {
  newChat().catch(() => {});
});
loadThreads().catch(() => {});
</script>
</body>
</html>
"""

// nongbot console: small helpers shared by the pages (no framework, no build step).
"use strict";
const nb = {
  csrf: () => document.querySelector('meta[name="csrf-token"]').content,
  // Call the JSON API with the session cookie; changes carry the CSRF header.
  async api(method, url, body) {
    const init = {method, headers: {"Accept": "application/json"}, credentials: "same-origin"};
    if (method !== "GET") init.headers["X-CSRF-Token"] = nb.csrf();
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return data;
  },
  // Run fn at most once per `ms` while the user types.
  debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  },
};
// <form data-confirm="确定吗？"> asks before submitting.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

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
// Phone first (docs/console-style.md): the menu folds behind 「菜单」 on narrow screens; every table
// scrolls inside its own box; table.cards rows become cards, each cell labelled by its column.
(() => {
  const toggle = document.querySelector(".menu-toggle");
  const menu = document.getElementById("side-menu");
  if (toggle && menu) {
    toggle.addEventListener("click", () => {
      const open = menu.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  const prepare = (root) => {
    for (const table of root.querySelectorAll("table")) {
      const parent = table.parentElement;
      if (parent && !parent.classList.contains("table-wrap") && !parent.classList.contains("scroll-x")) {
        const wrap = document.createElement("div");
        wrap.className = "table-wrap";
        parent.insertBefore(wrap, table);
        wrap.appendChild(table);
      }
      // A table wider than its box (a phone) turns into cards unless it asks to scroll (table.keep-table).
      const box = table.parentElement;
      // So does one whose text is squeezed to a few characters a line.
      const squeezed = () => Array.from(table.querySelectorAll("td")).some(
        (td) => td.clientWidth < 96 && td.textContent.trim().length > 6 && td.getClientRects().length
          && td.scrollHeight > 3 * (parseFloat(getComputedStyle(td).lineHeight) || 24));
      if (!table.classList.contains("keep-table") && !table.classList.contains("cards")
          && (box.scrollWidth > box.clientWidth + 1 || squeezed())) table.classList.add("cards");
      if (!table.classList.contains("cards")) continue;
      const heads = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
      for (const row of table.querySelectorAll("tbody tr")) {
        Array.from(row.children).forEach((cell, i) => {
          if (!cell.hasAttribute("data-label") && heads[i] && !cell.hasAttribute("colspan")) {
            cell.setAttribute("data-label", heads[i]);
          }
        });
      }
    }
  };
  // Charts wider than their box start scrolled to the right: the latest days first.
  for (const box of document.querySelectorAll(".chart-box")) box.scrollLeft = box.scrollWidth;
  nb.prepare = prepare;  // pages that draw rows later call nb.prepare(container)
  prepare(document);
  window.addEventListener("resize", nb.debounce(() => prepare(document), 200));
  // Rows added by a page's script (lists that refresh) get their labels too.
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (node.nodeType !== 1) continue;
        const table = node.closest("table.cards");
        if (table) prepare(table.parentElement.parentElement || document);
        else if (node.querySelector && node.querySelector("table")) prepare(node);
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
})();
// File fields: the browser writes its own "Choose File / No file chosen" in the browser's language; show a
// Chinese 「选择文件」 button and the chosen file's name instead (the field itself stays, out of sight).
document.querySelectorAll('input[type="file"]').forEach((input) => {
  const pick = document.createElement("label");
  pick.className = "button file-pick";
  pick.textContent = "选择文件";
  const name = document.createElement("span");
  name.className = "file-name";
  name.textContent = "还没选文件";
  input.classList.add("file-hidden");
  input.insertAdjacentElement("afterend", name);
  input.insertAdjacentElement("afterend", pick);
  pick.addEventListener("click", () => input.click());
  pick.tabIndex = 0;
  pick.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => {
    name.textContent = input.files.length ? Array.from(input.files, (f) => f.name).join("、") : "还没选文件";
  });
});

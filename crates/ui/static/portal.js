// Berth portal: progressive enhancement only. Every page works without this file.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = button.dataset.copy ? document.getElementById(button.dataset.copy) : null;
  const text = source ? source.textContent.trim() : button.dataset.copyText || "";
  if (!navigator.clipboard) return;
  navigator.clipboard.writeText(text).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
// The menu closes as menus do: on Escape (back to its button) and on a click elsewhere.
document.addEventListener("keydown", (event) => {
  const menu = document.querySelector("details.menu[open]");
  if (!menu || event.key !== "Escape") return;
  menu.open = false;
  menu.querySelector("summary").focus();
});
document.addEventListener("click", (event) => {
  const menu = document.querySelector("details.menu[open]");
  if (menu && !menu.contains(event.target)) menu.open = false;
});
// Phones show a table's rows as cards (display: block), after which some browsers stop telling
// screen readers that it is a table; explicit roles keep its rows, headers and cells announced.
for (const table of document.querySelectorAll(".table-wrap table")) {
  table.setAttribute("role", "table");
  for (const [selector, role] of [["thead, tbody", "rowgroup"], ["tr", "row"], ["th", "columnheader"], ["td", "cell"]]) {
    for (const element of table.querySelectorAll(selector)) element.setAttribute("role", role);
  }
}

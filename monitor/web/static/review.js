// filedrop-monitor: keyboard shortcuts of the review pages (batch.html, batches.html).
// The pages work without it: links and forms that post. Keys act only when nobody is typing
// in a field and no modifier (Ctrl, Alt, Meta) is held.
//
// Batch page: elements with data-key="j" (next batch to review), "k" (previous), "r", "f",
// "d" (the status buttons) are clicked by their key; "n" focuses the note; "?" shows the help.
// Batches list: j / k move a selection over the rows, x ticks the selected row, o opens it.
"use strict";

(function () {
  function typing(target) {
    if (!(target instanceof HTMLElement)) {
      return false;
    }
    const tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function batchPage(key) {
    const help = document.getElementById("key-help");
    if (key === "?" && help) {
      help.hidden = !help.hidden;
      if (!help.hidden) {
        help.scrollIntoView({ block: "nearest" });
      }
      return true;
    }
    if (key === "Escape" && help && !help.hidden) {
      help.hidden = true;
      return true;
    }
    if (key === "n") {
      const note = document.getElementById("note");
      if (note) {
        note.focus();
        return true;
      }
      return false;
    }
    const target = document.querySelector('[data-key="' + key + '"]');
    if (target instanceof HTMLElement) {
      target.click();
      return true;
    }
    return false;
  }

  function listPage(table, key) {
    const rows = Array.from(table.querySelectorAll("tbody tr[data-batch]"));
    if (rows.length === 0) {
      return false;
    }
    let at = rows.findIndex(function (row) { return row.classList.contains("selected"); });
    if (key === "j" || key === "k") {
      const next = at < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, at + (key === "j" ? 1 : -1)));
      select(rows, next);
      return true;
    }
    if (at < 0) {
      return false;
    }
    if (key === "x") {
      const box = rows[at].querySelector('input[type="checkbox"]');
      if (box instanceof HTMLInputElement) {
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
      return true;
    }
    if (key === "o" || key === "Enter") {
      const open = rows[at].querySelector("a[data-open]");
      if (open instanceof HTMLElement) {
        open.click();
        return true;
      }
    }
    return false;
  }

  function select(rows, index) {
    rows.forEach(function (row, i) {
      row.classList.toggle("selected", i === index);
      row.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    rows[index].scrollIntoView({ block: "nearest" });
  }

  const table = document.querySelector("table[data-selectable]");

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.isComposing) {
      return;
    }
    if (typing(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    const handled = table ? listPage(table, event.key) : batchPage(event.key);
    if (handled) {
      event.preventDefault();
    }
  });

  // Clicking a row selects it too, so j / k go on from there.
  if (table) {
    table.addEventListener("click", function (event) {
      const row = event.target instanceof Element ? event.target.closest("tr[data-batch]") : null;
      if (row) {
        const rows = Array.from(table.querySelectorAll("tbody tr[data-batch]"));
        select(rows, rows.indexOf(row));
      }
    });
    // The "tick every batch" box needs script, so it is shown only with it.
    const all = table.querySelector("input[data-check-all]");
    if (all instanceof HTMLInputElement) {
      all.hidden = false;
      all.addEventListener("change", function () {
        for (const box of table.querySelectorAll('tbody input[name="batch"]')) {
          box.checked = all.checked;
        }
      });
    }
  }
})();

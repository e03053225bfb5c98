// filedrop-monitor: behaviour shared by every page. Loaded as a file (the CSP allows no inline
// script); pages add their own files in the "scripts" block. Attach behaviour with
// addEventListener and data- attributes, never with onclick="..." attributes.
"use strict";

(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = meta ? meta.getAttribute("content") : "";

  // fetch() for this site's API: sends the session cookie and the CSRF token, wants JSON.
  async function api(path, options) {
    const opts = Object.assign({ method: "GET", credentials: "same-origin" }, options || {});
    const headers = new Headers(opts.headers || {});
    headers.set("Accept", "application/json");
    if (opts.method !== "GET" && opts.method !== "HEAD") {
      headers.set("X-CSRF-Token", csrfToken);
      if (opts.body !== undefined && typeof opts.body !== "string" && !(opts.body instanceof FormData)) {
        headers.set("Content-Type", "application/json");
        opts.body = JSON.stringify(opts.body);
      }
    }
    opts.headers = headers;
    const response = await fetch(path, opts);
    if (!response.ok) {
      throw new Error(response.status + " " + response.statusText);
    }
    const type = response.headers.get("Content-Type") || "";
    return type.startsWith("application/json") ? response.json() : response.text();
  }

  // <form data-confirm="Dismiss 12 batches?">: asks before submitting.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Mark the nav link of the current page.
  for (const link of document.querySelectorAll(".top nav a")) {
    if (link.getAttribute("href") === window.location.pathname) {
      link.setAttribute("aria-current", "page");
    }
  }

  window.monitor = Object.freeze({ api: api, csrfToken: csrfToken });
})();

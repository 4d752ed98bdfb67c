// ResolutionFlow web app: dialogs, Copy, Print, the composer's keys and shortcuts.
// No inline scripts anywhere (the Content-Security-Policy forbids them): everything is
// delegated from the document, so it keeps working after htmx swaps.
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-open]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.open);
      if (dialog && typeof dialog.showModal === "function") {
        dialog.showModal();
      }
      return;
    }
    const closer = event.target.closest("[data-close]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) dialog.close();
      return;
    }
    const copier = event.target.closest("[data-copy]");
    if (copier) {
      const source = document.getElementById(copier.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent).then(function () {
          copier.dataset.copied = "true";
          copier.setAttribute("aria-label", "Copied");
        });
      }
      return;
    }
    const answer = event.target.closest("[data-answer]");
    if (answer) {
      // Quote the question in the composer, so the answer says what it answers.
      const box = document.querySelector("#composer textarea");
      if (box) {
        const quoted = "> " + answer.dataset.answer + "\n";
        box.value = box.value ? box.value.replace(/\s*$/, "\n") + quoted : quoted;
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
      }
      return;
    }
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });

  document.addEventListener("keydown", function (event) {
    const composer = event.target.closest("#composer textarea");
    if (composer && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.form.requestSubmit();
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.form) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      const search = document.querySelector("[data-search], .filters input, .filters select");
      if (search) {
        event.preventDefault();
        search.focus();
      }
      return;
    }
    const link = document.querySelector('[data-key="' + event.key + '"]');
    if (link) {
      event.preventDefault();
      link.click();
    }
  });

  // A filter pill applies at once (the Apply button stays for the other filters).
  document.addEventListener("change", function (event) {
    const pill = event.target.closest(".pills input");
    if (pill && pill.form) pill.form.requestSubmit();
  });

  function toBottom() {
    const thread = document.getElementById("thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", toBottom);
  document.addEventListener("htmx:load", toBottom);

  document.addEventListener("message-sent", function () {
    const composer = document.getElementById("composer");
    if (composer) composer.reset();
  });

  document.addEventListener("htmx:afterSwap", toBottom);
  document.addEventListener("htmx:sseMessage", toBottom);
})();
